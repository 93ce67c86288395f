"""Space page: table sizes now, the database's size over the stored snapshots, growth and forecast."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pgdba.api.capacity_routes import size_points
from pgdba.api.charts import bar_chart, line_chart
from pgdba.api.dashboard import Page, Panel, PanelData
from pgdba.api.dependencies import history_store
from pgdba.capacity import table_forecast
from pgdba.optimizer import capacity_tables
from pgdba.units import format_bytes

FORECAST_DAYS = 30


def _capacity(data: PanelData) -> dict[str, Any]:
    report = capacity_tables(data.target).to_dict()
    top = report["tables"][:15]
    chart = bar_chart(
        [(f"{t['schema']}.{t['table']}", t["totalBytes"], format_bytes(t["totalBytes"])) for t in top],
        title="Largest tables (total size)",
    )
    return {**report, "chart": chart}


def _growth(data: PanelData) -> dict[str, Any]:
    """The database's size in each snapshot, and the tables growing fastest with their 30-day forecast."""
    with history_store(data.settings) as store:
        history = size_points(store, data.target, None, 500)
        forecast = table_forecast(data.target, store, FORECAST_DAYS).to_dict()
    series = [
        (datetime.fromisoformat(p["takenAt"]).timestamp(), float(p["bytes"])) for p in history["points"]
    ]
    top = max((y for _, y in series), default=0.0)
    chart = line_chart(
        series, title="Database size over the stored snapshots", y_label=format_bytes(int(top))
    )
    measured = [t for t in forecast["tables"] if t["bytesPerDay"] is not None]
    growing = sorted(
        (t for t in measured if t["bytesPerDay"] > 0), key=lambda t: t["bytesPerDay"], reverse=True
    )
    return {
        "points": len(series),
        "chart": chart,
        "growing": growing[:15],
        "measured": len(measured),
        **forecast,
    }


PAGE = Page(
    "space",
    "Space",
    (
        Panel("tables", "Tables", "panels/capacity.html", _capacity),
        Panel("growth", "Growth and forecast", "panels/growth.html", _growth),
    ),
)
