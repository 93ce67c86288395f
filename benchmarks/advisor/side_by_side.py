"""Side by side on a small pgbench-style shop workload: pgdba vs pg_qualstats_index_advisor() vs a
Supabase-index_advisor-style baseline (per query, hypothetical single-column indexes on every eligible
column, keep those the plan uses).

For each tool's index set: estimated workload cost (HypoPG, generic plans, weighted by calls; for the shop
workload also with constants drawn as the workload draws them, since a generic plan cannot use a partial
index that the custom plans PostgreSQL runs do use), size after building, and the measured time of the
whole workload with real constants.

    apt-get install postgresql-15-pg-qualstats
    .venv/bin/python benchmarks/advisor/side_by_side.py [--customers 100000] [--orders 1000000]
    .venv/bin/python benchmarks/advisor/side_by_side.py --workload demo [--scale 1.0] [--rounds 10]
    .venv/bin/python benchmarks/advisor/side_by_side.py --workload search [--customers 300000]

The search workload is the lookups a user-facing application sends by text: a case-insensitive login
(`lower(email) = $1`), search-as-you-type prefixes (`LIKE 'ann%'`) and a "contains" search (`name ILIKE
'%ovak 12%'`, Prisma's `contains` with `mode: insensitive`), in a database whose collation is not "C"
(glibc's C.UTF-8 here, as en_US.UTF-8 or ICU would be in production), where a plain btree serves none of
them. pgdba's set includes its trigram (pg_trgm GIN) search indexes: they count in the measured time and
size, not in the estimated cost (HypoPG cannot create GIN indexes).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from pgdba.advisor.advise import AdvisorOptions, advise_indexes
from pgdba.advisor.whatif import explain_generic, plan_index_names
from pgdba.advisor.workload import WorkloadQuery, queries_from_statements, table_writes_from_statements
from pgdba.demo.build import build_demo_database, create_demo_database
from pgdba.demo.workload import run_workload as run_demo_workload
from pgdba.embedded import EmbeddedCluster
from pgdba.server import load_server_facts
from pgdba.target import resolve_target

SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL, country text NOT NULL, created_at date NOT NULL);
INSERT INTO customers
SELECT g, 'user' || g || '@example.com', (ARRAY['de', 'fr', 'us', 'uk', 'es'])[1 + g % 5],
       date '2020-01-01' + (g % 1500)
  FROM generate_series(1, {customers}) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, total numeric NOT NULL,
                     created_at timestamptz NOT NULL);
INSERT INTO orders
SELECT g, 1 + (g::bigint * 7919) % {customers}, (ARRAY['new', 'paid', 'shipped', 'done', 'done', 'done'])[1 + g % 6],
       (g * 31) % 1000, timestamptz '2024-01-01' + g * interval '20 seconds'
  FROM generate_series(1, {orders}) g
"""

# (SQL with %s placeholders, a function giving one set of real values)
WORKLOAD: list[tuple[str, Any]] = [
    (
        "SELECT * FROM customers WHERE email = %s",
        lambda r, n: [f"user{r.randint(1, n['customers'])}@example.com"],
    ),
    (
        "SELECT count(*) FROM orders WHERE total > %s AND status = %s",
        lambda r, n: [r.choice([980, 990]), "new"],
    ),
    (
        "SELECT * FROM orders WHERE customer_id = %s ORDER BY created_at DESC LIMIT 10",
        lambda r, n: [r.randint(1, n["customers"])],
    ),
    (
        "SELECT c.country, count(*) FROM customers c JOIN orders o ON o.customer_id = c.id "
        "WHERE c.created_at = %s GROUP BY c.country",
        lambda r, n: [f"2021-0{r.randint(1, 9)}-1{r.randint(0, 9)}"],
    ),
]
# (a database with a locale collation; emails written in mixed case, as users type them)
SEARCH_SCHEMA = """
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, name text NOT NULL, created_at date NOT NULL);
INSERT INTO users
SELECT g, 'User' || g || '@Example.com',
       (ARRAY['Anna', 'Ben', 'Carla', 'David', 'Eva', 'Frank', 'Greta', 'Hugo'])[1 + g % 8] || ' '
       || (ARRAY['Meyer', 'Schmidt', 'Novak', 'Rossi', 'Dubois', 'Smith'])[1 + g % 6] || ' ' || g,
       date '2020-01-01' + (g % 1500)
  FROM generate_series(1, {customers}) g
"""

SEARCH_WORKLOAD: list[tuple[str, Any]] = [
    (
        "SELECT id, name FROM users WHERE lower(email) = %s",
        lambda r, n: [f"user{r.randint(1, n['customers'])}@example.com"],
    ),
    (
        "SELECT id, email FROM users WHERE email LIKE %s LIMIT 20",
        lambda r, n: [f"User{r.randint(1, n['customers'] // 1000)}0%"],
    ),
    (
        "SELECT count(*) FROM users WHERE name LIKE %s",
        lambda r, n: [r.choice(["Anna M", "Ben S", "Eva R", "Hugo D"]) + "%"],
    ),
    (
        "SELECT id, email FROM users WHERE name ILIKE %s LIMIT 20",
        lambda r, n: [f"%{r.choice(['ovak', 'ossi', 'ubois'])} {r.randint(1, n['customers'] // 100)}%"],
    ),
]
CALLS = 30


def run_workload(
    dsn: str, sizes: dict[str, int], seed: int = 7, workload: list[tuple[str, Any]] = WORKLOAD
) -> float:
    """Execute every workload query CALLS times with real values; total seconds."""
    rng = random.Random(seed)
    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.monotonic()
        for _ in range(CALLS):
            for text, values in workload:
                conn.execute(text, values(rng, sizes)).fetchall()
        return time.monotonic() - started


def hypothetical(ddl: list[str]) -> list[str]:
    """The statements HypoPG can create: its btree indexes (not CREATE EXTENSION, not GIN)."""
    return [s for s in ddl if s.startswith("CREATE INDEX") and " USING gin " not in s]


def estimated_cost(
    conn: psycopg.Connection, version: int, workload: list[WorkloadQuery], ddl: list[str]
) -> float:
    conn.execute("SELECT hypopg_reset()")
    for statement in hypothetical(ddl):
        conn.execute("SELECT hypopg_create_index(%s)", (statement,))
    total = sum(
        q.calls * float(explain_generic(conn, version, q.sql, q.param_count)["Plan"]["Total Cost"])
        for q in workload
    )
    conn.execute("SELECT hypopg_reset()")
    return total


def estimated_cost_with_constants(
    conn: psycopg.Connection,
    sizes: dict[str, int],
    ddl: list[str],
    draws: int = 5,
    seed: int = 11,
    workload: list[tuple[str, Any]] = WORKLOAD,
) -> float:
    """The shop (or search) workload's cost with hypothetical `ddl`, each shape planned with `draws` sets
    of the constants the workload sends, averaged and weighted by CALLS."""
    rng = random.Random(seed)
    conn.execute("SELECT hypopg_reset()")
    for statement in hypothetical(ddl):
        conn.execute("SELECT hypopg_create_index(%s)", (statement,))
    cursor = psycopg.ClientCursor(conn)
    total = 0.0
    for text, values in workload:
        costs = []
        for _ in range(draws):
            literal = cursor.mogrify(text, values(rng, sizes))
            row = conn.execute(f"EXPLAIN (FORMAT JSON) {literal}").fetchone()
            assert row is not None
            costs.append(float(row[0][0]["Plan"]["Total Cost"]))
        total += CALLS * sum(costs) / draws
    conn.execute("SELECT hypopg_reset()")
    return total


def explainable(conn: psycopg.Connection, facts: Any, query: WorkloadQuery) -> bool:
    """Queries the planner cannot EXPLAIN generically are left out for every tool (as the advisor does)."""
    try:
        explain_generic(conn, facts.version_num, query.sql, query.param_count)
    except psycopg.Error:
        return False
    return True


def supabase_style(conn: psycopg.Connection, version: int, workload: list[WorkloadQuery]) -> list[str]:
    """Per query: hypothetical single-column btree on every eligible column not already indexed alone;
    keep the ones the generic plan uses (index_advisor 0.2.0's method)."""
    columns = conn.execute(
        """
        SELECT format('CREATE INDEX ON %I.%I USING btree (%I)', n.nspname, c.relname, a.attname)
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'm')
           AND n.nspname NOT IN ('pg_catalog', 'pg_toast', 'information_schema')
           AND a.attnum > 0 AND NOT a.attisdropped
           AND a.atttypid = ANY(ARRAY['int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'bool', 'date', 'time',
                                      'timestamp', 'timestamptz', 'text', 'char', 'varchar', 'bpchar', 'uuid']::regtype[])
           AND NOT EXISTS (SELECT 1 FROM pg_index i
                            WHERE i.indrelid = c.oid AND i.indnatts = 1 AND i.indkey[0] = a.attnum
                              AND i.indpred IS NULL AND i.indexprs IS NULL)
        """
    ).fetchall()
    chosen: set[str] = set()
    for query in workload:
        conn.execute("SELECT hypopg_reset()")
        names: dict[str, str] = {}
        for (statement,) in columns:
            row = conn.execute("SELECT indexname FROM hypopg_create_index(%s)", (statement,)).fetchone()
            assert row is not None
            names[row[0]] = statement
        used = plan_index_names(explain_generic(conn, version, query.sql, query.param_count))
        chosen |= {names[n] for n in used if n in names}
    conn.execute("SELECT hypopg_reset()")
    return sorted(chosen)


def build_and_measure(dsn: str, ddl: list[str], runner: Any) -> tuple[float, float]:
    """Create the indexes, time the workload, drop them; (seconds, MB)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        before = {r[0] for r in conn.execute("SELECT indexrelid::regclass::text FROM pg_index").fetchall()}
        for statement in ddl:
            conn.execute(statement)
        conn.execute("ANALYZE")
        new = [
            r[0]
            for r in conn.execute("SELECT indexrelid::regclass::text FROM pg_index").fetchall()
            if r[0] not in before
        ]
        size_row = conn.execute(
            "SELECT coalesce(sum(pg_relation_size(i::regclass)), 0) FROM unnest(%s::text[]) i", (new,)
        ).fetchone()
    runner()  # warm
    seconds = runner()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in new:
            conn.execute(f"DROP INDEX {name}")
        conn.execute("ANALYZE")
    return seconds, float(size_row[0] if size_row else 0) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workload", choices=("shop", "demo", "search"), default="shop")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--scale", type=float, default=1.0, help="demo scale")
    parser.add_argument("--rounds", type=int, default=10, help="demo workload rounds per run")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sizes = {"customers": args.customers, "orders": args.orders}
    root = Path(tempfile.mkdtemp(prefix="pgdba-side-by-side-"))
    os.chmod(root, 0o755)
    settings = {"max_connections": "40", "shared_buffers": "'512MB'", "pg_qualstats.sample_rate": "1"}
    cluster = EmbeddedCluster(root, settings=settings, preload=["pg_qualstats"])
    cluster.start()
    try:
        if args.workload == "demo":
            demo_target = create_demo_database(resolve_target(cluster.dsn(), {}), "elearning")
            build_demo_database(demo_target, scale=args.scale)
            admin = cluster.dsn("elearning")

            def runner() -> float:
                return run_demo_workload(demo_target, rounds=args.rounds).elapsed_s
        elif args.workload == "search":
            with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
                conn.execute(
                    "CREATE DATABASE search TEMPLATE template0 ENCODING 'UTF8'"
                    " LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
                )
            admin = cluster.dsn("search")

            def runner() -> float:
                return run_workload(admin, sizes, workload=SEARCH_WORKLOAD)
        else:
            admin = cluster.dsn()

            def runner() -> float:
                return run_workload(admin, sizes)

        with psycopg.connect(admin, autocommit=True) as conn:
            for extension in ("pg_stat_statements", "hypopg", "pg_qualstats"):
                conn.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
            if args.workload in ("shop", "search"):
                schema = SCHEMA if args.workload == "shop" else SEARCH_SCHEMA
                for statement in schema.format(**sizes).split(";"):
                    conn.execute(statement)
                conn.execute("VACUUM ANALYZE")
            conn.execute("SELECT pg_stat_statements_reset(), pg_qualstats_reset()")
        runner()  # warm-up, as for every tool below
        baseline_s = runner()
        target = resolve_target(admin, statement_timeout_ms=0)
        results: dict[str, Any] = {
            "workload": args.workload,
            "scale": args.scale if args.workload == "demo" else None,
            "sizes": sizes if args.workload != "demo" else None,
            "calls_per_query": CALLS,
            "no_index_s": baseline_s,
            "tools": {},
        }
        with target.connect() as conn:
            facts = load_server_facts(conn)
            workload = [
                q for q in queries_from_statements(conn, facts, min_calls=2) if explainable(conn, facts, q)
            ]
            started = time.monotonic()
            writes = table_writes_from_statements(conn, facts)
            advice = advise_indexes(conn, facts, workload, AdvisorOptions(drops=False), writes=writes)
            pgdba_s = time.monotonic() - started
            sets = {"pgdba": [r.candidate.sql_text(None, concurrently=False) for r in advice.recommendations]}
            for search in advice.search_indexes:  # (not costed: HypoPG cannot create GIN indexes)
                create = search.extension.create_statement()
                sets["pgdba"] += [create] if create else []
                sets["pgdba"].append(search.ddl(concurrently=False).as_string(None))
            row = conn.execute(
                "SELECT pg_qualstats_index_advisor(min_filter => 1000, min_selectivity => 30)"
            ).fetchone()
            qualstats = row[0] if row else {}
            sets["pg_qualstats"] = list((qualstats or {}).get("indexes") or [])
            sets["supabase-style"] = supabase_style(conn, facts.version_num, workload)
            no_index_cost = estimated_cost(conn, facts.version_num, workload, [])
            drawn = {"shop": WORKLOAD, "search": SEARCH_WORKLOAD}.get(args.workload)
            no_index_literal = (
                estimated_cost_with_constants(conn, sizes, [], workload=drawn) if drawn else 0.0
            )
            for tool, ddl in sets.items():
                results["tools"][tool] = {
                    "indexes": ddl,
                    "relative_cost": estimated_cost(conn, facts.version_num, workload, ddl) / no_index_cost,
                }
                if drawn:
                    results["tools"][tool]["relative_cost_constants"] = (
                        estimated_cost_with_constants(conn, sizes, ddl, workload=drawn) / no_index_literal
                    )
        results["tools"]["pgdba"]["advisor_s"] = pgdba_s
        results["tools"]["pgdba"]["notes"] = advice.notes
        for tool, ddl in sets.items():
            seconds, megabytes = build_and_measure(admin, ddl, runner)
            results["tools"][tool].update({"workload_s": seconds, "size_mb": megabytes})
            print(tool, json.dumps(results["tools"][tool]), flush=True)
        print(json.dumps(results, indent=2))
        if args.out:
            args.out.write_text(json.dumps(results, indent=2))
    finally:
        cluster.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
