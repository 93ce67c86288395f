"""How long an alert check and a /metrics collection take against a real database.

Usage: .venv/bin/python benchmarks/alerts/alerts_collection.py --dsn DSN [--runs 10]
Prints the median / min / max of `check_alerts` (collect + evaluate + store, the library call behind
`pgdba alerts check`) and of an uncached and a cached PgdbaCollector.collect().
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pgdba.alerts.check import check_alerts
from pgdba.alerts.rules import load_rules
from pgdba.api.metrics import PgdbaCollector
from pgdba.history.store import HistoryStore
from pgdba.target import resolve_target


def timed(run: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        out.append((time.perf_counter() - started) * 1000)
    return out


def line(name: str, ms: list[float]) -> str:
    return f"{name}: median {statistics.median(ms):.1f} ms, min {min(ms):.1f} ms, max {max(ms):.1f} ms ({len(ms)} runs)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    target = resolve_target(args.dsn)
    rules = load_rules()
    with tempfile.TemporaryDirectory() as tmp, HistoryStore(Path(tmp) / "history.sqlite3") as store:
        checks = timed(lambda: check_alerts(target, store, rules), args.runs)
        statuses = len(check_alerts(target, store, rules).statuses)
    uncached = PgdbaCollector(target, cache_seconds=0)
    cold = timed(lambda: list(uncached.collect()), args.runs)
    cached = PgdbaCollector(target, cache_seconds=3600)
    list(cached.collect())
    warm = timed(lambda: list(cached.collect()), args.runs * 10)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}; {statuses} alert statuses per check")
    print(line("check_alerts", checks))
    print(line("/metrics collect, uncached", cold))
    print(line("/metrics collect, cached", [ms * 1000 for ms in warm]).replace(" ms", " µs"))


if __name__ == "__main__":
    main()
