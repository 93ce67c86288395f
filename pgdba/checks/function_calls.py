"""Statements whose time is spent inside the database's own functions (`SELECT customer_total($1)`, a
PostgREST RPC `SELECT * FROM search_courses($1)`, `CALL close_day()`).

The query checks judge statements that read tables: such a call reads none as written, so it is not among
them, and with pg_stat_statements.track = top (the default) the statements the function runs are not
recorded at all. Where its mean time passes the threshold the report says so, rather than showing nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Set

from pgdba.checks.queries import QUERY_WIDTH, SlowRule, StatementSet, statement_metrics
from pgdba.findings import Finding
from pgdba.statement_text import shortened
from pgdba.statement_tree import called_functions
from pgdba.stats.statements import StatementStats

SHOWN = 3  # statements named in the note


def function_calls(pool: StatementSet, functions: Set[str]) -> list[tuple[StatementStats, list[str]]]:
    """The top-level statements that read no table but call user functions, busiest first, each with the
    user functions it calls."""
    if not functions:
        return []
    # a cheap look at the text first: most statements name no user function at all
    mention = re.compile(
        r'(?<![\w$])"?(?:' + "|".join(sorted(map(re.escape, functions), key=len, reverse=True)) + r')"?\s*\(',
        re.IGNORECASE,
    )
    calls: list[tuple[StatementStats, list[str]]] = []
    for stmt in pool.stats:
        if not mention.search(stmt.query) or pool.is_application(stmt):
            continue
        called = [name for name in called_functions(stmt.query) if name in functions]
        if called:
            calls.append((stmt, called))
    return calls


def _inside(called: Iterable[list[str]]) -> str:
    return ", ".join(dict.fromkeys(f"{name}()" for names in called for name in names))


WHERE_TO_LOOK = (
    "pg_stat_statements.track = all records the statements they run (toplevel = false; `pgdba advise "
    "indexes` advises on them), auto_explain.log_nested_statements = on logs their plans"
)


def function_call_note(pool: StatementSet, functions: Set[str], threshold_ms: float) -> str | None:
    """A note on the top-level statements that read no table but call user functions: those over the
    threshold by name; None when there is none."""
    calls = function_calls(pool, functions)
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
    functions: Set[str],
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
    for stmt, called in function_calls(pool, functions):
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
