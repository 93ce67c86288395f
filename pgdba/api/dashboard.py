"""The dashboard: server-rendered pages (Jinja2), one panel per thing pgdba knows.

A page is a list of panels; a panel gets its data from a library function and a template shows it.
A panel whose data cannot be had (missing extension, no privilege, feature not configured) says so
instead of failing the page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from pgdba.api.charts import bar_chart, line_chart
from pgdba.api.dependencies import history_store
from pgdba.api.pool_routes import load_bench_report
from pgdba.api.queries_routes import query_history
from pgdba.api.query_text import normalised, with_normalised_queries
from pgdba.api.settings import ApiSettings
from pgdba.errors import PgdbaError
from pgdba.history.snapshot import STATEMENTS
from pgdba.history.store import open_store
from pgdba.optimizer import analyze_queries, capacity_tables, index_usage, unused_index_report
from pgdba.pool.advise_server import advise_pool
from pgdba.target import Target, mask_password
from pgdba.units import format_bytes, format_ms

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
TEMPLATES.filters["bytes"] = format_bytes
TEMPLATES.filters["ms"] = format_ms


class PanelData:
    """What one request has already fetched, so panels of a page share one query per report."""

    def __init__(self, settings: ApiSettings, target: Target) -> None:
        self.settings = settings
        self.target = target
        self._cache: dict[str, Any] = {}

    def once(self, key: str, fetch: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = fetch()
        return self._cache[key]

    def analyze(self) -> dict[str, Any]:
        def fetch() -> dict[str, Any]:
            store = open_store(self.settings.history_store) if self.settings.history_store else None
            try:
                report = analyze_queries(self.target, threshold_ms=100.0, store=store, limit=200)
                return with_normalised_queries(report.to_dict())
            finally:
                if store:
                    store.close()

        result: dict[str, Any] = self.once("analyze", fetch)
        return result


@dataclass(frozen=True)
class Panel:
    slug: str
    title: str
    template: str
    data: Callable[[PanelData], dict[str, Any]]


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    panels: tuple[Panel, ...]

    @property
    def path(self) -> str:
        return "/" if self.slug == "overview" else f"/{self.slug}"


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


def _query_history(data: PanelData) -> dict[str, Any]:
    """Total time of the five most expensive statements of the newest snapshot, over all snapshots."""
    with history_store(data.settings) as store:
        snapshots = store.snapshots(data.target.key, STATEMENTS, limit=200)
    newest = sorted(snapshots[0].payload, key=lambda r: r["total_ms"], reverse=True) if snapshots else []
    charts = []
    for row in newest[:5]:
        _, points = query_history(snapshots, int(row["queryid"]))
        series = [(datetime.fromisoformat(p["takenAt"]).timestamp(), p["totalMs"]) for p in points]
        top = max((y for _, y in series), default=0.0)
        chart = line_chart(
            series, title=f"queryid {row['queryid']}: total time (ms)", y_label=f"{top:,.0f} ms"
        )
        charts.append(
            {
                "queryid": row["queryid"],
                "query": normalised(row["query"]),
                "points": len(points),
                "chart": chart,
            }
        )
    return {"snapshots": len(snapshots), "charts": charts}


def _index_usage(data: PanelData) -> dict[str, Any]:
    return index_usage(data.target).to_dict()


def _unused(data: PanelData) -> dict[str, Any]:
    return unused_index_report(data.target).to_dict()


def _capacity(data: PanelData) -> dict[str, Any]:
    report = capacity_tables(data.target).to_dict()
    top = report["tables"][:15]
    chart = bar_chart(
        [(f"{t['schema']}.{t['table']}", t["totalBytes"], format_bytes(t["totalBytes"])) for t in top],
        title="Largest tables (total size)",
    )
    return {**report, "chart": chart}


def _pool_advice(data: PanelData) -> dict[str, Any]:
    return advise_pool(data.target).to_dict()


def _pool_bench(data: PanelData) -> dict[str, Any]:
    return load_bench_report(data.settings.pool_bench)


PAGES: list[Page] = [
    Page(
        "queries",
        "Queries",
        (
            Panel("top-queries", "Top statements", "panels/top_queries.html", _top_queries),
            Panel("n-plus-one", "N+1 patterns", "panels/n_plus_one.html", _n_plus_one),
            Panel("query-history", "History", "panels/query_history.html", _query_history),
        ),
    ),
    Page(
        "indexes",
        "Indexes",
        (
            Panel("unused-indexes", "Unused indexes", "panels/unused_indexes.html", _unused),
            Panel("index-usage", "Index usage", "panels/index_usage.html", _index_usage),
        ),
    ),
    Page("space", "Space", (Panel("tables", "Tables", "panels/capacity.html", _capacity),)),
    Page(
        "connections",
        "Connections",
        (
            Panel("pool-advice", "Pool advice", "panels/pool_advice.html", _pool_advice),
            Panel("pool-bench", "Last pool load test", "panels/pool_bench.html", _pool_bench),
        ),
    ),
]


def register_page(page: Page, *, first: bool = False) -> None:
    """Areas add their pages here (the overview first)."""
    PAGES.insert(0, page) if first else PAGES.append(page)


def _render_panel(panel: Panel, data: PanelData) -> dict[str, Any]:
    try:
        html = TEMPLATES.get_template(panel.template).render(**panel.data(data))
        return {"slug": panel.slug, "title": panel.title, "html": html}
    except (PgdbaError, psycopg.Error) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return {"slug": panel.slug, "title": panel.title, "error": mask_password(first)}


def render_page(page: Page, settings: ApiSettings, db: str | None) -> str:
    target = settings.target_for(db)
    data = PanelData(settings, target)
    panels = [_render_panel(panel, data) for panel in page.panels]
    return TEMPLATES.get_template("page.html").render(
        title=page.title,
        pages=PAGES,
        current=page.path,
        panels=panels,
        databases=settings.names,
        db=db or settings.names[0],
    )


def dashboard_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def make_view(page: Page) -> Callable[..., HTMLResponse]:
        def view(request: Request, db: str | None = Query(None, max_length=64)) -> HTMLResponse:
            return HTMLResponse(render_page(page, request.app.state.settings, db))

        return view

    for page in PAGES:
        router.add_api_route(page.path, make_view(page), methods=["GET"], response_class=HTMLResponse)
    return router
