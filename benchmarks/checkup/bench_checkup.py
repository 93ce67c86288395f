"""Benchmark: `pgdba check` on a database with 1,000 tables, 3,000 indexes and 5,000 distinct statements.

Measures the wall time of the whole command (a fresh `pgdba check` process), the wall time of the check-up
in-process (run_checkup + health_score), and the time the server spent executing pgdba's own queries
(pg_stat_statements total_exec_time of the role pgdba runs as). The check-up runs as a pg_monitor role so
its statements are counted apart from the set-up's.

    .venv/bin/python benchmarks/checkup/bench_checkup.py [--tables 1000] [--runs 5]

Starts (and removes) its own embedded PostgreSQL cluster.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid

import psycopg
from bench_database import bench_database
from psycopg import conninfo

from pgdba.checkup import run_checkup
from pgdba.report.score import health_score
from pgdba.target import resolve_target

SHAPES = (
    ("SELECT id, a FROM {t} WHERE id = %s", (1,)),
    ("SELECT id FROM {t} WHERE a = %s ORDER BY id LIMIT 10", (1,)),
    ("SELECT count(*) FROM {t} WHERE b = %s", ("v1",)),
    ("SELECT a, count(*) FROM {t} GROUP BY a", None),
    ("UPDATE {t} SET a = a + 1 WHERE id = %s", (1,)),
)


def build(dsn: str, tables: int) -> None:
    """tables × (PK + 2 indexes) and len(SHAPES) distinct statements per table; half the tables have an FK."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(tables):
            ref = f", parent_id int REFERENCES t{i - 1} (id)" if i % 2 and i > 0 else ""
            conn.execute(
                f"CREATE TABLE t{i} (id int PRIMARY KEY, a int, b text, c timestamptz DEFAULT now(){ref});"
                f"CREATE INDEX t{i}_a ON t{i} (a);"
                f"CREATE INDEX t{i}_b_c ON t{i} (b, c);"
                f"INSERT INTO t{i} (id, a, b) SELECT g, g % 7, 'v' || g FROM generate_series(1, 20) g"
            )
        conn.execute("ANALYZE")
        conn.execute("SELECT pg_stat_statements_reset()")
        for i in range(tables):
            for shape, params in SHAPES:
                conn.execute(shape.format(t=f"t{i}"), params)


def monitor_dsn(dsn: str, role: str, password: str) -> str:
    params = conninfo.conninfo_to_dict(dsn)
    params.update(user=role, password=password)
    params.pop("passfile", None)
    return conninfo.make_conninfo(**params)  # type: ignore[arg-type]


def server_ms(admin_dsn: str, role: str) -> float:
    with psycopg.connect(admin_dsn) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(s.total_exec_time + s.total_plan_time), 0)"
            "  FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid"
            " WHERE r.rolname = %s AND s.toplevel",
            (role,),
        ).fetchone()
    return float(row[0]) if row else 0.0


def reset(admin_dsn: str, role: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_stat_statements_reset((SELECT oid FROM pg_roles WHERE rolname = %s))", (role,)
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with bench_database("pgdba-bench-checkup-", {"pg_stat_statements.track_planning": "on"}) as (root, dsn):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        started = time.perf_counter()
        build(dsn, args.tables)
        print(f"built {args.tables} tables in {time.perf_counter() - started:.1f} s")
        role, password = "pgdba_bench", uuid.uuid4().hex
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE pg_monitor")
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM pg_stat_user_tables),"
                "       (SELECT count(*) FROM pg_stat_user_indexes),"
                "       (SELECT count(*) FROM pg_stat_statements"
                "         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'bench'))"
            ).fetchone()
        print(f"tables={counts[0]} indexes={counts[1]} statements={counts[2]}")  # type: ignore[index]
        mon = monitor_dsn(dsn, role, password)
        admin = dsn  # pg_stat_statements lives in the bench database
        env = {**os.environ, "PGDBA_HISTORY": str(root / "history.sqlite3")}
        cli_wall, lib_wall, cli_server, lib_server = [], [], [], []
        for _ in range(args.runs):
            reset(admin, role)
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "pgdba", "check", "--dsn", mon, "--format", "json"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            cli_wall.append(time.perf_counter() - t0)
            assert proc.returncode in (0, 1), proc.stderr
            cli_server.append(server_ms(admin, role) / 1000)
            reset(admin, role)
            t0 = time.perf_counter()
            result = run_checkup(resolve_target(mon))
            health_score(result)
            lib_wall.append(time.perf_counter() - t0)
            lib_server.append(server_ms(admin, role) / 1000)
        su_wall, su_server = [], []
        for _ in range(args.runs):  # as the superuser: the bloat checks read pg_stats too
            reset(admin, "postgres")
            t0 = time.perf_counter()
            su_result = run_checkup(resolve_target(dsn))
            health_score(su_result)
            su_wall.append(time.perf_counter() - t0)
            su_server.append(server_ms(admin, "postgres") / 1000)
        startup = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pgdba", "version"], capture_output=True, check=True)
            startup.append(time.perf_counter() - t0)
        med = statistics.median
        print(f"findings={len(result.report.findings)} skipped={[s.check for s in result.report.skipped]}")
        print(f"pgdba check (process) wall median {med(cli_wall):.2f} s (min {min(cli_wall):.2f})")
        print(f"run_checkup (in-process) wall median {med(lib_wall):.2f} s (min {min(lib_wall):.2f})")
        print(
            f"server time in pgdba's queries median {med(lib_server):.2f} s (process runs: {med(cli_server):.2f} s)"
        )
        print(f"pgdba version (interpreter + imports only) median {med(startup):.2f} s")
        print(f"ratio process wall / server {med(cli_wall) / med(cli_server):.2f}x")
        print(f"ratio in-process wall / server {med(lib_wall) / med(lib_server):.2f}x")
        print(
            f"superuser run_checkup wall median {med(su_wall):.2f} s, server {med(su_server):.2f} s, "
            f"ratio {med(su_wall) / med(su_server):.2f}x, skipped {[s.check for s in su_result.report.skipped]}"
        )


if __name__ == "__main__":
    main()
