"""Time the e-learning demo: build it, replay the workload, add the planted missing indexes, replay it again.

    .venv/bin/python benchmarks/demo/demo_build_and_workload.py [--scale 1.0] [--rounds 30] [--dsn ADMIN_DSN]

Without --dsn it starts a throwaway embedded cluster (destroyed at the end). Prints Markdown: the build's
steps and row counts, then each workload scenario before and after the planted missing indexes exist
(same seed, so the same traffic).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from pgdba.demo.build import build_demo_database, create_demo_database
from pgdba.demo.planted import PLANTED_MISSING_INDEXES
from pgdba.demo.workload import DEFAULT_ROUNDS, WorkloadResult, run_workload
from pgdba.embedded import EmbeddedCluster
from pgdba.target import Target, resolve_target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument(
        "--dsn", help="an admin DSN; the benchmark creates (and replaces) database demo_bench"
    )
    args = parser.parse_args()

    cluster = None
    if args.dsn:
        admin = resolve_target(args.dsn)
    else:
        root = Path(tempfile.mkdtemp(prefix="pgdba-demo-bench-"))
        os.chmod(root, 0o755)
        cluster = EmbeddedCluster(root)
        cluster.start()
        admin = resolve_target(cluster.dsn())
    try:
        run(admin, args.scale, args.rounds, args.workers)
    finally:
        if cluster is not None:
            cluster.destroy()


def run(admin: Target, scale: float, rounds: int, workers: int) -> None:
    load = os.getloadavg()[0]
    target = create_demo_database(admin, "demo_bench")
    build = build_demo_database(target, scale=scale)
    print(
        f"## Build at scale {scale}: {build.total_seconds:.1f} s, {build.total_rows:,} rows (load {load:.1f})\n"
    )
    print("| step | seconds | rows |\n|---|---:|---:|")
    for step, seconds in build.step_seconds.items():
        rows = build.row_counts.get(step.removeprefix("data "), "")
        print(f"| {step} | {seconds:.2f} | {rows:,} |" if rows != "" else f"| {step} | {seconds:.2f} | |")

    before = run_workload(target, rounds=rounds, workers=workers)
    started = time.perf_counter()
    with target.connect(apply=True) as conn:
        conn.execute("SET statement_timeout = 0")
        for missing in PLANTED_MISSING_INDEXES:
            conn.execute(missing.create_statement())
        conn.execute("ANALYZE")
    indexing = time.perf_counter() - started
    after = run_workload(target, rounds=rounds, workers=workers)
    print(f"\n## Workload: {rounds} rounds, {workers} workers, seed {before.seed}\n")
    print(f"before: {before.elapsed_s:.1f} s, {before.calls} calls, {before.statements} statements")
    print(f"planted indexes created in {indexing:.1f} s")
    print(f"after:  {after.elapsed_s:.1f} s, {after.calls} calls, {after.statements} statements\n")
    _compare(before, after)


def _compare(before: WorkloadResult, after: WorkloadResult) -> None:
    print("| scenario | calls | mean ms before | mean ms after | p95 ms before | p95 ms after |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, b in before.scenarios.items():
        a = after.scenarios.get(name)
        if a is None:
            continue
        print(f"| {name} | {b.calls} | {b.mean_ms:.1f} | {a.mean_ms:.1f} | {b.p95_ms:.1f} | {a.p95_ms:.1f} |")


if __name__ == "__main__":
    main()
