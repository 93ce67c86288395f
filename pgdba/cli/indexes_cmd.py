"""`pgdba indexes …`: usage and unused indexes."""

from __future__ import annotations

from typing import Annotated

import typer

from pgdba.cli.options import DsnOption, FormatOption, check_format, target_from
from pgdba.optimizer import index_usage, unused_index_report
from pgdba.render import Column, console, print_rows

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
    print_rows(rows, _COLUMNS, fmt, title="Index usage", json_data=report)
    if fmt == "table":
        console().print(f"[dim]{report['statsNote']}[/dim]")


@app.command()
def unused(
    dsn: DsnOption = None,
    fmt: FormatOption = "table",
    max_scans: Annotated[int, typer.Option(help="Report indexes scanned at most this many times", min=0)] = 0,
    min_size_mb: Annotated[float, typer.Option(help="Ignore indexes smaller than this", min=0)] = 0.0,
) -> None:
    """Indexes that are (almost) never scanned — never unique, primary-key or constraint indexes.

    Example: pgdba indexes unused --max-scans 50
    """
    fmt = check_format(fmt)
    report = unused_index_report(
        target_from(dsn), max_scans=max_scans, min_size_bytes=int(min_size_mb * 1024 * 1024)
    ).to_dict()
    rows = [
        {**row, "table": f"{row['schema']}.{row['table']}", "kind": row["sql"]} for row in report["indexes"]
    ]
    columns = [*_COLUMNS[:-1], Column("kind", "fix")]
    print_rows(rows, columns, fmt, title="Unused indexes", json_data=report, empty="no unused index")
    if fmt == "table":
        console().print(f"[dim]{report['statsNote']}[/dim]")
