"""The advisor on a behaviour log partitioned by day (365 partitions), against the same rows by month (12).

HypoPG costs an index on a partitioned table with one hypothetical index per leaf partition, and its
planning time grows with the square of their number: tables of more than 100 partitions are costed only
with --max-partitions. This builds both tables (the same 1,000,000 rows) in a throwaway embedded cluster,
advises the same two queries on each with max_partitions=400, and prints each run's time, what-if plans and
advice, and the ratio daily / monthly (the baseline, measured in the same run).

    .venv/bin/python benchmarks/advisor/many_partitions.py [--rows 1000000] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pgdba.advisor.advise import AdvisorOptions, advise_indexes
from pgdba.advisor.workload import WorkloadQuery
from pgdba.demo.build import create_demo_database
from pgdba.demo.main_job import start_demo_cluster
from pgdba.server import load_server_facts
from pgdba.target import Target

QUERIES = (
    "SELECT * FROM {table} WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20",
    "SELECT count(*) FROM {table} WHERE course_id = $1 AND created_at >= $2 AND created_at < $3",
)


def build(target: Target, table: str, step: str, count: int, rows: int) -> None:
    """`table` partitioned by `step` ('1 day' or '1 month'), `count` partitions from 2026-01-01, `rows`
    rows spread over the year."""
    with target.connect(apply=True) as conn:
        conn.execute(
            f"CREATE TABLE {table} (id bigint, user_id int NOT NULL, course_id int NOT NULL, action text,"
            " created_at timestamptz NOT NULL) PARTITION BY RANGE (created_at)"
        )
        for n in range(count):
            conn.execute(
                f"CREATE TABLE {table}_{n} PARTITION OF {table} FOR VALUES"
                f" FROM (timestamptz '2026-01-01' + {n} * interval '{step}')"
                f" TO (timestamptz '2026-01-01' + {n + 1} * interval '{step}')"
            )
        conn.execute(
            f"INSERT INTO {table} SELECT g, g % 20000, g % 300, 'view',"
            f" timestamptz '2026-01-01' + g * (interval '364 days' / {rows})"
            f" FROM generate_series(1, {rows}) g"
        )
        conn.execute(f"ANALYZE {table}")


def advise(target: Target, table: str) -> dict[str, Any]:
    with target.connect() as conn:
        facts = load_server_facts(conn)
        started = time.monotonic()
        advice = advise_indexes(
            conn,
            facts,
            [WorkloadQuery(q.format(table=table)) for q in QUERIES],
            AdvisorOptions(max_partitions=400, drops=False),
        )
        seconds = time.monotonic() - started
    return {
        "table": table,
        "seconds": round(seconds, 2),
        "whatif_calls": advice.whatif_calls,
        "relative_cost": round(advice.relative_cost, 4),
        "indexes": [r.candidate.label() for r in advice.recommendations],
        "notes": [n for n in advice.notes if "not costed" in n],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pgdba-advisor-partitions-"))
    os.chmod(root, 0o755)
    cluster, admin = start_demo_cluster(root)
    try:
        target = create_demo_database(admin, "partitions")
        with target.connect(apply=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        build(target, "log_daily", "1 day", 365, args.rows)
        build(target, "log_monthly", "1 month", 12, args.rows)
        monthly = advise(target, "log_monthly")
        daily = advise(target, "log_daily")
    finally:
        cluster.stop()
    result = {
        "rows": args.rows,
        "monthly": monthly,
        "daily": daily,
        "ratio_daily_to_monthly": round(daily["seconds"] / monthly["seconds"], 1),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0 if daily["indexes"] and not daily["notes"] else 1


if __name__ == "__main__":
    sys.exit(main())
