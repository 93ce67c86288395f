"""Database-level counters: size, transactions, cache hits, temp files, deadlocks, and wraparound ages."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row


@dataclass(frozen=True)
class DatabaseStats:
    database: str
    size_bytes: int
    backends: int
    xact_commit: int
    xact_rollback: int
    blks_read: int
    blks_hit: int
    temp_files: int
    temp_bytes: int
    deadlocks: int
    heap_blks_read: int
    heap_blks_hit: int
    idx_blks_read: int
    idx_blks_hit: int
    stats_reset: datetime | None

    @property
    def table_hit_ratio(self) -> float | None:
        touched = self.heap_blks_hit + self.heap_blks_read
        return None if touched == 0 else 100.0 * self.heap_blks_hit / touched

    @property
    def index_hit_ratio(self) -> float | None:
        touched = self.idx_blks_hit + self.idx_blks_read
        return None if touched == 0 else 100.0 * self.idx_blks_hit / touched

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DATABASE_STATS_SQL = """
SELECT d.datname AS database,
       pg_database_size(d.datid) AS size_bytes,
       d.numbackends AS backends,
       d.xact_commit,
       d.xact_rollback,
       d.blks_read,
       d.blks_hit,
       d.temp_files,
       d.temp_bytes,
       d.deadlocks,
       io.heap_blks_read,
       io.heap_blks_hit,
       io.idx_blks_read,
       io.idx_blks_hit,
       d.stats_reset
  FROM pg_stat_database AS d
 CROSS JOIN (SELECT coalesce(sum(heap_blks_read), 0)::bigint AS heap_blks_read,
                    coalesce(sum(heap_blks_hit), 0)::bigint AS heap_blks_hit,
                    coalesce(sum(idx_blks_read), 0)::bigint AS idx_blks_read,
                    coalesce(sum(idx_blks_hit), 0)::bigint AS idx_blks_hit
               FROM pg_statio_user_tables) AS io
 WHERE d.datname = current_database()
"""


def database_stats(conn: psycopg.Connection) -> DatabaseStats:
    """Counters of the current database since its last stats reset, with user-table cache hits."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(DATABASE_STATS_SQL).fetchone()
    assert row is not None
    return DatabaseStats(**row)


@dataclass(frozen=True)
class WraparoundAge:
    """How far a database (or table) is from transaction ID / multixact wraparound."""

    object: str
    xid_age: int
    mxid_age: int
    freeze_max_age: int
    multixact_freeze_max_age: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


WRAPAROUND_SQL = """
SELECT 'database ' || d.datname AS object,
       age(d.datfrozenxid)::bigint AS xid_age,
       mxid_age(d.datminmxid)::bigint AS mxid_age,
       current_setting('autovacuum_freeze_max_age')::bigint AS freeze_max_age,
       current_setting('autovacuum_multixact_freeze_max_age')::bigint AS multixact_freeze_max_age
  FROM pg_database AS d
 WHERE d.datallowconn
 ORDER BY greatest(age(d.datfrozenxid), mxid_age(d.datminmxid)) DESC
"""


def wraparound_ages(conn: psycopg.Connection) -> list[WraparoundAge]:
    """Transaction ID and multixact ages of every database that accepts connections, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(WRAPAROUND_SQL).fetchall()
    return [WraparoundAge(**row) for row in rows]
