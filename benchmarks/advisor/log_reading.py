"""Reading a server log as the advisor's workload (`advise indexes --queries FILE`), against reading it one
parse per statement run with the file held whole (how pgdba read a log before 2026-12-02; the baseline,
measured in the same run).

A log of every statement (log_min_duration_statement = 0) runs the same few statements over and over:
pgdba counts each text's runs as it reads the lines and parses one text per query shape, so its time is
the reading of the lines and its memory the distinct texts. The log is generated: an ORM's two
parameterised statements over the extended protocol (with their `DETAIL: parameters` lines), a query with
literal values over the simple protocol (a new text each run), and checkpoint lines. Each way runs in a
process of its own; the figures are its wall time and its peak resident memory.

    .venv/bin/python benchmarks/advisor/log_reading.py [--lines 200000] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ORM_STATEMENTS = (
    'SELECT "public"."Job"."id", "public"."Job"."status"::text, "public"."Job"."queue", "public"."Job"."runAt" '
    'FROM "public"."Job" WHERE ("public"."Job"."status" = CAST($1::text AS "public"."JobStatus") AND '
    '"public"."Job"."runAt" <= $2) ORDER BY "public"."Job"."runAt" ASC LIMIT $3 OFFSET $4',
    'SELECT "public"."Job"."id" FROM "public"."Job" WHERE "public"."Job"."userId" = $1 '
    'ORDER BY "public"."Job"."runAt" DESC LIMIT $2 OFFSET $3',
)


def write_log(path: Path, lines: int, seed: int = 1) -> None:
    """A stderr log (Debian's log_line_prefix) of about `lines` lines: 6 runs in 10 of the ORM statements
    (each with its DETAIL line), 3 of a literal query, 1 checkpoint line."""
    rng = random.Random(seed)
    with path.open("w") as out:
        for n in range(int(lines / 1.6)):
            prefix = f"2026-12-01 10:{n // 6000 % 60:02d}:{n // 100 % 60:02d}.{n % 1000:03d} UTC [{1000 + n % 50}] app@shop "
            kind = n % 10
            if kind < 6:
                out.write(
                    f"{prefix}LOG:  duration: {rng.random() * 50:.3f} ms  execute s{n % 2}: {ORM_STATEMENTS[n % 2]}\n"
                )
                values = (
                    "$1 = 'PENDING', $2 = '2026-12-02 00:00:00', $3 = '10', $4 = '0'"
                    if n % 2 == 0
                    else f"$1 = '{rng.randint(0, 9999)}', $2 = '20', $3 = '0'"
                )
                out.write(f"{prefix}DETAIL:  parameters: {values}\n")
            elif kind < 9:
                out.write(
                    f'{prefix}LOG:  duration: {rng.random() * 5:.3f} ms  statement: SELECT id, queue FROM "Job" '
                    f"WHERE \"userId\" = {rng.randint(0, 9999)} AND queue = 'q{rng.randint(0, 4)}'\n"
                )
            else:
                out.write(
                    f"{prefix}LOG:  checkpoint complete: wrote 12 buffers (0.1%); 0 WAL file(s) added\n"
                )


def read_as_pgdba(path: Path) -> tuple[int, int]:
    from pgdba.advisor.workload import queries_from_file

    queries = queries_from_file(path, "shop")
    return len(queries), sum(q.calls for q in queries)


def read_one_parse_per_run(path: Path) -> tuple[int, int]:
    """The baseline: the file read whole, every statement run parsed (is_advisable), then merged."""
    from pgdba.advisor.server_log import logged_statements
    from pgdba.advisor.workload import WorkloadQuery, is_advisable, merge_by_fingerprint
    from pgdba.text_files import read_text_file

    text = read_text_file(path, "--queries file")
    logged = list(logged_statements(text.splitlines(), "stderr", str(path)))
    runs = [
        WorkloadQuery(s.sql, 1, s.duration_ms, role=s.user) for s in logged if s.database in (None, "shop")
    ]
    queries = merge_by_fingerprint([q for q in runs if is_advisable(q.sql)])
    return len(queries), sum(q.calls for q in queries)


WAYS = {"pgdba": read_as_pgdba, "one parse per run": read_one_parse_per_run}


def measure(way: str, path: Path) -> dict[str, float]:
    """One way in a process of its own: its wall time and peak resident memory."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, __file__, "--run", way, "--log", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.monotonic() - started
    queries, calls = (int(v) for v in done.stdout.split())
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest child so far, MB
    return {"wall_s": wall, "peak_mb": peak, "queries": queries, "calls": calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--run", choices=sorted(WAYS), help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(*WAYS[args.run](args.log))
        return
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "postgresql.log"
        write_log(log, args.lines)
        size_mb = log.stat().st_size / 2**20
        # the smaller first: ru_maxrss of the children is the largest so far
        results = {way: measure(way, log) for way in ("pgdba", "one parse per run")}
    baseline = results["one parse per run"]
    print(f"log: {args.lines:,} lines, {size_mb:.1f} MB")
    for way, figures in results.items():
        print(
            f"{way:>18}: {figures['wall_s']:7.2f} s, peak {figures['peak_mb']:6.0f} MB, "
            f"{figures['queries']:.0f} queries of {figures['calls']:,.0f} runs"
        )
    pgdba = results["pgdba"]
    print(
        f"pgdba / one parse per run: time {pgdba['wall_s'] / baseline['wall_s']:.3f}, "
        f"peak memory {pgdba['peak_mb'] / baseline['peak_mb']:.3f}"
    )
    if args.out:
        args.out.write_text(
            json.dumps({"lines": args.lines, "size_mb": size_mb, "results": results}, indent=2)
        )


if __name__ == "__main__":
    main()
