"""Overview page: the health score with its deductions, the top findings and the key numbers."""

from __future__ import annotations

from typing import Any

from pgdba.api.dashboard import Page, Panel, PanelData
from pgdba.optimizer import capacity_tables

TOP_FINDINGS = 10


def _score(data: PanelData) -> dict[str, Any]:
    checkup = data.checkup()
    return {**checkup["score"], "notes": checkup["notes"]}


def _top_findings(data: PanelData) -> dict[str, Any]:
    findings = [f for f in data.checkup()["findings"] if f["severity"] != "info"]
    return {"findings": findings[:TOP_FINDINGS], "total": len(findings)}


def _key_numbers(data: PanelData) -> dict[str, Any]:
    """Database size, tables, findings by severity and statements analysed."""
    capacity = capacity_tables(data.target).to_dict()
    by_severity: dict[str, int] = {"critical": 0, "warning": 0, "info": 0}
    for finding in data.checkup()["findings"]:
        by_severity[finding["severity"]] = by_severity.get(finding["severity"], 0) + 1
    return {
        "database_size": capacity["databaseSizeBytes"],
        "tables": len(capacity["tables"]),
        "by_severity": by_severity,
        "skipped": len(data.checkup()["skipped"]),
    }


PAGE = Page(
    "overview",
    "Overview",
    (
        Panel("health-score", "Health score", "panels/health_score.html", _score),
        Panel("key-numbers", "Key numbers", "panels/key_numbers.html", _key_numbers),
        Panel("top-findings", "Top findings", "panels/top_findings.html", _top_findings),
    ),
)
