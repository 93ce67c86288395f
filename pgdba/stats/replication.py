"""Replication slots and standby lag."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row


@dataclass(frozen=True)
class ReplicationSlot:
    name: str
    slot_type: str
    database: str | None
    active: bool
    retained_bytes: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SLOTS_SQL = """
SELECT s.slot_name AS name,
       s.slot_type,
       s.database,
       s.active,
       CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint
       END AS retained_bytes
  FROM pg_replication_slots AS s
 ORDER BY s.slot_name
"""


def replication_slots(conn: psycopg.Connection) -> list[ReplicationSlot]:
    """Every replication slot with the WAL it keeps on disk (NULL on a standby)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(SLOTS_SQL).fetchall()
    return [ReplicationSlot(**row) for row in rows]


@dataclass(frozen=True)
class StandbyLag:
    application: str
    client: str | None
    state: str | None
    replay_lag_seconds: float | None
    replay_lag_bytes: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


STANDBY_LAG_SQL = """
SELECT coalesce(r.application_name, '') AS application,
       host(r.client_addr) AS client,
       r.state,
       extract(epoch FROM r.replay_lag)::float8 AS replay_lag_seconds,
       pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint AS replay_lag_bytes
  FROM pg_stat_replication AS r
 ORDER BY r.application_name
"""


def standby_lag(conn: psycopg.Connection) -> list[StandbyLag]:
    """Lag of every standby streaming from this primary (empty on a standby or without standbys)."""
    with conn.cursor(row_factory=dict_row) as cur:
        if cur.execute("SELECT pg_is_in_recovery()").fetchone() == (True,):
            return []
        rows = cur.execute(STANDBY_LAG_SQL).fetchall()
    return [StandbyLag(**row) for row in rows]
