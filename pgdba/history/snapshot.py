"""`pgdba snapshot`: store the current statistics of a target in the history store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from pgdba.history.store import HistoryStore
from pgdba.server import ServerFacts
from pgdba.stats.statements import StatementStats, statement_stats

STATEMENTS = "statements"


@dataclass(frozen=True)
class SnapshotSummary:
    target: str
    taken_at: datetime
    kinds: dict[str, int]


def snapshot_meta(facts: ServerFacts) -> dict[str, str | None]:
    """What lets a later delta tell a reset or restart from real activity."""
    return {
        "postmaster_start": facts.postmaster_start.isoformat() if facts.postmaster_start else None,
        "statements_reset": facts.statements_reset.isoformat() if facts.statements_reset else None,
        "stats_reset": facts.stats_reset.isoformat() if facts.stats_reset else None,
        "server_version_num": str(facts.version_num),
    }


def take_snapshot(
    conn: psycopg.Connection, facts: ServerFacts, store: HistoryStore, target_key: str
) -> SnapshotSummary:
    """Store statement statistics (when pg_stat_statements is ready) with the reset metadata."""
    taken_at = datetime.now(UTC)
    kinds: dict[str, int] = {}
    meta = snapshot_meta(facts)
    if facts.pg_stat_statements_ready:
        statements = statement_stats(conn, facts)
        store.save_snapshot(
            target_key, STATEMENTS, [s.to_dict() for s in statements], meta=meta, taken_at=taken_at
        )
        kinds[STATEMENTS] = len(statements)
    return SnapshotSummary(target_key, taken_at, kinds)


def previous_statements(store: HistoryStore, target_key: str) -> tuple[datetime, list[StatementStats]] | None:
    """The newest stored statement snapshot of the target, if any."""
    snap = store.latest_snapshot(target_key, STATEMENTS)
    if snap is None:
        return None
    return snap.taken_at, [StatementStats(**row) for row in snap.payload]
