"""The e-learning demo: does the advisor find every planted missing index, and nothing else?

Builds the demo database on a throwaway embedded cluster, replays its workload, advises from
pg_stat_statements, compares the advice with `pgdba.demo.planted`, creates the advised indexes and replays
the same workload (same seed) again.

    .venv/bin/python benchmarks/advisor/demo_planted.py [--scale 1.0] [--rounds 30] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from pgdba.advisor.advise import AdvisorOptions, advise_indexes
from pgdba.advisor.apply import apply_indexes
from pgdba.advisor.workload import queries_from_statements, table_writes_from_statements
from pgdba.demo.build import build_demo_database, create_demo_database
from pgdba.demo.main_job import reset_statement_stats, start_demo_cluster
from pgdba.demo.planted import PLANTED_DUPLICATE_INDEXES, PLANTED_MISSING_INDEXES, PLANTED_UNUSED_INDEXES
from pgdba.demo.workload import run_workload
from pgdba.server import load_server_facts


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pgdba-advisor-demo-"))
    os.chmod(root, 0o755)
    cluster, admin = start_demo_cluster(root)
    try:
        target = create_demo_database(admin, "elearning")
        build_demo_database(target, scale=args.scale)
        with target.connect(apply=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        before = run_workload(target, rounds=args.rounds)
        with target.connect() as conn:
            facts = load_server_facts(conn)
            workload = queries_from_statements(conn, facts)
            advice = advise_indexes(
                conn, facts, workload, AdvisorOptions(), writes=table_writes_from_statements(conn, facts)
            )
        advised = {
            (r.candidate.table, r.candidate.columns, r.candidate.where_column): r.candidate.label()
            for r in advice.recommendations
        }
        planted = {
            (m.table, m.columns, "isRead" if m.where else None): m.index_name for m in PLANTED_MISSING_INDEXES
        }
        planted_loose = {(t, c) for t, c, _ in planted}

        def match(planted_key: tuple[str, tuple[str, ...], str | None]) -> str:
            """How the advice covers one planted index: exact, wider (planted columns lead the advised
            index), narrower (the advised index is a left prefix of it) or missing."""
            table, columns, where = planted_key
            for key in advised:
                if key[0] != table:
                    continue
                if key[1] == columns and key[2] in (where, None):
                    return "exact"
                if key[1][: len(columns)] == columns:
                    return "wider"
                if columns[: len(key[1])] == key[1]:
                    return "narrower"
            return "missing"

        found = {name: match(key) for key, name in planted.items()}
        extra = [
            label
            for key, label in advised.items()
            if not any(t == key[0] and (c[:1] == key[1][:1]) for t, c in planted_loose)
        ]
        drops = {d.index.name: d.reason for d in advice.drops}
        expected_drops = {u.name for u in PLANTED_UNUSED_INDEXES} | {
            d.name for d in PLANTED_DUPLICATE_INDEXES
        }
        applied = apply_indexes(target, advice)
        reset_statement_stats(target)
        after = run_workload(target, rounds=args.rounds)
        report: dict[str, Any] = {
            "scale": args.scale,
            "rounds": args.rounds,
            "queries": advice.queries,
            "advisor_runtime_s": round(advice.runtime_s, 2),
            "whatif_calls": advice.whatif_calls,
            "relative_cost": round(advice.relative_cost, 4),
            "notes": advice.notes,
            "advised": sorted(advised.values()),
            "planted_found": found,
            "extra": extra,
            "drops": drops,
            "planted_drops_found": {name: name in drops for name in sorted(expected_drops)},
            "created": applied["created"],
            "failed": applied["failed"],
            "workload_before_s": round(before.elapsed_s, 2),
            "workload_after_s": round(after.elapsed_s, 2),
            "errors": [before.errors, after.errors],
        }
        text = json.dumps(report, indent=2)
        print(text)
        if args.out:
            args.out.write_text(text)
    finally:
        cluster.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
