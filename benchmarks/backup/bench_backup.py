"""Backup benchmark: `pgdba backup run` + `verify` + `restore-test` on a ~1 GB database, against plain
`pg_dump -Fc` to a file, in one run on a throwaway embedded cluster.

    .venv/bin/python benchmarks/backup/bench_backup.py --size-mb 1024 --rounds 3

Whole commands are timed (start-up included). Each round times plain pg_dump then `pgdba backup run`
(alternating, so both see the same cache and machine drift), then the library call `run_backup` in this
process (no interpreter start-up: the dump's own overhead); overheads are the median of the per-round
ratios. Then `pgdba backup verify` and `pgdba restore-test` once, and `pgdba version` for the start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from pgdba.backup import FileStorage, run_backup
from pgdba.backup.dump import client_environment
from pgdba.backup.tools import find_pg_tools
from pgdba.embedded import EmbeddedCluster
from pgdba.target import resolve_target

# ~190 bytes per row on disk with the primary key (measured): rows = size / 190
BUILD_SQL = """
CREATE TABLE behavior_log (
    id bigint PRIMARY KEY,
    user_id int NOT NULL,
    event text NOT NULL,
    payload text NOT NULL,
    at timestamptz NOT NULL
);
INSERT INTO behavior_log
SELECT g,
       (g::bigint * 7919) % 50000,
       (ARRAY['view', 'click', 'submit', 'quiz', 'video'])[1 + g % 5],
       md5(g::text) || md5((g * 31)::text),
       timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second'
  FROM generate_series(1, %(rows)s) AS g;
CREATE TABLE app_user AS
SELECT g AS id, 'user' || g || '@example.com' AS email
  FROM generate_series(1, 50000) AS g;
ALTER TABLE app_user ADD PRIMARY KEY (id);
"""


def build(cluster: EmbeddedCluster, size_mb: int) -> tuple[str, int]:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench")
    dsn = cluster.dsn("bench")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(BUILD_SQL.replace("%(rows)s", str(size_mb * 1024 * 1024 // 190)))
        conn.execute("VACUUM ANALYZE")
        row = conn.execute("SELECT pg_database_size('bench')").fetchone()
    assert row is not None
    return dsn, int(row[0])


def timed_command(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall seconds of a whole command (start-up included), and its stdout."""
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed ({out.returncode}): {out.stderr.strip()}")
    return seconds, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="pgdba-bench-backup-"))
    os.chmod(root, 0o755)
    cluster = EmbeddedCluster(root / "cluster")
    cluster.start()
    pgdba = [sys.executable, "-m", "pgdba"]
    try:
        start = time.perf_counter()
        dsn, db_bytes = build(cluster, args.size_mb)
        build_s = time.perf_counter() - start
        tools = find_pg_tools(cluster.major)
        conn_str, env = client_environment(resolve_target(dsn))
        store = root / "store"
        env["PGDBA_HISTORY"] = str(root / "history.sqlite3")
        plain_times: list[float] = []
        pgdba_times: list[float] = []
        library_times: list[float] = []
        target = resolve_target(dsn)
        plain_size = 0
        run: dict[str, object] = {}
        for _ in range(args.rounds):  # A B A B …: both see the same cache and the same machine drift
            out = root / "plain.pgdump"
            seconds, _ = timed_command([tools.pg_dump, "-Fc", f"--file={out}", f"--dbname={conn_str}"], env)
            plain_times.append(seconds)
            plain_size = out.stat().st_size
            out.unlink()
            seconds, stdout = timed_command(
                [*pgdba, "backup", "run", "--dsn", dsn, "--storage", str(store), "--format", "json"], env
            )
            pgdba_times.append(seconds)
            run = json.loads(stdout)
            start = time.perf_counter()
            run_backup(target, FileStorage(store), tools=tools)
            library_times.append(time.perf_counter() - start)
        verify_s, _ = timed_command(
            [*pgdba, "backup", "verify", "--storage", str(store), "--format", "json"], env
        )
        test_s, stdout = timed_command(
            [*pgdba, "restore-test", "--dsn", cluster.dsn(), "--storage", str(store), "--format", "json"], env
        )
        tested = json.loads(stdout)
        assert tested["passed"], tested
        ratios = sorted(p / b for p, b in zip(pgdba_times, plain_times, strict=True))
        library_ratios = sorted(p / b for p, b in zip(library_times, plain_times, strict=True))
        startup_s, _ = timed_command([*pgdba, "version"], env)
        results = {
            "database_bytes": db_bytes,
            "build_s": round(build_s, 1),
            "plain_pg_dump_s": [round(t, 2) for t in plain_times],
            "pgdba_backup_run_s": [round(t, 2) for t in pgdba_times],
            "overhead_pct_median_of_pairs": round((statistics.median(ratios) - 1) * 100, 1),
            "overhead_pct_best_vs_best": round((min(pgdba_times) / min(plain_times) - 1) * 100, 1),
            "library_run_backup_s": [round(t, 2) for t in library_times],
            "library_overhead_pct_median_of_pairs": round((statistics.median(library_ratios) - 1) * 100, 1),
            "cli_startup_s": round(startup_s, 2),
            "plain_archive_bytes": plain_size,
            "pgdba_archive_bytes": run["size"],
            "verify_s": round(verify_s, 2),
            "restore_test_s": round(test_s, 2),
            "restore_test_checks": {c["name"]: c["status"] for c in tested["checks"]},
            "pg_dump": tools.version,
            "cpus": os.cpu_count(),
        }
        print(json.dumps(results, indent=2))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
