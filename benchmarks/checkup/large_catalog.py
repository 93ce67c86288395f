"""Benchmark: the check-up on a large catalog (schema-per-tenant: --schemas × 13 tables, 12 foreign keys and
25 indexes each), against two baselines measured in the same run.

1. JIT. pgdba's sessions set `jit = off`. The baseline is the same check-up with `jit = on`, PostgreSQL's
   default: on a large catalog the planner costs pgdba's catalog queries above `jit_above_cost`, and
   compiling them takes longer than running them.
2. The constraint-index lookup. Whether an index backs a constraint was a correlated
   `EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = …)`; pg_constraint has no index on conindid, so it
   read the whole catalog once per index. It is now one join. Both are timed alone over every index.

    .venv/bin/python benchmarks/checkup/large_catalog.py [--schemas 400] [--runs 3]

Starts (and removes) its own embedded PostgreSQL cluster.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg
from bench_database import bench_database

from pgdba.checkup import run_checkup
from pgdba.stats.indexes import CONSTRAINT_INDEXES_SQL
from pgdba.target import Target

TABLES_PER_SCHEMA = 12

CORRELATED_SQL = """
SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid))
  FROM pg_index AS i
"""
JOINED_SQL = f"""
SELECT count(*) FILTER (WHERE ci.conindid IS NOT NULL)
  FROM pg_index AS i
  LEFT JOIN {CONSTRAINT_INDEXES_SQL} AS ci ON ci.conindid = i.indexrelid
"""


def build(dsn: str, schemas: int) -> None:
    """Each schema: users (primary key, unique email) and TABLES_PER_SCHEMA tables with a foreign key to it,
    a primary key and one more index."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in range(schemas):
            statements = [
                f"CREATE SCHEMA t{s}",
                f"CREATE TABLE t{s}.users (id serial PRIMARY KEY, email text NOT NULL UNIQUE)",
            ]
            for k in range(TABLES_PER_SCHEMA):
                statements += [
                    f"CREATE TABLE t{s}.obj{k} (id bigserial PRIMARY KEY,"
                    f" user_id int NOT NULL REFERENCES t{s}.users (id), v text, n int)",
                    f"CREATE INDEX ON t{s}.obj{k} (n)",
                ]
            conn.execute(";".join(statements))
        conn.execute("ANALYZE")


def timed_checkup(target: Target) -> float:
    started = time.perf_counter()
    run_checkup(target)
    return time.perf_counter() - started


def timed_sql(dsn: str, query: str) -> tuple[float, int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET jit = off")
        started = time.perf_counter()
        row = conn.execute(query).fetchone()
        return time.perf_counter() - started, int(row[0]) if row else -1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schemas", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with bench_database("pgdba-bench-catalog-") as (_root, dsn):
        started = time.perf_counter()
        build(dsn, args.schemas)
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_stat_user_indexes),"
                " (SELECT count(*) FROM pg_constraint), current_setting('jit')"
            ).fetchone()
        assert row is not None
        print(
            f"built {args.schemas} schemas in {time.perf_counter() - started:.0f} s: {row[0]} relations, "
            f"{row[1]} user indexes, {row[2]} constraints; server jit = {row[3]}"
        )
        shipped, with_jit = Target(dsn), Target(dsn, extra_settings={"jit": "on"})
        timed_checkup(shipped)  # warm the caches once
        off, on = [], []
        for _ in range(args.runs):  # alternated, so a change of load hits both
            on.append(timed_checkup(with_jit))
            off.append(timed_checkup(shipped))
        med = statistics.median
        print(f"check-up, jit = on (PostgreSQL's default): median {med(on):.2f} s  runs {on}")
        print(f"check-up, jit = off (pgdba's sessions):     median {med(off):.2f} s  runs {off}")
        print(f"ratio jit on / off: {med(on) / med(off):.1f}x")
        correlated, n1 = timed_sql(dsn, CORRELATED_SQL)
        joined, n2 = timed_sql(dsn, JOINED_SQL)
        assert n1 == n2, (n1, n2)
        print(
            f"indexes backing a constraint ({n1}): correlated EXISTS {correlated:.3f} s, join {joined:.3f} s, "
            f"ratio {correlated / joined:.0f}x"
        )


if __name__ == "__main__":
    main()
