"""`pgdba snapshot`: store the current statistics in the history store."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from pgdba.cli.options import DsnOption, FormatOption, StoreOption, check_format, target_from
from pgdba.history.snapshot import take_snapshot
from pgdba.history.store import open_store
from pgdba.render import print_json
from pgdba.server import load_server_facts
from pgdba.target import session

KeepDaysOption = Annotated[
    int,
    typer.Option(
        "--keep-days",
        help="Retention: delete snapshots and records older than this many days (0 = keep all)",
        min=0,
        max=36_500,
    ),
]


def snapshot(
    dsn: DsnOption = None,
    store: StoreOption = None,
    fmt: FormatOption = "table",
    keep_days: KeepDaysOption = 90,
) -> None:
    """Store statement, table, index and database statistics with a timestamp, for deltas, growth and trends.

    Example: pgdba snapshot --store ~/pgdba-history.sqlite3 --keep-days 30
    """
    fmt = check_format(fmt)
    target = target_from(dsn)
    with open_store(store) as history, session(target) as conn:
        summary = take_snapshot(conn, load_server_facts(conn), history, target.key)
        pruned = history.prune(timedelta(days=keep_days)) if keep_days else 0
    if fmt == "json":
        print_json(
            {
                "schema_version": 1,
                "target": summary.target,
                "taken_at": summary.taken_at,
                "kinds": summary.kinds,
                "pruned": pruned,
            }
        )
    else:
        kinds = (
            ", ".join(f"{n} {kind}" for kind, n in summary.kinds.items())
            or "nothing (pg_stat_statements not ready)"
        )
        print(f"snapshot of {summary.target} at {summary.taken_at:%Y-%m-%d %H:%M:%S} UTC: {kinds}")
        if pruned:
            print(f"pruned {pruned} entries older than {keep_days} days")
