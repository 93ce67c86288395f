"""`pgdba capacity …`: table sizes."""

from __future__ import annotations

from typing import Annotated

import typer

from pgdba.capacity import table_forecast
from pgdba.cli.options import DsnOption, FormatOption, StoreOption, check_format, target_from
from pgdba.history.store import open_store
from pgdba.optimizer import capacity_tables
from pgdba.render import Column, print_rows
from pgdba.units import format_bytes

app = typer.Typer(help="Database and table sizes, growth and forecasts.", no_args_is_help=True)


@app.command()
def tables(
    dsn: DsnOption = None,
    fmt: FormatOption = "table",
    forecast_days: Annotated[
        int | None,
        typer.Option(
            "--forecast-days",
            help="Growth per day from history and each table's size in N days",
            min=1,
            max=3650,
        ),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Sizes of every table (heap, indexes, TOAST), rows and dead rows, largest first; with --forecast-days,
    growth from the history store's snapshots and the forecast size instead.

    Example: pgdba capacity tables --format markdown; pgdba capacity tables --forecast-days 30
    """
    fmt = check_format(fmt)
    if forecast_days is not None:
        _forecast(dsn, fmt, forecast_days, store)
        return
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
    partitioned = [row["name"] for row in rows if row["partitioned"]]
    shown = ", ".join(partitioned[:5]) + (f" and {len(partitioned) - 5} more" if len(partitioned) > 5 else "")
    notes = [f"{shown}: partitioned, sizes summed over the partitions (listed too)"] if partitioned else []
    print_rows(rows, columns, fmt, title=title, json_data=report, empty="no user tables", notes=notes)


def _forecast(dsn: str | None, fmt: str, days: int, store: str | None) -> None:
    target = target_from(dsn)
    with open_store(store) as history:
        report = table_forecast(target, history, days).to_dict()
    rows = [
        {
            "table": row["table"],
            "total": format_bytes(row["totalBytes"]),
            "per_day": "" if row["bytesPerDay"] is None else format_bytes(row["bytesPerDay"]),
            "forecast": "" if row["forecastBytes"] is None else format_bytes(row["forecastBytes"]),
        }
        for row in report["tables"]
    ]
    columns = [
        Column("table", "table"),
        Column("total", "total", "right"),
        Column("per_day", "growth/day", "right"),
        Column("forecast", f"in {days} days", "right"),
    ]
    since = report["historySince"] or "no snapshot yet: run `pgdba snapshot` daily"
    title = f"Table growth and {days}-day forecast (history since {since})"
    print_rows(
        rows, columns, fmt, title=title, json_data=report, empty="no user tables", notes=report["notes"]
    )
