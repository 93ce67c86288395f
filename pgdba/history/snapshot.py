"""`pgdba snapshot`: store statement, table, index and database statistics with reset metadata."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from pgdba.checks.indexes import MIN_STATS_AGE, IndexAges
from pgdba.history.store import HistoryStore, Snapshot
from pgdba.server import ServerFacts
from pgdba.stats.database import database_stats
from pgdba.stats.indexes import index_stats
from pgdba.stats.statements import StatementStats, statement_stats
from pgdba.stats.tables import TableStats, table_stats

STATEMENTS = "statements"
TABLES = "tables"
INDEXES = "indexes"
DATABASE = "database"
KINDS = (STATEMENTS, TABLES, INDEXES, DATABASE)


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
    conn: psycopg.Connection,
    facts: ServerFacts,
    store: HistoryStore,
    target_key: str,
    *,
    kinds: tuple[str, ...] = KINDS,
) -> SnapshotSummary:
    """Store the chosen kinds of statistics (statements only when pg_stat_statements is ready)."""
    taken_at = datetime.now(UTC)
    stored: dict[str, int] = {}
    meta = snapshot_meta(facts)
    payloads: dict[str, list[dict[str, Any]]] = {}
    if STATEMENTS in kinds and facts.pg_stat_statements_ready:
        payloads[STATEMENTS] = [s.to_dict() for s in statement_stats(conn, facts)]
    if TABLES in kinds:
        payloads[TABLES] = [t.to_dict() for t in table_stats(conn)]
    if INDEXES in kinds:
        payloads[INDEXES] = [i.to_dict() for i in index_stats(conn)]
    if DATABASE in kinds:
        payloads[DATABASE] = [database_stats(conn).to_dict()]
    for kind, payload in payloads.items():
        store.save_snapshot(target_key, kind, payload, meta=meta, taken_at=taken_at)
        stored[kind] = len(payload)
    return SnapshotSummary(target_key, taken_at, stored)


def previous_statements(store: HistoryStore, target_key: str) -> tuple[datetime, list[StatementStats]] | None:
    """The newest stored statement snapshot of the target, if any."""
    found = previous_statement_snapshot(store, target_key)
    return None if found is None else (found[0], found[1])


def previous_statement_snapshot(
    store: HistoryStore, target_key: str
) -> tuple[datetime, list[StatementStats], dict[str, Any]] | None:
    """The newest statement snapshot with its metadata (server start, reset times)."""
    return _statement_snapshot(store, store.latest_snapshot(target_key, STATEMENTS))


def statement_snapshot_at(
    store: HistoryStore, target_key: str, at: datetime
) -> tuple[datetime, list[StatementStats], dict[str, Any]] | None:
    """The newest statement snapshot taken at or before `at` (the oldest one when all are younger)."""
    return _statement_snapshot(store, store.baseline_snapshot(target_key, STATEMENTS, at))


def _statement_snapshot(
    store: HistoryStore, snap: Snapshot | None
) -> tuple[datetime, list[StatementStats], dict[str, Any]] | None:
    if snap is None:
        return None
    with store.reading(STATEMENTS):
        statements = [StatementStats(**row) for row in snap.payload]
    return snap.taken_at, statements, dict(snap.meta)


def index_ages(store: HistoryStore, target_key: str, now: datetime) -> IndexAges | None:
    """Which indexes existed MIN_STATS_AGE ago: those in the newest index snapshot taken then or earlier.
    None when no snapshot is that old (or it predates pgdba recording OIDs): then nobody can tell which
    indexes are younger."""
    at = now - MIN_STATS_AGE
    snap = store.baseline_snapshot(target_key, INDEXES, at)
    if snap is None or snap.taken_at > at:
        return None
    with store.reading(INDEXES):
        oids = frozenset(int(row.get("oid") or 0) for row in snap.payload)
    if 0 in oids:
        return None
    return IndexAges(snap.taken_at, oids)


def size_history(
    store: HistoryStore,
    target_key: str,
    kind: str,
    *,
    limit: int = 1000,
    current_oids: Mapping[str, int] | None = None,
) -> list[tuple[datetime, dict[str, int]]]:
    """(taken_at, {object: bytes}) of the stored table ("tables") or database ("database") snapshots, newest
    first. A table that was locked by DDL when the snapshot was taken has only pg_class's estimate there: it
    is left out. So are a table's samples from before it was dropped and created again under its name (see
    `same_table_samples`), and a partitioned table's from before pgdba summed its partitions' sizes (0 then);
    `current_oids` (schema.table → OID, from `table_oids`) names the tables as they are now, else the newest
    snapshot does."""
    snaps = store.snapshots(target_key, kind, limit=limit)
    with store.reading(kind):
        if kind == TABLES:
            return same_table_samples(snaps, current_oids or {})
        return [
            (snap.taken_at, {row["database"]: int(row["size_bytes"]) for row in snap.payload})
            for snap in snaps
        ]


def same_table_samples(
    snaps: Sequence[Snapshot], current_oids: Mapping[str, int]
) -> list[tuple[datetime, dict[str, int]]]:
    """Each table snapshot's measured sizes, newest first. Going back, a table's samples stop at the first
    whose OID differs from the table's own (current_oids', else its newest sample's): from there on the name
    belonged to a table since dropped. Samples without an OID (older pgdba) count as the same table; a
    partitioned table's rows from before pgdba summed its partitions' sizes are no samples. Names key the
    series: a renamed table's (same OID) starts at the rename."""
    expected = {name: oid for name, oid in current_oids.items() if oid}
    ended: set[str] = set()
    samples = []
    for snap in snaps:
        sizes = {}
        for row in snap.payload:
            name = f"{row['schema']}.{row['table']}"
            oid = int(row.get("oid") or 0)
            if oid and expected.setdefault(name, oid) != oid:
                ended.add(name)
            if name not in ended and not row.get("locked") and not _unsummed_partitioned(row):
                sizes[name] = int(row["total_bytes"])
        samples.append((snap.taken_at, sizes))
    return samples


def _unsummed_partitioned(row: Mapping[str, Any]) -> bool:
    """A partitioned table's row from a pgdba that did not sum its partitions' sizes: its 0 bytes are no
    sample of it (growth from there would be its whole size)."""
    return row.get("kind") == "partitioned table" and not row.get("partitions_summed")


def table_oids(tables: Iterable[TableStats]) -> dict[str, int]:
    """schema.table → OID of the tables now: what `size_history` matches the stored samples against."""
    return {t.qualified_name: t.oid for t in tables}
