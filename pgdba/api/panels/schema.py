"""Schema page: drift between the application's schema files and the live database."""

from __future__ import annotations

from typing import Any

from pgdba.api.dashboard import Page, Panel, PanelData
from pgdba.api.schema_routes import schema_check


def _drift(data: PanelData) -> dict[str, Any]:
    return schema_check(data.settings, data.target)


PAGE = Page("schema", "Schema", (Panel("schema-drift", "Drift report", "panels/schema_drift.html", _drift),))
