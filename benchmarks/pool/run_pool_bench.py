"""Pool surge benchmark on a throwaway embedded cluster: advice, then the bounded surge test per pool size.

    .venv/bin/python benchmarks/pool/run_pool_bench.py [--max-connections 50] [--clients 100]
    .venv/bin/python benchmarks/pool/run_pool_bench.py --workload demo --scale 0.2

Writes benchmarks/pool/results/{advice,bench}-WORKLOAD-PATTERN.json and bench-WORKLOAD-PATTERN.svg and prints the Markdown table for
benchmarks/RESULTS.md. The cluster lives under /tmp and is destroyed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import psycopg

from pgdba.demo.build import build_demo_database, create_demo_database
from pgdba.embedded import EmbeddedCluster
from pgdba.pool import LoadTestConfig, advise_pool, surge_load_test
from pgdba.pool.chart import load_test_svg
from pgdba.pool.demo_workload import demo_workload
from pgdba.pool.workload import Workload, statements_from_file
from pgdba.render import Column, markdown_table, to_json
from pgdba.target import resolve_target

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-connections", type=int, default=50)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--pool-sizes", default="0,2,4,8,16,32")
    parser.add_argument("--pattern", default="surge")
    parser.add_argument("--workload", choices=("class-start", "demo"), default="class-start")
    parser.add_argument("--scale", type=float, default=0.2, help="demo database scale (--workload demo)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="pgdba-pool-bench-"))
    os.chmod(root, 0o755)
    cluster = EmbeddedCluster(root, settings={"max_connections": str(args.max_connections)})
    cluster.start()
    try:
        if args.workload == "demo":
            target = create_demo_database(resolve_target(cluster.dsn()), "elearning")
            build_demo_database(target, scale=args.scale)
            workload: Workload = demo_workload(target)
        else:
            with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
                conn.execute("CREATE DATABASE classroom")
            dsn = cluster.dsn("classroom")
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute((HERE / "class_start_schema.sql").read_text().encode())
                conn.execute("CREATE EXTENSION pg_stat_statements")
                conn.execute("SELECT pg_stat_statements_reset()")  # only the load test's statements count
            target = resolve_target(dsn)
            workload = statements_from_file(HERE / "class_start.sql")
        config = LoadTestConfig(
            pool_sizes=tuple(int(s) for s in args.pool_sizes.split(",")),
            clients=args.clients,
            requests=args.requests,
            pattern=args.pattern,
            time_limit_s=60,
            apply=True,
        )
        report = surge_load_test(target, workload, config)
        # advice after the runs, from what they measured: the in-database time per statement from
        # pg_stat_statements, and the statement rate while the load ran (all statements / run time)
        measured = advise_pool(target, instances=1).limits
        run_time = sum(r.duration_s for r in report.results)
        peak_rate = round(measured.calls / run_time) if run_time else None
        advice = advise_pool(target, instances=1, peak_calls_per_s=peak_rate)
    finally:
        cluster.destroy()

    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"bench-{args.workload}-{args.pattern}.json").write_text(to_json(report.to_dict()) + "\n")
    (out / f"advice-{args.workload}-{args.pattern}.json").write_text(to_json(advice.to_dict()) + "\n")
    (out / f"bench-{args.workload}-{args.pattern}.svg").write_text(load_test_svg(report))
    rows = [{**r.to_dict(), "size": "direct" if r.mode == "direct" else r.pool_size} for r in report.results]
    columns = [
        Column("size", "pool size", "right"),
        Column("throughput_per_s", "req/s", "right"),
        Column("p50_ms", "p50 ms", "right"),
        Column("p95_ms", "p95 ms", "right"),
        Column("p99_ms", "p99 ms", "right"),
        Column("wait_p99_ms", "wait p99 ms", "right"),
        Column("ok", "ok", "right"),
        Column("failed", "failed", "right"),
        Column("peak_server_connections", "peak conns", "right"),
    ]
    print(markdown_table(rows, columns))
    print()
    print(report.recommendation)
    for step in advice.advice.steps:
        print(f"- {step.rule}: {step.formula}")
    print(json.dumps({"machine": report.machine, "server": report.server}, default=str))


if __name__ == "__main__":
    main()
