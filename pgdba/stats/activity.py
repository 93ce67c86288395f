"""Sessions, locks and blocking chains from pg_stat_activity and pg_blocking_pids()."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row


@dataclass(frozen=True)
class SessionActivity:
    """One client session other than pgdba's own, with how long its transaction and query have run."""

    pid: int
    database: str | None
    user: str | None
    application: str
    state: str | None
    wait_event_type: str | None
    wait_event: str | None
    xact_seconds: float | None
    query_seconds: float | None
    state_seconds: float | None
    blocked_by: tuple[int, ...]
    query: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# a session's query text is kept as its client sent it, in its own database's encoding, and handed out
# unconverted: Latin-1 bytes from a session of a SQL_ASCII database read as U+FFFD in pgdba's sessions
# (pgdba.target.ReplacingTextLoader), not as a decoding error that fails every row
SESSIONS_SQL = """
SELECT a.pid,
       a.datname AS database,
       a.usename AS "user",
       coalesce(a.application_name, '') AS application,
       a.state,
       a.wait_event_type,
       a.wait_event,
       extract(epoch FROM now() - a.xact_start)::float8 AS xact_seconds,
       extract(epoch FROM now() - a.query_start)::float8 AS query_seconds,
       extract(epoch FROM now() - a.state_change)::float8 AS state_seconds,
       pg_blocking_pids(a.pid) AS blocked_by,
       coalesce(a.query, '') AS query
  FROM pg_stat_activity AS a
 WHERE a.backend_type = 'client backend'
   AND a.pid <> pg_backend_pid()
 ORDER BY a.xact_start NULLS LAST
"""


def session_activity(conn: psycopg.Connection) -> list[SessionActivity]:
    """Every client session of the server (not only this database), oldest transaction first."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(SESSIONS_SQL).fetchall()
    return [SessionActivity(**{**row, "blocked_by": tuple(row["blocked_by"] or ())}) for row in rows]


@dataclass(frozen=True)
class ConnectionUsage:
    """Client connections in use (pgdba's own session left out: it is not the application's load) against
    what max_connections leaves to ordinary roles."""

    connections: int
    max_connections: int
    reserved: int

    @property
    def usable(self) -> int:
        return max(self.max_connections - self.reserved, 1)

    @property
    def used_ratio(self) -> float:
        return self.connections / self.usable


# pgdba's own session is not the application's load; counted, a superuser's session that found every usable
# slot taken (it sits in a reserved one) would read as more than 100 % of what the application may use
CONNECTIONS_SQL = """
SELECT (SELECT count(*)
          FROM pg_stat_activity
         WHERE backend_type = 'client backend'
           AND pid <> pg_backend_pid()) AS connections,
       current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int
         + coalesce(current_setting('reserved_connections', true)::int, 0) AS reserved
"""


def connection_usage(conn: psycopg.Connection) -> ConnectionUsage:
    """Client connections in use but this session, max_connections and the slots reserved for superusers
    (and pg_use_reserved_connections)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(CONNECTIONS_SQL).fetchone()
    assert row is not None
    return ConnectionUsage(**row)
