"""Statements whose time is spent inside the database's own functions (`SELECT customer_total($1)`, a
PostgREST RPC `SELECT * FROM search_courses($1)`, `CALL close_day()`).

The query checks judge statements that read tables: such a call reads none as written, so it is not among
them, and with pg_stat_statements.track = top (the default) the statements the function runs are not
recorded at all. Where its mean time passes the threshold the report says so, rather than showing nothing.
"""

from __future__ import annotations

import re
from collections.abc import Set

from pgdba.checks.queries import StatementSet
from pgdba.statement_text import shortened
from pgdba.statement_tree import called_functions
from pgdba.stats.statements import StatementStats

SHOWN = 3  # statements named in the note


def function_call_note(pool: StatementSet, functions: Set[str], threshold_ms: float) -> str | None:
    """A note on the top-level statements that read no table but call user functions: those over the
    threshold by name; None when there is none."""
    if not functions:
        return None
    # a cheap look at the text first: most statements name no user function at all
    mention = re.compile(
        r'(?<![\w$])"?(?:' + "|".join(sorted(map(re.escape, functions), key=len, reverse=True)) + r')"?\s*\(',
        re.IGNORECASE,
    )
    calls: list[tuple[StatementStats, list[str]]] = []
    for stmt in pool.stats:  # busiest first
        if not mention.search(stmt.query) or pool.is_application(stmt):
            continue
        called = [name for name in called_functions(stmt.query) if name in functions]
        if called:
            calls.append((stmt, called))
    if not calls:
        return None
    slow = [(stmt, called) for stmt, called in calls if stmt.mean_ms >= threshold_ms]
    if not slow:
        names = ", ".join(dict.fromkeys(f"{name}()" for _, called in calls for name in called))
        return (
            f"{len(calls)} statement(s) read no table but call the database's own functions ({names}), none "
            f"over {threshold_ms:g} ms mean; the statements those run are not analysed"
        )
    shown = "; ".join(
        f"{shortened(stmt.query, 60)} ({stmt.mean_ms:.1f} ms mean, {stmt.calls} calls)"
        for stmt, _ in slow[:SHOWN]
    )
    more = f" and {len(slow) - SHOWN} more" if len(slow) > SHOWN else ""
    inside = ", ".join(dict.fromkeys(f"{name}()" for _, called in slow for name in called))
    return (
        f"{len(slow)} statement(s) over {threshold_ms:g} ms read no table but call the database's own "
        f"functions, whose statements are not analysed: {shown}{more}. The time is spent inside {inside}: "
        "pg_stat_statements.track = all records the statements they run (toplevel = false; `pgdba advise "
        "indexes` advises on them), auto_explain.log_nested_statements = on logs their plans"
    )
