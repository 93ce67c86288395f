"""Benchmark: the query pages over 5,000 distinct ORM statements (a Prisma-style 40-column SELECT each),
against the way they read them before, measured in the same run.

pg_stat_statements keeps 5,000 statements by default, and an ORM fills them: one text per column list and
filter. `pgdba queries analyze`, the dashboard's queries page and the alert sampler read every one. Before,
each text went through PostgreSQL's scanner (to replace literals) and pglast's full parse tree (to tell the
application's statements from the rest); now a text that can hold no literal is not scanned, the
application is told from the parser's JSON tree, and only the statements whose numbers show an issue are
parsed in full. Timed over the same texts, in-process, alternated:

1. making the texts safe to show: the scanner for every text (baseline) against `normalised`;
2. telling the application's statements: the full parse of every one (baseline) against
   `StatementSet.is_application`;
3. the whole `analyze_queries` as shipped.

    .venv/bin/python benchmarks/checkup/orm_statements.py [--statements 5000] [--runs 3]

Starts (and removes) its own embedded PostgreSQL cluster.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import psycopg
from bench_database import bench_database

from pgdba.checks.queries import StatementSet
from pgdba.checks.statement_recommendations import parse_statement
from pgdba.optimizer import analyze_queries
from pgdba.server import load_server_facts
from pgdba.statement_text import normalised, scanned
from pgdba.stats.statements import statement_stats
from pgdba.target import Target, session

TABLES = 40
FIELDS = 60
SELECTED = 40
FILTERS = ('"ownerId" = %s', '"status" = %s', '"ownerId" = %s AND "status" = %s')


def build(dsn: str, statements: int) -> None:
    """TABLES Prisma-style tables ("Model0" …, 60 text fields) and `statements` distinct SELECTs over them,
    each run twice."""
    fields = ", ".join(f'"field{i}" text' for i in range(FIELDS))
    rng = random.Random(1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        for t in range(TABLES):
            conn.execute(
                f'CREATE TABLE "Model{t}" (id bigserial PRIMARY KEY, "ownerId" int, "status" text, '
                f'"createdAt" timestamptz DEFAULT now(), {fields});'
                f'INSERT INTO "Model{t}" ("ownerId", "status") '
                "SELECT g % 500, (ARRAY['a', 'b', 'c'])[g % 3 + 1] FROM generate_series(1, 2000) g"
            )
        conn.execute("ANALYZE")
        conn.execute("SELECT pg_stat_statements_reset()")
        for n in range(statements):
            t = n % TABLES
            chosen = ", ".join(f'"Model{t}"."field{i}"' for i in rng.sample(range(FIELDS), SELECTED))
            where = rng.choice(FILTERS)
            values: tuple[object, ...] = {1: (rng.randrange(500),), 2: (rng.randrange(500), "b")}[
                where.count("%s")
            ]
            if where.startswith('"status"'):
                values = ("a",)
            query = (
                f'SELECT "Model{t}"."id", {chosen} FROM "public"."Model{t}" WHERE {where} '
                'ORDER BY "createdAt" DESC LIMIT %s'
            )
            for _ in range(2):
                conn.execute(query, (*values, 20))


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with bench_database("pgdba-bench-orm-") as (_root, dsn):
        started = time.perf_counter()
        build(dsn, args.statements)
        target = Target(dsn)
        with session(target) as conn:
            stats = statement_stats(conn, load_server_facts(conn))
        with psycopg.connect(dsn) as conn:
            raw = [
                r[0]
                for r in conn.execute(
                    "SELECT query FROM pg_stat_statements WHERE query LIKE 'SELECT \"Model%'"
                )
            ]
        print(
            f"built in {time.perf_counter() - started:.0f} s: {len(stats)} statements read, {len(raw)} ORM "
            f"texts of {statistics.mean(len(q) for q in raw):.0f} characters on average"
        )
        assert [normalised(q) for q in raw] == [scanned(q) for q in raw]

        def parse_every_one() -> int:
            return sum(1 for s in stats if parse_statement(s.query) is not None)

        def tell_apart() -> int:
            pool = StatementSet(stats)
            return sum(1 for s in pool.stats if pool.is_application(s))

        rows: dict[str, list[float]] = {k: [] for k in ("scan", "normalised", "parse", "tell", "analyze")}
        analyze_queries(target)  # warm the caches once
        for _ in range(args.runs):  # alternated, so a change of load hits both
            rows["scan"].append(timed(lambda: [scanned(q) for q in raw]))
            rows["normalised"].append(timed(lambda: [normalised(q) for q in raw]))
            rows["parse"].append(timed(parse_every_one))
            rows["tell"].append(timed(tell_apart))
            rows["analyze"].append(timed(lambda: analyze_queries(target)))
        med = {k: statistics.median(v) for k, v in rows.items()}
        print(
            f"texts made safe to show: scanner {med['scan']:.2f} s, normalised {med['normalised']:.2f} s, "
            f"ratio {med['scan'] / med['normalised']:.1f}x"
        )
        print(
            f"application statements told apart: full parse {med['parse']:.2f} s, "
            f"is_application {med['tell']:.2f} s, ratio {med['parse'] / med['tell']:.1f}x"
        )
        print(f"analyze_queries as shipped: median {med['analyze']:.2f} s  runs {rows['analyze']}")


if __name__ == "__main__":
    main()
