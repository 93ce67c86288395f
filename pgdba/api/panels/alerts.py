"""Alerts page: the state the last `pgdba alerts check` recorded, its latest events, and the rules."""

from __future__ import annotations

from typing import Any

from pgdba.api.alerts_routes import alert_rules, alert_state
from pgdba.api.dashboard import Page, Panel, PanelData


def _state(data: PanelData) -> dict[str, Any]:
    state = alert_state(data.settings, data.target)
    firing = [s for s in state["states"] if s["level"] in ("warning", "critical") or s["pending"]]
    unknown = [s for s in state["states"] if s.get("unknown") and s not in firing]
    return {**state, "firing": firing, "unknown": unknown}


def _rules(data: PanelData) -> dict[str, Any]:
    return alert_rules(data.settings)


PAGE = Page(
    "alerts",
    "Alerts",
    (
        Panel("alert-state", "State", "panels/alert_state.html", _state),
        Panel("alert-rules", "Rules", "panels/alert_rules.html", _rules),
    ),
)
