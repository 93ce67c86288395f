"""/api/v1/queries: statements with issues (normalised texts only) and one statement's history."""

from __future__ import annotations

from collections.abc import Callable, Set
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from pgdba.api.dependencies import DatabaseName, history_store, optional_store, settings_of, target_of
from pgdba.api.models import ERROR_RESPONSES, AnalyzeResponse
from pgdba.api.optimizer_routes import MAX_THRESHOLD_MS
from pgdba.api.query_text import normalised, with_normalised_queries
from pgdba.api.v1_models import QueryHistoryResponse, TopStatementsResponse
from pgdba.checks.queries import StatementSet
from pgdba.history.snapshot import STATEMENTS
from pgdba.optimizer import analyze_queries
from pgdba.server import load_server_facts
from pgdba.stats.functions import user_functions
from pgdba.stats.statements import StatementStats, hidden_statements, statement_stats
from pgdba.target import Target, session

router = APIRouter(prefix="/api/v1/queries", tags=["queries"], responses=ERROR_RESPONSES)


@router.get("", response_model=AnalyzeResponse)
def queries(
    request: Request,
    db: DatabaseName = None,
    threshold: Annotated[
        float,
        Query(ge=0, le=MAX_THRESHOLD_MS, allow_inf_nan=False, description="Mean ms that counts as slow"),
    ] = 100.0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Statements with issues (slow, low cache hit, N+1, unstable plan) and the fix for each."""
    with optional_store(settings_of(request)) as store:
        report = analyze_queries(target_of(request, db), threshold_ms=threshold, store=store, limit=limit)
    return with_normalised_queries(report.to_dict())


def query_history(store_rows: list[Any], queryid: int) -> tuple[str | None, list[dict[str, Any]]]:
    """(text, points) of one statement across statement snapshots, oldest first."""
    text: str | None = None
    points = []
    for snap in reversed(store_rows):
        rows = [row for row in snap.payload if row.get("queryid") == queryid]
        if not rows:
            continue
        text = text or rows[0]["query"]
        calls = sum(int(r["calls"]) for r in rows)
        total = sum(float(r["total_ms"]) for r in rows)
        points.append(
            {
                "takenAt": snap.taken_at.isoformat(),
                "calls": calls,
                "totalMs": total,
                "meanMs": total / calls if calls else 0.0,
            }
        )
    return text, points


def application_top(
    statements: list[StatementStats], order: str, limit: int, functions: Set[str] = frozenset()
) -> list[StatementStats]:
    """The `limit` application statements (not pgdba's or a monitor's catalog queries; calls of the
    database's own `functions` included) by total or mean time."""
    key: Callable[[StatementStats], float] = (
        (lambda s: s.total_ms) if order == "total" else (lambda s: s.mean_ms)
    )
    return StatementSet(statements, functions=functions).top(limit, key)


@dataclass(frozen=True)
class ReadStatements:
    statements: list[StatementStats]
    notes: list[str]  # other roles' statements hidden from this role
    functions: frozenset[str]  # the database's own (pgdba.stats.functions)


def readable_statements(target: Target) -> ReadStatements:
    """pg_stat_statements' rows this role can read, a note when other roles' are hidden from it, and the
    database's own functions (a call of one is an application statement)."""
    with session(target) as conn:
        facts = load_server_facts(conn)
        statements = statement_stats(conn, facts)
        hidden = hidden_statements(conn, facts)
        functions = user_functions(conn)
    notes = []
    if hidden is not None:  # listed or not, the busiest statement may be one this role cannot read
        hidden = StatementSet(statements, functions=functions).weigh(hidden)
        notes.append(f"only this role's statements listed: {hidden.reason()}")
    return ReadStatements(statements, notes, functions)


def statement_rows(
    statements: list[StatementStats], order: str, limit: int, functions: Set[str] = frozenset()
) -> list[dict[str, Any]]:
    """The `limit` application statements by total or mean time, as the API lists them."""
    return [
        {
            "queryid": str(s.queryid),
            "query": normalised(s.query),
            "calls": s.calls,
            "totalMs": round(s.total_ms, 3),
            "meanMs": round(s.mean_ms, 3),
            "rowsPerCall": round(s.rows_per_call, 2),
            "cacheHitRatio": None if s.cache_hit_ratio is None else round(s.cache_hit_ratio, 1),
        }
        for s in application_top(statements, order, limit, functions)
    ]


def top_statements(target: Target, order: str, limit: int) -> dict[str, Any]:
    read = readable_statements(target)
    rows = statement_rows(read.statements, order, limit, read.functions)
    return {"schema_version": 1, "order": order, "statements": rows, "notes": read.notes}


@router.get("/top", response_model=TopStatementsResponse)
def top(
    request: Request,
    db: DatabaseName = None,
    order: Annotated[
        Literal["total", "mean"], Query(description="By total or by mean execution time")
    ] = "total",
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> dict[str, Any]:
    """The application's statements with most total (or mean) time since the statistics were reset."""
    return top_statements(target_of(request, db), order, limit)


@router.get("/history", response_model=QueryHistoryResponse)
def history(
    request: Request,
    queryid: Annotated[int, Query(ge=-(2**63), le=2**63 - 1, description="pg_stat_statements queryid")],
    db: DatabaseName = None,
    limit: Annotated[int, Query(ge=2, le=1000, description="Most recent snapshots to read")] = 200,
) -> dict[str, Any]:
    """Cumulative calls and time of one statement in each stored snapshot (`pgdba snapshot`)."""
    target = target_of(request, db)
    with history_store(settings_of(request)) as store:
        text, points = query_history(store.snapshots(target.key, STATEMENTS, limit=limit), queryid)
    return {
        "schema_version": 1,
        "queryid": str(queryid),
        "query": normalised(text) if text else None,
        "points": points,
    }
