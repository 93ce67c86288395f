"""`pgdba capacity …`: table sizes."""

from __future__ import annotations

import typer

from pgdba.cli.options import DsnOption, FormatOption, check_format, target_from
from pgdba.optimizer import capacity_tables
from pgdba.render import Column, print_rows
from pgdba.units import format_bytes

app = typer.Typer(help="Database and table sizes, growth and forecasts.", no_args_is_help=True)


@app.command()
def tables(dsn: DsnOption = None, fmt: FormatOption = "table") -> None:
    """Sizes of every table (heap, indexes, TOAST), rows and dead rows, largest first.

    Example: pgdba capacity tables --format markdown
    """
    fmt = check_format(fmt)
    report = capacity_tables(target_from(dsn)).to_dict()
    rows = [
        {
            **row,
            "name": f"{row['schema']}.{row['table']}",
            "total": format_bytes(row["totalBytes"]),
            "heap": format_bytes(row["tableBytes"]),
            "idx": format_bytes(row["indexBytes"]),
            "toast": format_bytes(row["toastBytes"]),
        }
        for row in report["tables"]
    ]
    columns = [
        Column("name", "table"),
        Column("total", "total", "right"),
        Column("heap", "table", "right"),
        Column("idx", "indexes", "right"),
        Column("toast", "toast", "right"),
        Column("rows", "rows", "right"),
        Column("deadRows", "dead rows", "right"),
    ]
    title = f"Tables (database: {format_bytes(report['databaseSizeBytes'])})"
    print_rows(rows, columns, fmt, title=title, json_data=report, empty="no user tables")
