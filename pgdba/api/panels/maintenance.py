"""Maintenance page: tables that need VACUUM / ANALYZE, why, and the statement that fixes each."""

from __future__ import annotations

from typing import Any

from pgdba.api.dashboard import Page, Panel, PanelData
from pgdba.maintenance import maintenance_plan


def _plan(data: PanelData) -> dict[str, Any]:
    return maintenance_plan(data.target).to_dict()


def _table_findings(data: PanelData) -> dict[str, Any]:
    """The check-up's table findings: dead tuples, bloat, overdue VACUUM/ANALYZE, wraparound."""
    areas = ("table.", "index.bloat", "safety.wraparound", "safety.multixact_wraparound")
    checkup = data.checkup()
    findings = [f for f in checkup["findings"] if f["code"].startswith(areas)]
    skipped = [s for s in checkup["skipped"] if s["check"].startswith(areas)]
    return {"findings": findings, "total": len(findings), "skipped": skipped}


PAGE = Page(
    "maintenance",
    "Maintenance",
    (
        Panel("maintenance-plan", "VACUUM / ANALYZE plan", "panels/maintenance_plan.html", _plan),
        Panel("table-findings", "Table findings", "panels/top_findings.html", _table_findings),
    ),
)
