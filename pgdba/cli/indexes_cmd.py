"""`pgdba indexes …`: usage and unused indexes."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from pgdba.checks.indexes import MAX_STATS_AGE_DAYS, MIN_STATS_AGE
from pgdba.cli.options import (
    DsnOption,
    FormatOption,
    StoreOption,
    check_format,
    finite,
    store_if_openable,
    target_from,
)
from pgdba.errors import NotAvailable
from pgdba.optimizer import index_usage, unused_index_report
from pgdba.render import Column, print_rows

app = typer.Typer(
    help="Index usage, unused, duplicate, invalid and missing-FK indexes.", no_args_is_help=True
)

_COLUMNS = [
    Column("table", "table"),
    Column("index", "index"),
    Column("scans", "scans", "right"),
    Column("sizeBytes", "size bytes", "right"),
    Column("kind", "kind"),
]


def _kind(row: dict[str, object]) -> str:
    return (
        "primary"
        if row["primary"]
        else "unique"
        if row["unique"]
        else "constraint"
        if row["constraint"]
        else ""
    )


@app.command()
def usage(dsn: DsnOption = None, fmt: FormatOption = "table") -> None:
    """Every index with its scans and size, least used first.

    Example: pgdba indexes usage --format json
    """
    fmt = check_format(fmt)
    report = index_usage(target_from(dsn)).to_dict()
    rows = [
        {**row, "table": f"{row['schema']}.{row['table']}", "kind": _kind(row)} for row in report["indexes"]
    ]
    print_rows(rows, _COLUMNS, fmt, title="Index usage", json_data=report, notes=[report["statsNote"]])


@app.command()
def unused(
    dsn: DsnOption = None,
    fmt: FormatOption = "table",
    max_scans: Annotated[int, typer.Option(help="Report indexes scanned at most this many times", min=0)] = 0,
    min_size_mb: Annotated[
        float, typer.Option(parser=finite(min=0), help="Ignore indexes smaller than this (MB)")
    ] = 0.0,
    store: StoreOption = None,
    min_stats_age_days: Annotated[
        float,
        typer.Option(
            parser=finite(min=0, max=MAX_STATS_AGE_DAYS),
            help="Judge only counters that have counted at least this many days (since the statistics reset, "
            "or the server's last crash or initdb)",
        ),
    ] = MIN_STATS_AGE.days,
) -> None:
    """Indexes that are (almost) never scanned — never unique, primary-key or constraint indexes. Indexes
    created after the history store's week-old index snapshot are listed as not judged yet. Nothing is
    judged (exit 2, saying why) on a replica, or on counters younger than --min-stats-age-days.

    Example: pgdba indexes unused --max-scans 50
    """
    fmt = check_format(fmt)
    target = target_from(dsn)
    min_size_bytes = int(min_size_mb * 1024 * 1024)
    with store_if_openable(store) as (history, unopened):
        report = unused_index_report(
            target,
            max_scans=max_scans,
            min_size_bytes=min_size_bytes,
            store=history,
            min_stats_age=timedelta(days=min_stats_age_days),
        ).to_dict()
    if report["notJudgedReason"] is not None:
        raise NotAvailable(report["notJudgedReason"])
    if unopened:  # judged by the counters alone
        report["notes"].append(f"{unopened}: indexes created in the last week cannot be told apart")
    rows = [
        {**row, "table": f"{row['schema']}.{row['table']}", "kind": row["sql"]} for row in report["indexes"]
    ]
    columns = [*_COLUMNS[:-1], Column("kind", "fix")]
    print_rows(
        rows,
        columns,
        fmt,
        title="Unused indexes",
        json_data=report,
        empty="no unused index",
        notes=report["notes"],
    )


@app.command()
def duplicate(dsn: DsnOption = None, fmt: FormatOption = "table") -> None:
    """Duplicate and prefix-covered indexes (same method, same predicate); never the unique one.

    Example: pgdba indexes duplicate --format json
    """
    from pgdba.cli.check_cmd import print_selected_checks

    print_selected_checks(
        dsn, fmt, {"index.duplicate"}, "Duplicate and redundant indexes", required={"index.duplicate"}
    )


@app.command()
def invalid(dsn: DsnOption = None, fmt: FormatOption = "table") -> None:
    """Indexes left invalid by a failed CREATE INDEX CONCURRENTLY.

    Example: pgdba indexes invalid
    """
    from pgdba.cli.check_cmd import print_selected_checks

    print_selected_checks(dsn, fmt, {"index.invalid"}, "Invalid indexes", required={"index.invalid"})


@app.command("missing-fk")
def missing_fk(
    dsn: DsnOption = None,
    fmt: FormatOption = "table",
    min_rows: Annotated[
        int, typer.Option(help="Only referencing tables with at least this many rows", min=0)
    ] = 10_000,
) -> None:
    """Foreign keys without an index on the referencing columns, on tables large enough to matter.

    Example: pgdba indexes missing-fk --min-rows 1000
    """
    from pgdba.cli.check_cmd import print_selected_checks

    print_selected_checks(
        dsn,
        fmt,
        {"index.missing_fk"},
        "Foreign keys without an index",
        {"index.missing_fk": {"min_rows": min_rows}},
        required={"index.missing_fk"},
    )
