"""Queries page: top statements by total and mean time, N+1 lookups, each statement's history chart."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pgdba.api.charts import line_chart
from pgdba.api.dashboard import Page, Panel, PanelData
from pgdba.api.dependencies import history_store
from pgdba.api.queries_routes import application_top, query_history, statement_rows
from pgdba.api.query_text import normalised
from pgdba.history.snapshot import STATEMENTS
from pgdba.stats.statements import StatementStats

TOP = 15


def _top_queries(data: PanelData) -> dict[str, Any]:
    recs = data.analyze()["recommendations"]
    return {
        "by_total": sorted(recs, key=lambda r: r["metrics"]["totalTime"], reverse=True)[:15],
        "by_mean": sorted(recs, key=lambda r: r["metrics"]["meanTime"], reverse=True)[:15],
        "analyzed": data.analyze()["analyzed"],
        "window": data.analyze()["window"],
    }


def _n_plus_one(data: PanelData) -> dict[str, Any]:
    recs = data.analyze()["recommendations"]
    return {"rows": [r for r in recs if any(i["type"] == "n_plus_one" for i in r["issues"])]}


def _top_statements(data: PanelData) -> dict[str, Any]:
    read = data.statements()  # read once for the page: both orders and the issues panel
    return {
        "by_total": statement_rows(read.statements, "total", TOP, read.functions),
        "by_mean": statement_rows(read.statements, "mean", TOP, read.functions),
    }


def _query_history(data: PanelData) -> dict[str, Any]:
    """Total time of the five most expensive application statements of the newest snapshot, over all."""
    with history_store(data.settings) as store:
        snapshots = store.snapshots(data.target.key, STATEMENTS, limit=200)
    newest = [StatementStats(**row) for row in snapshots[0].payload] if snapshots else []
    charts = []
    for stmt in application_top(newest, "total", 5):
        _, points = query_history(snapshots, stmt.queryid)
        series = [(datetime.fromisoformat(p["takenAt"]).timestamp(), p["totalMs"]) for p in points]
        top = max((y for _, y in series), default=0.0)
        title = f"queryid {stmt.queryid}: total time (ms)"
        chart = line_chart(series, title=title, y_label=f"{top:,.0f} ms")
        charts.append(
            {
                "queryid": str(stmt.queryid),
                "query": normalised(stmt.query),
                "points": len(points),
                "chart": chart,
            }
        )
    return {"snapshots": len(snapshots), "charts": charts}


PAGE = Page(
    "queries",
    "Queries",
    (
        Panel("top-statements", "Top statements", "panels/top_statements.html", _top_statements),
        Panel("top-queries", "Statements with issues", "panels/top_queries.html", _top_queries),
        Panel("n-plus-one", "N+1 patterns", "panels/n_plus_one.html", _n_plus_one),
        Panel("query-history", "History", "panels/query_history.html", _query_history),
    ),
)
