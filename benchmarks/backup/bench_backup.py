"""Backup benchmark: `pgdba backup run` + `verify` + `restore-test` on a ~1 GB database, against plain
`pg_dump -Fc` to a file, in one run on a throwaway embedded cluster.

    .venv/bin/python benchmarks/backup/bench_backup.py --size-mb 1024 --rounds 2

Each round times plain pg_dump then pgdba's run (alternating, so neither always gets the warmer cache);
the best of the rounds is reported. The overhead is pgdba's run time over plain pg_dump's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from pgdba.backup import FileStorage, find_backup, restore_test, run_backup, verify_backup
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


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="pgdba-bench-backup-"))
    os.chmod(root, 0o755)
    cluster = EmbeddedCluster(root / "cluster")
    cluster.start()
    try:
        build_s, (dsn, db_bytes) = timed(lambda: build(cluster, args.size_mb))
        target = resolve_target(dsn, statement_timeout_ms=0)
        tools = find_pg_tools(cluster.major)
        conn_str, env = client_environment(target)
        plain_times, pgdba_times = [], []
        plain_size = 0
        storage = FileStorage(root / "store")
        for _ in range(args.rounds):
            out = root / "plain.pgdump"
            seconds, _ = timed(
                lambda out=out: subprocess.run(
                    [tools.pg_dump, "-Fc", f"--file={out}", f"--dbname={conn_str}"], env=env, check=True
                )
            )
            plain_times.append(seconds)
            plain_size = out.stat().st_size
            out.unlink()
            seconds, manifest = timed(lambda: run_backup(target, storage, tools=tools))
            pgdba_times.append(seconds)
        info = find_backup(storage, manifest.backup_id, None)
        verify_s, verified = timed(lambda: verify_backup(storage, info, tools=tools))
        assert verified.ok, verified.problems
        test_s, tested = timed(lambda: restore_test(storage, info, target, tools=tools))
        assert tested.passed, tested.to_dict()
        plain, ours = min(plain_times), min(pgdba_times)
        results = {
            "database_bytes": db_bytes,
            "build_s": round(build_s, 1),
            "plain_pg_dump_s": [round(t, 2) for t in plain_times],
            "pgdba_backup_run_s": [round(t, 2) for t in pgdba_times],
            "overhead_pct": round((ours - plain) / plain * 100, 1),
            "plain_archive_bytes": plain_size,
            "pgdba_archive_bytes": manifest.dump_size,
            "verify_s": round(verify_s, 2),
            "restore_test_s": round(test_s, 2),
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
