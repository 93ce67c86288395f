"""Bounded samples of what the alert rules watch: one sampling function per metric family.

Collectors in pgdba.stats are reused where they exist (statements, tables). The activity, database-counter,
wraparound and replication queries live here until the check-up's collectors land.
Every function reads only, runs one or two small queries, and returns plain data.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgdba.history.store import HistoryStore
from pgdba.server import ServerFacts
from pgdba.stats.statements import statement_stats
from pgdba.stats.tables import table_stats
from pgdba.target import Target

XID_WRAPAROUND_LIMIT = 2**31
STATEMENT_LIMIT = 500
BACKUP_KIND = "backup"
RESTORE_TEST_KIND = "restore_test"


# ---- database counters (size, blocks, transactions, deadlocks, xid age) ----------------------------------
@dataclass(frozen=True)
class DatabaseCounters:
    datname: str
    size_bytes: int
    blks_hit: int
    blks_read: int
    xact_commit: int
    xact_rollback: int
    deadlocks: int
    xid_age: int


# TODO(checkup): switch to pgdba.stats.database once the check-up's database collector lands
DATABASE_COUNTERS_SQL = """
SELECT d.datname,
       pg_database_size(d.oid) AS size_bytes,
       coalesce(s.blks_hit, 0) AS blks_hit,
       coalesce(s.blks_read, 0) AS blks_read,
       coalesce(s.xact_commit, 0) AS xact_commit,
       coalesce(s.xact_rollback, 0) AS xact_rollback,
       coalesce(s.deadlocks, 0) AS deadlocks,
       age(d.datfrozenxid) AS xid_age
  FROM pg_database AS d
  LEFT JOIN pg_stat_database AS s ON s.datid = d.oid
 WHERE d.datallowconn
   AND NOT d.datistemplate
   AND has_database_privilege(d.oid, 'CONNECT')
 ORDER BY d.datname
"""


def sample_databases(conn: psycopg.Connection) -> list[DatabaseCounters]:
    """Size, cumulative counters and datfrozenxid age of every database pgdba may connect to."""
    with conn.cursor(row_factory=dict_row) as cur:
        return [DatabaseCounters(**row) for row in cur.execute(DATABASE_COUNTERS_SQL).fetchall()]


# ---- activity (connections, long transactions, idle in transaction, blocked sessions) ------------------
@dataclass(frozen=True)
class ActivitySample:
    by_state: dict[tuple[str, str], int]  # (datname, state) → client backends
    max_connections: int
    reserved_connections: int
    longest_transaction_s: float
    longest_transaction_by_state: dict[tuple[str, str], float]
    idle_in_transaction_s: float
    blocked_sessions: int

    @property
    def client_connections(self) -> int:
        return sum(self.by_state.values())

    @property
    def usable_connections(self) -> int:
        return max(self.max_connections - self.reserved_connections, 1)


# TODO(checkup): switch to pgdba.stats.activity once the check-up's activity collector lands
ACTIVITY_SQL = """
SELECT coalesce(a.datname, '') AS datname,
       coalesce(a.state, 'unknown') AS state,
       count(*) AS sessions,
       coalesce(max(extract(epoch FROM now() - a.xact_start)), 0) AS longest_transaction_s,
       coalesce(max(extract(epoch FROM now() - a.state_change))
                  FILTER (WHERE a.state LIKE 'idle in transaction%'), 0) AS idle_in_transaction_s,
       count(*) FILTER (WHERE cardinality(pg_blocking_pids(a.pid)) > 0) AS blocked
  FROM pg_stat_activity AS a
 WHERE a.backend_type = 'client backend'
 GROUP BY 1, 2
"""

CONNECTION_LIMITS_SQL = """
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int
         + coalesce(current_setting('reserved_connections', true)::int, 0) AS reserved
"""


def sample_activity(conn: psycopg.Connection) -> ActivitySample:
    """Client sessions by database and state, the oldest transaction, the longest idle-in-transaction, blocked."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(ACTIVITY_SQL).fetchall()
        limits = cur.execute(CONNECTION_LIMITS_SQL).fetchone()
    assert limits is not None
    return ActivitySample(
        by_state={(r["datname"], r["state"]): int(r["sessions"]) for r in rows},
        max_connections=int(limits["max_connections"]),
        reserved_connections=int(limits["reserved"]),
        longest_transaction_s=max((float(r["longest_transaction_s"]) for r in rows), default=0.0),
        longest_transaction_by_state={
            (r["datname"], r["state"]): float(r["longest_transaction_s"]) for r in rows
        },
        idle_in_transaction_s=max((float(r["idle_in_transaction_s"]) for r in rows), default=0.0),
        blocked_sessions=sum(int(r["blocked"]) for r in rows),
    )


# ---- statements (cumulative calls and time per statement) -----------------------------------------------
@dataclass(frozen=True)
class StatementCounter:
    key: str  # queryid/dbid/userid/toplevel
    queryid: int
    userid: int
    calls: int
    total_ms: float
    query: str


def sample_statements(conn: psycopg.Connection, facts: ServerFacts) -> list[StatementCounter]:
    """The current database's statements by total time (at most STATEMENT_LIMIT), via pgdba.stats."""
    return [
        StatementCounter(
            key=f"{s.queryid}/{s.dbid}/{s.userid}/{int(s.toplevel)}",
            queryid=s.queryid,
            userid=s.userid,
            calls=s.calls,
            total_ms=s.total_ms,
            query=" ".join(s.query.split())[:120],
        )
        for s in statement_stats(conn, facts, limit=STATEMENT_LIMIT)
    ]


# ---- tables (size, live and dead rows of the largest tables) --------------------------------------------
@dataclass(frozen=True)
class TableSample:
    name: str  # schema.table
    total_bytes: int
    live_rows: int
    dead_rows: int


def sample_tables(
    conn: psycopg.Connection, *, top: int = 50, always: tuple[str, ...] = ()
) -> list[TableSample]:
    """The `top` largest tables plus those named in `always` ("schema.table" or bare names), via pgdba.stats."""
    wanted = set(always)
    out = []
    for rank, t in enumerate(table_stats(conn)):
        if rank < top or t.qualified_name in wanted or t.table in wanted:
            out.append(TableSample(t.qualified_name, t.total_bytes, t.live_rows, t.dead_rows))
    return out


# ---- replication (lag and slots) ------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplicationSample:
    is_replica: bool
    lag_seconds: float | None  # None: no standby connected (primary) / nothing replayed yet (standby)
    slots: dict[str, bool] = field(default_factory=dict)  # slot name → active

    @property
    def inactive_slots(self) -> int:
        return sum(1 for active in self.slots.values() if not active)


# TODO(checkup): switch to pgdba.stats.replication once the check-up's replication collector lands
REPLICATION_LAG_SQL = """
SELECT pg_is_in_recovery() AS is_replica,
       CASE WHEN pg_is_in_recovery()
            THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())
            ELSE (SELECT max(extract(epoch FROM replay_lag)) FROM pg_stat_replication)
       END AS lag_seconds
"""

REPLICATION_SLOTS_SQL = """
SELECT slot_name,
       active
  FROM pg_replication_slots
"""


def sample_replication(conn: psycopg.Connection) -> ReplicationSample:
    with conn.cursor(row_factory=dict_row) as cur:
        lag = cur.execute(REPLICATION_LAG_SQL).fetchone()
        slots = cur.execute(REPLICATION_SLOTS_SQL).fetchall()
    assert lag is not None
    return ReplicationSample(
        is_replica=bool(lag["is_replica"]),
        lag_seconds=None if lag["lag_seconds"] is None else float(lag["lag_seconds"]),
        slots={s["slot_name"]: bool(s["active"]) for s in slots},
    )


# ---- disk (the filesystem of the data directory, when this machine can see it) ------------------------
@dataclass(frozen=True)
class DiskSample:
    path: str
    used_bytes: int | None
    avail_bytes: int | None
    reason: str = ""  # why it is not measurable

    @property
    def usage_percent(self) -> float | None:
        if self.used_bytes is None or self.avail_bytes is None:
            return None
        return 100.0 * self.used_bytes / max(self.used_bytes + self.avail_bytes, 1)


DATA_DIRECTORY_SQL = """
SELECT current_setting('data_directory', true) AS data_directory,
       current_setting('port') AS port
"""

_LOCAL_HOSTS = ("", "localhost", "127.0.0.1", "::1")


def sample_disk(conn: psycopg.Connection, target: Target) -> DiskSample:
    """shutil.disk_usage of data_directory when the server runs on this machine; else 'not measurable'."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(DATA_DIRECTORY_SQL).fetchone()
    assert row is not None
    data_dir = row["data_directory"]
    if not data_dir:
        return DiskSample("", None, None, "not measurable: data_directory is not readable (needs pg_monitor)")
    host = str(target.params().get("host") or os.environ.get("PGHOST") or "")
    if not (host in _LOCAL_HOSTS or host.startswith("/")):
        return DiskSample(
            data_dir, None, None, f"not measurable: the server runs on {host}, not this machine"
        )
    if not Path(data_dir).is_dir() or not _same_server(Path(data_dir), str(row["port"])):
        return DiskSample(
            data_dir, None, None, f"not measurable: {data_dir} is not visible from this machine"
        )
    usage = shutil.disk_usage(data_dir)
    # used / (used + available), as df and Netdata compute it: root-reserved blocks count as unavailable
    return DiskSample(data_dir, usage.used, usage.free)


def _same_server(data_dir: Path, port: str) -> bool:
    """The data directory here belongs to the server we talk to (postmaster.pid names its port), when readable."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return True  # a directory we may not read (0700, another user) is still the one the server reported
    return len(lines) < 4 or lines[3].strip() == port


# ---- backups and restore tests (history records written by the backup commands) ------------------------
@dataclass(frozen=True)
class BackupSample:
    last_backup: datetime | None
    last_restore_test: datetime | None


def sample_backups(store: HistoryStore, target_key: str) -> BackupSample:
    return BackupSample(
        _last_success(store.records(target_key, BACKUP_KIND, limit=50)),
        _last_success(store.records(target_key, RESTORE_TEST_KIND, limit=50)),
    )


def _last_success(records: list[tuple[datetime, Any]]) -> datetime | None:
    """The newest record that does not say it failed (ok=false, or a status other than ok/success/passed)."""
    for recorded_at, payload in records:
        if _succeeded(payload):
            return _finished_at(payload) or recorded_at
    return None


def _succeeded(payload: Any) -> bool:
    if not isinstance(payload, dict):
        return True
    if payload.get("ok") is False or payload.get("success") is False or payload.get("passed") is False:
        return False
    status = str(payload.get("status", "ok")).lower()
    return status in ("ok", "success", "succeeded", "passed", "verified", "completed", "done")


def _finished_at(payload: Any) -> datetime | None:
    if not isinstance(payload, dict):
        return None
    for key in ("finished_at", "completed_at", "ended_at"):
        value = payload.get(key)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                continue
    return None
