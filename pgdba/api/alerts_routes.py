"""/api/v1/alerts: the rules in force and their state as the last `pgdba alerts check` left it.

Reading never evaluates: the state's `for` durations and notifications belong to the scheduled check, so
the API shows what that check recorded in the history store.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from pgdba.alerts.check import EVENT_KIND, STATE_KIND
from pgdba.alerts.rules import load_rules
from pgdba.api.dependencies import DatabaseName, history_store, require_known_database, settings_of, target_of
from pgdba.api.models import ERROR_RESPONSES
from pgdba.api.query_text import normalised
from pgdba.api.settings import ApiSettings
from pgdba.api.v1_models import AlertRulesResponse, AlertStateResponse
from pgdba.findings import SCHEMA_VERSION
from pgdba.target import Target

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], responses=ERROR_RESPONSES)
LEVEL_ORDER = ("critical", "warning", "unknown", "ok")


def alert_rules(settings: ApiSettings) -> dict[str, Any]:
    rules = load_rules(settings.alert_rules)
    return {
        "schema_version": SCHEMA_VERSION,
        "sources": list(rules.sources),
        "rules": [r.to_dict() for r in rules.rules],
    }


def _without_literals(detail: dict[str, Any]) -> dict[str, Any]:
    texts = {k for k, v in detail.items() if "query" in k and k != "queryid" and isinstance(v, str)}
    return {k: normalised(v) if k in texts else v for k, v in detail.items()}


def _queryid_as_string(detail: dict[str, Any]) -> dict[str, Any]:
    """Events stored by earlier versions hold the queryid as a number; JSON readers get the string."""
    return {**detail, "queryid": str(detail["queryid"])} if isinstance(detail.get("queryid"), int) else detail


def _state_order(state: dict[str, Any]) -> tuple[int, bool, str, str]:
    level = LEVEL_ORDER.index(state["level"]) if state["level"] in LEVEL_ORDER else len(LEVEL_ORDER)
    return (level, state["pending"] is None, state["rule"], state["object"])


def alert_state(settings: ApiSettings, target: Target, events: int = 50) -> dict[str, Any]:
    """Fired and pending alerts first, then the rest; and the latest firing / resolved events."""
    with history_store(settings) as store:
        latest = store.records(target.key, STATE_KIND, limit=1)
        recorded = store.records(target.key, EVENT_KIND, limit=events)
    checked_at, payload = latest[0] if latest else (None, {})
    states = []
    for key, state in payload.get("states", {}).items():
        rule, _, obj = key.partition("|")
        states.append({"rule": rule, "object": obj, **state})
    states.sort(key=_state_order)
    return {
        "schema_version": SCHEMA_VERSION,
        "checkedAt": checked_at.isoformat() if checked_at else None,
        "states": states,
        "events": [
            {
                "recordedAt": when.isoformat(),
                **{
                    k: e.get(k)
                    for k in ("rule", "object", "event", "status", "level", "value", "unit", "summary")
                },
                "detail": _queryid_as_string(_without_literals(e.get("detail") or {})),
            }
            for when, e in recorded
        ],
    }


@router.get("/rules", response_model=AlertRulesResponse)
def rules(request: Request, db: DatabaseName = None) -> dict[str, Any]:
    """Every rule (defaults plus `serve --alert-rules FILE`): metric, thresholds, `for`, scope, summary.
    The rules are the same for every `db` (an unknown one is 404 as everywhere)."""
    require_known_database(request, db)
    return alert_rules(settings_of(request))


@router.get("/state", response_model=AlertStateResponse)
def state(
    request: Request,
    db: DatabaseName = None,
    events: Annotated[int, Query(ge=1, le=1000, description="Latest firing / resolved events")] = 50,
) -> dict[str, Any]:
    """Each rule and object's level (ok / warning / critical, pending ones) and the latest events."""
    return alert_state(settings_of(request), target_of(request, db), events)
