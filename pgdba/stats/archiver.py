"""WAL archiving as the server reports it: archive_mode and pg_stat_archiver (readable by any role)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row


@dataclass(frozen=True)
class ArchiverStatus:
    archive_mode: str  # off | on | always
    archived_count: int
    last_archived_wal: str | None
    last_archived_time: datetime | None
    failed_count: int
    last_failed_wal: str | None
    last_failed_time: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ARCHIVER_SQL = """
SELECT current_setting('archive_mode') AS archive_mode,
       a.archived_count,
       a.last_archived_wal,
       a.last_archived_time,
       a.failed_count,
       a.last_failed_wal,
       a.last_failed_time
  FROM pg_stat_archiver AS a
"""


def wal_archiver_status(conn: psycopg.Connection) -> ArchiverStatus:
    """archive_mode and the archiver's counters (since its last stats reset)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(ARCHIVER_SQL).fetchone()
    if row is None:  # pg_stat_archiver always has its one row
        raise psycopg.DataError("pg_stat_archiver returned no row")
    return ArchiverStatus(**row)
