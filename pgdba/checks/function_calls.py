"""Statements whose time is spent inside the database's own functions (`SELECT customer_total($1)`, a
PostgREST RPC `SELECT * FROM search_courses($1)`, `CALL close_day()`).

Such a call reads no table as written, so no query check parses it, and with pg_stat_statements.track = top
(the default) the statements the function runs are not recorded at all. It is still the application's
statement (StatementSet.function_calls): the top lists show it, query.slow judges it by its numbers, and
`queries analyze` names it in a note rather than saying there is nothing to analyse.
"""

from __future__ import annotations

from pgdba.checks.queries import INSIDE_FUNCTIONS_ADVICE, StatementSet, functions_called
from pgdba.statement_text import shortened
from pgdba.stats.statements import StatementStats

SHOWN = 3  # statements named in the note


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
            f"({functions_called(c for _, c in calls)}), none over {threshold_ms:g} ms mean; the statements those run "
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
        f"{functions_called(c for _, c in slow)}: {INSIDE_FUNCTIONS_ADVICE}"
    )
