"""Backup benchmark: `pgdba backup run` + `verify` + `restore-test` on a ~1 GB database, against plain
`pg_dump -Fc` to a file, in one run on a throwaway embedded cluster.

    .venv/bin/python benchmarks/backup/bench_backup.py --size-mb 1024 --rounds 3

Whole commands are timed (start-up included). Each round times plain pg_dump then `pgdba backup run`
(alternating, so both see the same cache and machine drift), then the library call `run_backup` in this
process (no interpreter start-up: the dump's own overhead); overheads are the median of the per-round
ratios. Then `pgdba backup verify` and `pgdba restore-test` once, and `pgdba version` for the start-up.

With --large-objects N the database also holds N large objects of --lo-size-kb kB each (random bytes,
which pg_dump's compression cannot shrink), and each round also times the large-object digests alone
(the library functions run_backup calls before and after pg_dump, with its default limits), so their
share of the backup shows beside the plain pg_dump it wraps:

    .venv/bin/python benchmarks/backup/bench_backup.py --size-mb 64 --large-objects 1000 --lo-size-kb 64
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
from pgdba.backup.catalog import count_large_objects, large_object_digests, note_dump_end_digests
from pgdba.backup.dump import (
    DEFAULT_LARGE_OBJECT_DIGEST_BYTES,
    DEFAULT_LARGE_OBJECT_DIGEST_OBJECTS,
    client_environment,
)
from pgdba.backup.manifest import LargeObjectDigests
from pgdba.backup.tools import find_pg_tools
from pgdba.embedded import EmbeddedCluster
from pgdba.target import resolve_target

MIB = 1024 * 1024

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

# N large objects of random bytes (16 per uuid: 122 random bits, so zlib cannot shrink them); the subquery
# names the outer row so that it runs once per object (each object its own contents)
LARGE_OBJECTS_SQL = """
SELECT count(lo_from_bytea(0, (SELECT string_agg(uuid_send(gen_random_uuid()), ''::bytea)
                                 FROM generate_series(1, %(uuids)s) AS part
                                WHERE object.n IS NOT NULL)))
  FROM generate_series(1, %(objects)s) AS object(n)
"""

# pg_largeobject's heap and index blocks this backend has fetched (buffer hits included) and not yet
# flushed to the statistics (never inside a transaction): how much of the table a reading touched
LARGE_OBJECT_BLOCKS_SQL = """
SELECT pg_stat_get_xact_blocks_fetched('pg_largeobject'::regclass)
       + pg_stat_get_xact_blocks_fetched('pg_largeobject_loid_pn_index'::regclass)
"""

# one plain reading of the given objects, whole: the reference for LARGE_OBJECT_BLOCKS_SQL
READ_LARGE_OBJECTS_SQL = """
SELECT sum(length(lo_get(oid)))
  FROM unnest(%(oids)s::oid[]) AS oid
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


def add_large_objects(dsn: str, objects: int, size_kb: int) -> int:
    """Create the large objects; returns pg_database_size afterwards."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            LARGE_OBJECTS_SQL.replace("%(uuids)s", str(size_kb * 1024 // 16)).replace(
                "%(objects)s", str(objects)
            )
        )
        conn.execute("VACUUM ANALYZE pg_largeobject, pg_largeobject_metadata")
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    return int(row[0])


def timed_digests(dsn: str) -> tuple[float, float, LargeObjectDigests]:
    """Wall seconds of the digests run_backup takes before pg_dump (count + digests, autocommit as
    without --exact) and of its second reading after pg_dump, with its default limits."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        start = time.perf_counter()
        total = count_large_objects(conn)
        digests = large_object_digests(
            conn, total, DEFAULT_LARGE_OBJECT_DIGEST_OBJECTS, DEFAULT_LARGE_OBJECT_DIGEST_BYTES
        )
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        note_dump_end_digests(conn, digests)
        second_s = time.perf_counter() - start
    return first_s, second_s, digests


def digest_blocks(dsn: str) -> dict[str, int]:
    """pg_largeobject blocks fetched by one digest pass, against one plain lo_get of the same objects,
    in one transaction (no statistics flush in between, so the differences are exact): how many times a
    pass reads the objects."""

    def fetched(conn: psycopg.Connection) -> int:
        row = conn.execute(LARGE_OBJECT_BLOCKS_SQL).fetchone()
        assert row is not None
        return int(row[0])

    with psycopg.connect(dsn) as conn:
        total = count_large_objects(conn)  # opens the transaction: the digests then run in savepoints
        before = fetched(conn)
        digests = large_object_digests(
            conn, total, DEFAULT_LARGE_OBJECT_DIGEST_OBJECTS, DEFAULT_LARGE_OBJECT_DIGEST_BYTES
        )
        after_digests = fetched(conn)
        oids = [d.oid for d in digests.objects]
        row = conn.execute(READ_LARGE_OBJECTS_SQL, {"oids": oids}).fetchone()
        assert row is not None
        after_read = fetched(conn)
        conn.rollback()
    return {
        "digest_pass_blocks": after_digests - before,
        "plain_lo_get_blocks": after_read - after_digests,
        "plain_lo_get_bytes": int(row[0] or 0),
    }


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
    parser.add_argument("--large-objects", type=int, default=0, help="large objects to add (default none)")
    parser.add_argument("--lo-size-kb", type=int, default=64, help="size of each large object in kB")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="pgdba-bench-backup-"))
    os.chmod(root, 0o755)
    cluster = EmbeddedCluster(root / "cluster")
    cluster.start()
    pgdba = [sys.executable, "-m", "pgdba"]
    try:
        start = time.perf_counter()
        dsn, db_bytes = build(cluster, args.size_mb)
        if args.large_objects:
            db_bytes = add_large_objects(dsn, args.large_objects, args.lo_size_kb)
        build_s = time.perf_counter() - start
        tools = find_pg_tools(cluster.major)
        conn_str, env = client_environment(resolve_target(dsn))
        store = root / "store"
        env["PGDBA_HISTORY"] = str(root / "history.sqlite3")
        plain_times: list[float] = []
        pgdba_times: list[float] = []
        library_times: list[float] = []
        digest_times: list[tuple[float, float]] = []
        digests: LargeObjectDigests | None = None
        manifest_digests: LargeObjectDigests | None = None
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
            manifest = run_backup(target, FileStorage(store), tools=tools)
            library_times.append(time.perf_counter() - start)
            manifest_digests = manifest.large_object_digests
            if args.large_objects:
                first_s, second_s, digests = timed_digests(dsn)
                digest_times.append((first_s, second_s))
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
        if args.large_objects and digests is not None and manifest_digests is not None:
            digest_s = [a + b for a, b in digest_times]
            results["large_objects"] = {
                "objects": args.large_objects,
                "object_kb": args.lo_size_kb,
                "digest_before_dump_s": [round(a, 3) for a, _ in digest_times],
                "digest_after_dump_s": [round(b, 3) for _, b in digest_times],
                "digest_share_of_library_backup_pct_median": round(
                    statistics.median(d / t * 100 for d, t in zip(digest_s, library_times, strict=True)), 1
                ),
                "digest_share_of_cli_backup_pct_median": round(
                    statistics.median(d / t * 100 for d, t in zip(digest_s, pgdba_times, strict=True)), 1
                ),
                "digest_vs_plain_pg_dump_pct_median": round(
                    statistics.median(d / t * 100 for d, t in zip(digest_s, plain_times, strict=True)), 1
                ),
                "covered_objects": len(digests.objects),
                "covered_bytes": digests.covered_bytes,
                "digest_mib_per_s_best": round(2 * digests.covered_bytes / min(digest_s) / MIB, 1),
                "not_covered": digests.not_covered,
                "manifest": {
                    "total": manifest_digests.total,
                    "max_objects": manifest_digests.max_objects,
                    "max_bytes": manifest_digests.max_bytes,
                    "objects": len(manifest_digests.objects),
                    "covered_bytes": manifest_digests.covered_bytes,
                    "not_covered": manifest_digests.not_covered,
                    "read_at_dump_end": manifest_digests.read_at_dump_end,
                    "changed_at_dump_end": sum(
                        1
                        for d in manifest_digests.objects
                        if d.dump_end_size is not None or d.dump_end_missing
                    ),
                },
                **digest_blocks(dsn),
            }
        print(json.dumps(results, indent=2))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
