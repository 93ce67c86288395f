"""The dashboard: server-rendered pages (Jinja2), one panel per thing pgdba knows.

A page is a list of panels; a panel gets its data from a library function and a template shows it.
A panel whose data cannot be had (missing extension, no privilege, feature not configured) says so
instead of failing the page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from pgdba.api.checkup_routes import checkup_body
from pgdba.api.dependencies import DatabaseName
from pgdba.api.error_text import without_connection_strings
from pgdba.api.queries_routes import ReadStatements, readable_statements
from pgdba.api.query_text import with_normalised_queries
from pgdba.api.settings import ApiSettings
from pgdba.errors import PgdbaError
from pgdba.history.store import open_store
from pgdba.optimizer import analyze_queries
from pgdba.target import Target
from pgdba.units import format_bytes, format_ms


def utc_minute(timestamp: str | None) -> str:
    """An ISO timestamp as `2026-11-29 11:58 UTC` (a naive one is taken as UTC: pgdba stores UTC); a text
    that is no ISO timestamp is shown as it is."""
    if not timestamp:
        return ""
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return timestamp
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
TEMPLATES.filters["bytes"] = format_bytes
TEMPLATES.filters["ms"] = format_ms
TEMPLATES.filters["utc"] = utc_minute


class PanelData:
    """What one request has already fetched, so panels of a page share one query per report."""

    def __init__(self, settings: ApiSettings, target: Target, db: str = "default") -> None:
        self.settings = settings
        self.target = target
        self.db = db  # the monitored database's name, for links to the API about the same database
        self._cache: dict[str, Any] = {}

    def once(self, key: str, fetch: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = fetch()
        return self._cache[key]

    def checkup(self) -> dict[str, Any]:
        """The check-up with its score (findings' query texts normalised), once per page."""
        result: dict[str, Any] = self.once("checkup", lambda: checkup_body(self.settings, self.target))
        return result

    def statements(self) -> ReadStatements:
        """pg_stat_statements' rows this role reads, a note on those hidden from it and the database's own
        functions, once per page."""
        result: ReadStatements = self.once("statements", lambda: readable_statements(self.target))
        return result

    def analyze(self) -> dict[str, Any]:
        def fetch() -> dict[str, Any]:
            store = open_store(self.settings.history_store) if self.settings.history_store else None
            try:
                read = self.statements()
                report = analyze_queries(
                    self.target,
                    threshold_ms=100.0,
                    store=store,
                    limit=200,
                    statements=read.statements,
                    functions=read.functions,
                )
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


def _render_panel(panel: Panel, data: PanelData) -> dict[str, Any]:
    try:
        html = TEMPLATES.get_template(panel.template).render(**panel.data(data), shown_db=data.db)
        return {"slug": panel.slug, "title": panel.title, "html": html}
    except (PgdbaError, psycopg.Error) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return {"slug": panel.slug, "title": panel.title, "error": without_connection_strings(first)}


def render_page(page: Page, pages: list[Page], settings: ApiSettings, db: str | None) -> str:
    target = settings.target_for(db)
    data = PanelData(settings, target, db or settings.names[0])
    panels = [_render_panel(panel, data) for panel in page.panels]
    return TEMPLATES.get_template("page.html").render(
        title=page.title,
        pages=pages,
        current=page.path,
        panels=panels,
        databases=settings.names,
        db=db or settings.names[0],
    )


def dashboard_router(pages: list[Page]) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def make_view(page: Page) -> Callable[..., HTMLResponse]:
        def view(request: Request, db: DatabaseName = None) -> HTMLResponse:
            return HTMLResponse(render_page(page, pages, request.app.state.settings, db))

        return view

    for page in pages:
        router.add_api_route(page.path, make_view(page), methods=["GET"], response_class=HTMLResponse)
    return router
