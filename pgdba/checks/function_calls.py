"""Statements whose time is spent inside the database's own functions (`SELECT customer_total($1)`, a
PostgREST RPC `SELECT * FROM search_courses($1)`, `CALL close_day()`).

The query checks judge statements that read tables: such a call reads none as written, so it is not among
them, and with pg_stat_statements.track = top (the default) the statements the function runs are not
recorded at all. Where its mean time passes the threshold the report says so, rather than showing nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from pgdba.checks.queries import QUERY_WIDTH, SlowRule, StatementSet, statement_metrics
from pgdba.findings import Finding
from pgdba.statement_text import shortened
from pgdba.stats.statements import StatementStats

SHOWN = 3  # statements named in the note


def _inside(called: Iterable[list[str]]) -> str:
    return ", ".join(dict.fromkeys(f"{name}()" for names in called for name in names))


WHERE_TO_LOOK = (
    "pg_stat_statements.track = all records the statements they run (toplevel = false; `pgdba advise "
    "indexes` advises on them), auto_explain.log_nested_statements = on logs their plans"
)


def _calls(pool: StatementSet) -> list[tuple[StatementStats, list[str]]]:
    """The statements that read no table but call the database's own functions, busiest first."""
    called = pool.function_calls()
    return [(stmt, called[stmt.key]) for stmt in pool.stats if stmt.key in called]


def function_call_note(pool: StatementSet, threshold_ms: float) -> str | None:
    """A note on the top-level statements that read no table but call user functions (the pool's
    `functions`): those over the threshold by name; None when there is none."""
    calls = _calls(pool)
    if not calls:
        return None
    slow = [(stmt, called) for stmt, called in calls if stmt.mean_ms >= threshold_ms]
    if not slow:
        return (
            f"{len(calls)} statement(s) read no table but call the database's own functions "
            f"({_inside(c for _, c in calls)}), none over {threshold_ms:g} ms mean; the statements those run "
            "are not analysed"
        )
    shown = "; ".join(
        f"{shortened(stmt.query, 60)} ({stmt.mean_ms:.1f} ms mean, {stmt.calls} calls)"
        for stmt, _ in slow[:SHOWN]
    )
    more = f" and {len(slow) - SHOWN} more" if len(slow) > SHOWN else ""
    return (
        f"{len(slow)} statement(s) over {threshold_ms:g} ms read no table but call the database's own "
        f"functions, whose statements are not analysed: {shown}{more}. The time is spent inside "
        f"{_inside(c for _, c in slow)}: {WHERE_TO_LOOK}"
    )


def slow_function_calls(
    pool: StatementSet,
    *,
    min_calls: int = 100,
    min_mean_ms: float = 20.0,
    threshold_ms: float = 100.0,
    threshold_min_calls: int = 5,
    critical_mean_ms: float = 1000.0,
) -> list[Finding]:
    """query.slow's findings for statements whose time is spent inside user functions, by the same rule as
    every other statement's (pgdba.checks.queries.SlowRule)."""
    rule = SlowRule(min_calls, min_mean_ms, threshold_ms, threshold_min_calls, critical_mean_ms)
    found = []
    for stmt, called in _calls(pool):
        severity = rule.severity(stmt)
        if severity is None:
            continue
        found.append(
            Finding(
                "query.slow",
                severity,
                f"Slow function call: mean {stmt.mean_ms:,.1f} ms over {stmt.calls:,} calls",
                shortened(stmt.query, QUERY_WIDTH),
                {**statement_metrics(stmt), "threshold_ms": threshold_ms},
                f"The time is spent inside {_inside([called])}: {WHERE_TO_LOOK}",
            )
        )
    return found
