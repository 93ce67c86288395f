"""Indexes page: unused indexes (with the DROP to run) and every index's usage."""

from __future__ import annotations

from typing import Any

from pgdba.api.advisor_routes import AdvisorParameters, advice_body, run_advisor
from pgdba.api.dashboard import Page, Panel, PanelData
from pgdba.api.dependencies import history_store
from pgdba.api.indexes_routes import index_health
from pgdba.optimizer import index_usage, unused_index_report


def _index_usage(data: PanelData) -> dict[str, Any]:
    return index_usage(data.target).to_dict()


def _unused(data: PanelData) -> dict[str, Any]:
    """As /api/v1/indexes/unused: indexes created after the store's week-old index snapshot are not judged."""
    with history_store(data.settings) as store:
        return unused_index_report(data.target, store=store).to_dict()


def _index_health(data: PanelData) -> dict[str, Any]:
    report = index_health(data.target)
    return {"findings": report["findings"], "total": len(report["findings"]), "skipped": report["skipped"]}


def _advice(data: PanelData) -> dict[str, Any]:
    advice, _ = run_advisor(data.target, AdvisorParameters(), data.settings)
    body = advice_body(data.settings, advice)
    # each index's keys as CREATE INDEX writes them (`lower(email)`, `email text_pattern_ops`), by name
    body["key_texts"] = {
        r.candidate.name(): [r.candidate.key_text(c) for c in r.candidate.columns]
        for r in advice.recommendations
    }
    return body


PAGE = Page(
    "indexes",
    "Indexes",
    (
        Panel("index-advice", "Advice: indexes to create and drop", "panels/index_advice.html", _advice),
        Panel("index-health", "Duplicate, invalid and missing", "panels/top_findings.html", _index_health),
        Panel("unused-indexes", "Unused indexes", "panels/unused_indexes.html", _unused),
        Panel("index-usage", "Index usage", "panels/index_usage.html", _index_usage),
    ),
)
