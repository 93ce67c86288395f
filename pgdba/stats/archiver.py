"""WAL archiving as the server reports it: archive_mode and pg_stat_archiver (readable by any role)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
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
    stats_reset: datetime | None = None  # the counters count from here

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failing(self) -> bool:
        """The archiver's newest attempt failed: a failure after the last success (or with none at all)."""
        failed, archived = self.last_failed_time, self.last_archived_time
        return self.archive_mode != "off" and failed is not None and (archived is None or failed > archived)

    def time_without_success(self, now: datetime) -> timedelta | None:
        """While failing: how long no WAL file was archived (since the last success, else since the
        counters' reset); None while archiving works or is off."""
        if not self.failing:
            return None
        since = self.last_archived_time or self.stats_reset or self.last_failed_time
        return max(now - since, timedelta(0)) if since is not None else timedelta(0)


ARCHIVER_SQL = """
SELECT current_setting('archive_mode') AS archive_mode,
       a.archived_count,
       a.last_archived_wal,
       a.last_archived_time,
       a.failed_count,
       a.last_failed_wal,
       a.last_failed_time,
       a.stats_reset
  FROM pg_stat_archiver AS a
"""


def wal_archiver_status(conn: psycopg.Connection) -> ArchiverStatus:
    """archive_mode and the archiver's counters (since its last stats reset)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(ARCHIVER_SQL).fetchone()
    if row is None:  # pg_stat_archiver always has its one row
        raise psycopg.DataError("pg_stat_archiver returned no row")
    return ArchiverStatus(**row)
