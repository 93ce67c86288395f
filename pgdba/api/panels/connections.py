"""Connections page: live sessions, blocked chains, pool size advice and the last pool load test."""

from __future__ import annotations

from typing import Any

from pgdba.api.connections_routes import activity_body
from pgdba.api.dashboard import Page, Panel, PanelData
from pgdba.api.pool_routes import load_bench_report
from pgdba.pool.advise_server import advise_pool


def _activity(data: PanelData) -> dict[str, Any]:
    return activity_body(data.target)


def _pool_advice(data: PanelData) -> dict[str, Any]:
    return advise_pool(data.target).to_dict()


def _pool_bench(data: PanelData) -> dict[str, Any]:
    return load_bench_report(data.settings.pool_bench)


PAGE = Page(
    "connections",
    "Connections",
    (
        Panel("activity", "Live activity", "panels/activity.html", _activity),
        Panel("pool-advice", "Pool advice", "panels/pool_advice.html", _pool_advice),
        Panel("pool-bench", "Last pool load test", "panels/pool_bench.html", _pool_bench),
    ),
)
