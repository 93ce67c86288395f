"""Activity between a stored snapshot and now, robust to pg_stat_statements resets and server restarts.

Counters only grow until a reset sets them back to zero. When the snapshot's metadata shows the statistics
were reset since it was taken, the current counters ARE the activity since then (a subtraction would mix two
epochs); otherwise per-statement subtraction, where a statement whose counters went down (evicted and
re-entered) also counts from zero. Never a negative number.

pg_stat_statements keeps its counters and its stats_reset across a clean restart (pg_stat_statements.save,
on by default) and starts both afresh when it does not keep them, so where both sides know stats_reset
(pg_stat_statements_info, 14+) it alone tells a reset; a restart counts as one only where it is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pgdba.history.snapshot import snapshot_meta
from pgdba.server import ServerFacts
from pgdba.stats.statements import StatementStats, statement_deltas

RESTARTED = "the server restarted"


def reset_since(meta: Mapping[str, Any], facts: ServerFacts) -> str | None:
    """Why the snapshot's counters are not comparable with today's (reset, or a restart where the reset time
    is unknown), or None."""
    now = snapshot_meta(facts)
    if meta.get("statements_reset") and now.get("statements_reset"):
        return "pg_stat_statements was reset" if meta["statements_reset"] != now["statements_reset"] else None
    if meta.get("postmaster_start") and now.get("postmaster_start"):
        return RESTARTED if meta["postmaster_start"] != now["postmaster_start"] else None
    return None


def statements_since(
    current: Sequence[StatementStats],
    previous: Sequence[StatementStats],
    meta: Mapping[str, Any],
    facts: ServerFacts,
) -> list[StatementStats]:
    """The statements' activity since the snapshot (see the module docstring)."""
    if reset_since(meta, facts):
        return list(current)
    return statement_deltas(current, previous)


def window_start(taken_at: datetime, meta: Mapping[str, Any], facts: ServerFacts) -> datetime | None:
    """When what `statements_since` measured began: the snapshot, or the restart or reset after it."""
    reason = reset_since(meta, facts)
    if reason is None:
        return taken_at
    return facts.postmaster_start if reason == RESTARTED else facts.statements_reset


def window_since(taken_at: datetime, meta: Mapping[str, Any], facts: ServerFacts) -> str:
    """The same, in words."""
    reason = reset_since(meta, facts)
    if reason is None:
        return f"since the snapshot of {taken_at:%Y-%m-%d %H:%M} UTC"
    epoch = window_start(taken_at, meta, facts)
    return f"since {reason}" + (f" at {epoch:%Y-%m-%d %H:%M} UTC" if epoch else "")
