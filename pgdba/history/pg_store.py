"""The history store in a PostgreSQL database (`--store postgresql://…`): the same snapshots and records
as the SQLite file, in a `pgdba` schema, so a team (and many monitored databases) share one history.

The store database is pgdba's own bookkeeping, not the database being checked: its connection is an
ordinary read-write session, and the schema is created on first use (CREATE SCHEMA needs the CREATE
privilege on that database).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgdba.errors import InputError
from pgdba.history.store import HistoryStore, Snapshot, stored_keys
from pgdba.render import to_json
from pgdba.target import Target

SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS pgdba;
CREATE TABLE IF NOT EXISTS pgdba.snapshot (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target text NOT NULL,
    kind text NOT NULL,
    taken_at timestamptz NOT NULL,
    meta jsonb NOT NULL,
    payload jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshot_target_kind_taken ON pgdba.snapshot (target, kind, taken_at);
CREATE TABLE IF NOT EXISTS pgdba.record (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target text NOT NULL,
    kind text NOT NULL,
    recorded_at timestamptz NOT NULL,
    payload jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS record_target_kind_recorded ON pgdba.record (target, kind, recorded_at);
"""

SAVE_SNAPSHOT_SQL = """
INSERT INTO pgdba.snapshot (target, kind, taken_at, meta, payload)
VALUES (%(target)s, %(kind)s, %(taken_at)s, %(meta)s, %(payload)s)
RETURNING id
"""

SNAPSHOTS_SQL = """
SELECT id, target, kind, taken_at, meta, payload
  FROM pgdba.snapshot
 WHERE target = ANY(%(targets)s)
   AND kind = %(kind)s
   AND taken_at >= %(since)s
 ORDER BY taken_at DESC, id DESC
 LIMIT %(limit)s
"""

BASELINE_SNAPSHOT_SQL = """
(SELECT id, target, kind, taken_at, meta, payload, 0 AS rank
   FROM pgdba.snapshot
  WHERE target = ANY(%(targets)s) AND kind = %(kind)s AND taken_at <= %(at)s
  ORDER BY taken_at DESC, id DESC
  LIMIT 1)
UNION ALL
(SELECT id, target, kind, taken_at, meta, payload, 1 AS rank
   FROM pgdba.snapshot
  WHERE target = ANY(%(targets)s) AND kind = %(kind)s
  ORDER BY taken_at, id
  LIMIT 1)
ORDER BY rank
LIMIT 1
"""

ADD_RECORD_SQL = """
INSERT INTO pgdba.record (target, kind, recorded_at, payload)
VALUES (%(target)s, %(kind)s, %(recorded_at)s, %(payload)s)
RETURNING id
"""

RECORDS_SQL = """
SELECT id, recorded_at, payload
  FROM pgdba.record
 WHERE target = ANY(%(targets)s)
   AND kind = %(kind)s
 ORDER BY recorded_at DESC, id DESC
 LIMIT %(limit)s
"""


def _jsonb(value: Any) -> Jsonb:
    # through pgdba's JSON encoder: datetimes, decimals and dataclasses become JSON the same way as in SQLite
    return Jsonb(value, dumps=lambda _: to_json(value))


class PostgresHistoryStore(HistoryStore):
    """Snapshots and records in the `pgdba` schema of a PostgreSQL database."""

    def __init__(self, dsn: str) -> None:
        self.location = Target(dsn, "--store")
        self.path = None  # type: ignore[assignment]
        try:
            self._conn = psycopg.connect(dsn, autocommit=True, application_name="pgdba-history")
        except psycopg.Error as exc:
            raise InputError(
                f"cannot open history store {self.location.masked_dsn}: {str(exc).strip().splitlines()[-1]}"
            ) from None
        with self._conn.transaction():
            self._conn.execute(SCHEMA_SQL)

    @property
    def label(self) -> str:
        return self.location.masked_dsn

    def close(self) -> None:
        self._conn.close()

    def save_snapshot(
        self,
        target: str,
        kind: str,
        payload: Any,
        *,
        meta: dict[str, Any] | None = None,
        taken_at: datetime | None = None,
    ) -> int:
        row = self._conn.execute(
            SAVE_SNAPSHOT_SQL,
            {
                "target": str(target),
                "kind": kind,
                "taken_at": taken_at or datetime.now(UTC),
                "meta": _jsonb(meta or {}),
                "payload": _jsonb(payload),
            },
        ).fetchone()
        return int(row[0]) if row else 0

    def snapshots(
        self, target: str, kind: str, *, since: datetime | None = None, limit: int = 1000
    ) -> list[Snapshot]:
        rows = self._conn.execute(
            SNAPSHOTS_SQL,
            {
                "targets": list(stored_keys(target)),
                "kind": kind,
                "since": since or datetime(1970, 1, 1, tzinfo=UTC),
                "limit": limit,
            },
        ).fetchall()
        return [self.checked_snapshot(Snapshot(*r)) for r in rows]

    def baseline_snapshot(self, target: str, kind: str, at: datetime) -> Snapshot | None:
        params = {"targets": list(stored_keys(target)), "kind": kind, "at": at}
        row = self._conn.execute(BASELINE_SNAPSHOT_SQL, params).fetchone()
        return None if row is None else self.checked_snapshot(Snapshot(*row[:6]))

    def prune(self, older_than: timedelta) -> int:
        cutoff = datetime.now(UTC) - older_than
        with self._conn.transaction():
            a = self._conn.execute("DELETE FROM pgdba.snapshot WHERE taken_at < %s", (cutoff,)).rowcount
            b = self._conn.execute("DELETE FROM pgdba.record WHERE recorded_at < %s", (cutoff,)).rowcount
        return int(a + b)

    def add_record(self, target: str, kind: str, payload: Any, *, recorded_at: datetime | None = None) -> int:
        row = self._conn.execute(
            ADD_RECORD_SQL,
            {
                "target": str(target),
                "kind": kind,
                "recorded_at": recorded_at or datetime.now(UTC),
                "payload": _jsonb(payload),
            },
        ).fetchone()
        return int(row[0]) if row else 0

    def records(self, target: str, kind: str, *, limit: int = 100) -> list[tuple[datetime, Any]]:
        rows = self._conn.execute(
            RECORDS_SQL,
            {"targets": list(stored_keys(target)), "kind": kind, "limit": limit},
        ).fetchall()
        return [(recorded_at, self.checked_record(kind, i, payload)) for i, recorded_at, payload in rows]
