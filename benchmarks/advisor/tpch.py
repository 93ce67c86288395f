"""TPC-H benchmark of the index advisor: relative estimated workload cost at storage budgets.

Set-up as in the reference run: tables loaded without primary keys or secondary indexes, queries 2, 17 and
20 left out of the advised workload and of the cost sum. Budgets are measured as the reference measured them
(sum of hypopg_relation_size of the chosen indexes). Optionally builds the chosen indexes for real (real
size) and times all 22 queries before/after with a per-query timeout.

    benchmarks/advisor/setup.sh            # benchmark venv: tpchgen-cli, duckdb + tpch extension
    .venv/bin/python benchmarks/advisor/tpch.py --scale 1 --budgets 250,500,1000 [--build] [--measure]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from pgdba.advisor.advise import STATIC_FILLFACTOR, AdvisorOptions, advise_indexes
from pgdba.advisor.workload import WorkloadQuery
from pgdba.embedded import EmbeddedCluster
from pgdba.server import load_server_facts
from pgdba.target import resolve_target

HERE = Path(__file__).resolve().parent
EXCLUDED = (2, 17, 20)
TABLES = {
    "region": "r_regionkey int not null, r_name char(25) not null, r_comment varchar(152)",
    "nation": "n_nationkey int not null, n_name char(25) not null, n_regionkey int not null, n_comment varchar(152)",
    "part": (
        "p_partkey int not null, p_name varchar(55) not null, p_mfgr char(25) not null, p_brand char(10) not null,"
        " p_type varchar(25) not null, p_size int not null, p_container char(10) not null,"
        " p_retailprice decimal(15,2) not null, p_comment varchar(23) not null"
    ),
    "supplier": (
        "s_suppkey int not null, s_name char(25) not null, s_address varchar(40) not null, s_nationkey int not null,"
        " s_phone char(15) not null, s_acctbal decimal(15,2) not null, s_comment varchar(101) not null"
    ),
    "partsupp": (
        "ps_partkey int not null, ps_suppkey int not null, ps_availqty int not null,"
        " ps_supplycost decimal(15,2) not null, ps_comment varchar(199) not null"
    ),
    "customer": (
        "c_custkey int not null, c_name varchar(25) not null, c_address varchar(40) not null,"
        " c_nationkey int not null, c_phone char(15) not null, c_acctbal decimal(15,2) not null,"
        " c_mktsegment char(10) not null, c_comment varchar(117) not null"
    ),
    "orders": (
        "o_orderkey int not null, o_custkey int not null, o_orderstatus char(1) not null,"
        " o_totalprice decimal(15,2) not null, o_orderdate date not null, o_orderpriority char(15) not null,"
        " o_clerk char(15) not null, o_shippriority int not null, o_comment varchar(79) not null"
    ),
    "lineitem": (
        "l_orderkey int not null, l_partkey int not null, l_suppkey int not null, l_linenumber int not null,"
        " l_quantity decimal(15,2) not null, l_extendedprice decimal(15,2) not null,"
        " l_discount decimal(15,2) not null, l_tax decimal(15,2) not null, l_returnflag char(1) not null,"
        " l_linestatus char(1) not null, l_shipdate date not null, l_commitdate date not null,"
        " l_receiptdate date not null, l_shipinstruct char(25) not null, l_shipmode char(10) not null,"
        " l_comment varchar(44) not null"
    ),
}


def bench_venv() -> Path:
    out = subprocess.run([str(HERE / "setup.sh")], check=True, capture_output=True, text=True).stdout
    return Path(out.strip().splitlines()[-1])


def generate(work: Path, scale: float, venv: Path) -> Path:
    data = work / f"sf{scale:g}"
    if not (data / "lineitem.tbl").exists():
        data.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(venv / "bin" / "tpchgen-cli"), "-s", f"{scale:g}", "-o", str(data)], check=True)
    os.chmod(work, 0o755)
    os.chmod(data, 0o755)
    for file in data.iterdir():
        os.chmod(file, 0o644)
    return data


def queries(venv: Path) -> dict[int, str]:
    out = subprocess.run(
        [str(venv / "bin" / "python"), str(HERE / "tpch_queries.py")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {int(k): v.strip().rstrip(";") for k, v in json.loads(out).items()}


def load(dsn: str, data: Path) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        done = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'lineitem'").fetchone()
        if done and done[0]:
            # loaded by an earlier run; a crash since then lost the statistics (and the ANALYZE times)
            unanalysed = conn.execute(
                "SELECT count(*) FROM pg_stat_user_tables"
                " WHERE coalesce(last_analyze, last_autoanalyze) IS NULL"
            ).fetchone()
            if unanalysed and unanalysed[0]:
                conn.execute("VACUUM ANALYZE")
            return
        conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        for table, columns in TABLES.items():
            conn.execute(f"CREATE TABLE {table} ({columns})")
            # the .tbl lines end with '|': strip it on the server side
            source = str(data / f"{table}.tbl").replace("'", "''")
            conn.execute(
                f"COPY {table} FROM PROGRAM 'sed ''s/|$//'' {source}' WITH (FORMAT csv, DELIMITER '|')"
            )
        # publish the load's row counts before ANALYZE (PostgreSQL 15 flushes them at most once a second),
        # so the tables read as unchanged since their last ANALYZE, as after any finished bulk load
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("VACUUM ANALYZE")


def run_budgets(
    dsn: str,
    workload: list[WorkloadQuery],
    budgets: list[float],
    min_improvement: float,
    width: int,
    static_fillfactor: int = STATIC_FILLFACTOR,
) -> list[dict[str, Any]]:
    results = []
    target = resolve_target(dsn, statement_timeout_ms=0)
    for budget in budgets:
        with target.connect() as conn:
            facts = load_server_facts(conn)
            options = AdvisorOptions(
                budget_mb=budget,
                size_model="hypopg",
                min_improvement_pct=min_improvement,
                drops=False,
                max_width=width,
                static_fillfactor=static_fillfactor,
            )
            advice = advise_indexes(conn, facts, workload, options)
        results.append(
            {
                "budget_mb": budget,
                "relative_cost": advice.relative_cost,
                "cost_before": advice.cost_before,
                "cost_after": advice.cost_after,
                "hypopg_mb": (advice.hypopg_used_bytes or 0) / 2**20,
                "estimated_mb": advice.used_bytes / 2**20,
                "runtime_s": advice.runtime_s,
                "whatif_calls": advice.whatif_calls,
                "cache_hits": advice.cache_hits,
                "indexes": [r.candidate.label() for r in advice.recommendations],
                "ddl": [r.candidate.sql_text(None, concurrently=False) for r in advice.recommendations],
                "names": [r.candidate.name() for r in advice.recommendations],
                "skipped": advice.skipped,
            }
        )
        print(json.dumps({k: v for k, v in results[-1].items() if k != "ddl"}, default=str), flush=True)
    return results


def time_queries(dsn: str, texts: dict[int, str], timeout_s: int) -> dict[int, float | None]:
    """Wall time of each query (None = timed out)."""
    times: dict[int, float | None] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = '{timeout_s}s'")
        for number, text in sorted(texts.items()):
            started = time.monotonic()
            try:
                for statement in text.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                times[number] = time.monotonic() - started
            except psycopg.errors.QueryCanceled:
                times[number] = None
            print(f"  Q{number}: {times[number]}", flush=True)
    return times


def build(dsn: str, result: dict[str, Any]) -> float:
    """Create the chosen indexes for real; returns their total size in MB."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        for ddl in result["ddl"]:
            conn.execute(ddl)
        conn.execute("ANALYZE")
        row = conn.execute(
            "SELECT coalesce(sum(pg_relation_size(indexrelid)), 0) FROM pg_stat_user_indexes WHERE indexrelname = ANY(%s)",
            (result["names"],),
        ).fetchone()
        return float(row[0]) / 2**20 if row else 0.0


def drop_built(dsn: str, result: dict[str, Any]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in result["names"]:
            conn.execute(f'DROP INDEX IF EXISTS "{name}"')


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/pgdba-bench-tpch"))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--budgets", default="250,500,1000")
    parser.add_argument("--min-improvement", type=float, default=0.1)
    parser.add_argument(
        "--build", action="store_true", help="build the chosen indexes and report their real size"
    )
    parser.add_argument(
        "--measure", action="store_true", help="time all 22 queries before/after (needs --build)"
    )
    parser.add_argument("--timeout", type=int, default=60)
    parser.add_argument("--max-width", type=int, default=2, help="2 as in the reference platform")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument(
        "--static-fillfactor",
        default=str(STATIC_FILLFACTOR),
        help="the advisor's fillfactor for tables nothing writes (90: PostgreSQL's default); a comma list"
        " advises once per value on each statistics sample, the first value's last run is the result",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=1,
        help="advise on N statistics samples: the present one, then after each of N-1 fresh ANALYZEs",
    )
    args = parser.parse_args()
    try:
        fillfactors = [int(v) for v in args.static_fillfactor.split(",")]
    except ValueError:
        parser.error("--static-fillfactor takes integers, comma-separated")

    args.work_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(args.work_dir, 0o755)
    venv = bench_venv()
    data = generate(args.work_dir, args.scale, venv)
    texts = queries(venv)
    cluster = EmbeddedCluster(
        args.work_dir / "cluster", settings={"shared_buffers": "'512MB'", "max_connections": "20"}
    )
    cluster.start()
    try:
        dsn = cluster.dsn()
        load(dsn, data)
        workload = [WorkloadQuery(texts[n]) for n in sorted(texts) if n not in EXCLUDED]
        budgets = [float(b) for b in args.budgets.split(",")]
        results: list[dict[str, Any]] = []
        for sample in range(args.samples):
            if sample:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute("ANALYZE")
            for fillfactor in reversed(fillfactors):
                results = run_budgets(
                    dsn, workload, budgets, args.min_improvement, args.max_width, fillfactor
                )
                shares = [round(r["relative_cost"] * 100, 2) for r in results]
                print(f"sample {sample + 1}, static fillfactor {fillfactor}: {shares} %", flush=True)
        report: dict[str, Any] = {"scale": args.scale, "budgets": results}
        if args.measure:
            print("timing the 22 queries without indexes", flush=True)
            report["before_s"] = time_queries(dsn, texts, args.timeout)
        if args.build or args.measure:
            for result in results:
                result["real_mb"] = build(dsn, result)
                print(f"built {result['budget_mb']} MB set: {result['real_mb']:.1f} MB real", flush=True)
                if args.measure:
                    result["after_s"] = time_queries(dsn, texts, args.timeout)
                drop_built(dsn, result)
        if args.out:
            args.out.write_text(json.dumps(report, indent=2, default=str))
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
