"""/api/v1/connections: live sessions (normalised texts), blocked chains and connection use."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from pgdba.api.dependencies import DatabaseName, target_of
from pgdba.api.models import ERROR_RESPONSES
from pgdba.api.query_text import finding_without_literals, normalised
from pgdba.api.v1_models import ActivityResponse
from pgdba.checks.safety import blocked_sessions
from pgdba.findings import SCHEMA_VERSION
from pgdba.stats.activity import connection_usage, session_activity
from pgdba.target import Target, session

router = APIRouter(prefix="/api/v1/connections", tags=["connections"], responses=ERROR_RESPONSES)


def activity_body(target: Target) -> dict[str, Any]:
    """Client sessions now (pgdba's own left out), and every lock chain (any wait, not only the check's
    5 s threshold)."""
    with session(target) as conn:
        sessions = session_activity(conn)
        usage = connection_usage(conn)
    chains = [f.to_dict() for f in blocked_sessions(sessions, warning_seconds=0.0)]
    return {
        "schema_version": SCHEMA_VERSION,
        # the sessions listed, so count and list agree: pgdba's own session is in neither
        "connections": len(sessions),
        "maxConnections": usage.max_connections,
        "reserved": usage.reserved,
        "sessions": [{**s.to_dict(), "query": normalised(s.query) if s.query else ""} for s in sessions],
        "blockedChains": [finding_without_literals(f) for f in chains],
    }


@router.get("/activity", response_model=ActivityResponse)
def activity(request: Request, db: DatabaseName = None) -> dict[str, Any]:
    """Every client session (state, waits, how long its transaction and query run, who blocks it)."""
    return activity_body(target_of(request, db))
