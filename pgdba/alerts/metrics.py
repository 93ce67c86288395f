"""Bounded samples of what the alert rules watch: one sampling function per metric family.

Each family reuses the collectors of pgdba.stats (statements, tables, activity, database, replication);
only what they do not ask (a standby's own replay delay, the data directory's filesystem) is queried here.
Every function reads only and returns plain data.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgdba.backup.server_identity import records_of_server
from pgdba.checks.queries import StatementSet
from pgdba.errors import NotAvailable
from pgdba.history.store import HistoryStore
from pgdba.server import ServerFacts
from pgdba.stats.activity import connection_usage, session_activity
from pgdba.stats.archiver import ArchiverStatus, wal_archiver_status
from pgdba.stats.database import database_stats, wraparound_ages
from pgdba.stats.functions import user_functions
from pgdba.stats.replication import replication_slots, standby_lag
from pgdba.stats.statements import hidden_statements, statement_stats
from pgdba.stats.tables import table_stats
from pgdba.target import Target

XID_WRAPAROUND_LIMIT = 2**31
STATEMENT_LIMIT = 500
BACKUP_KIND = "backup"
RESTORE_TEST_KIND = "restore_test"


# ---- database counters (size, blocks, transactions, deadlocks) and xid ages ------------------------------
@dataclass(frozen=True)
class DatabaseCounters:
    datname: str
    size_bytes: int
    blks_hit: int
    blks_read: int
    xact_commit: int
    xact_rollback: int
    deadlocks: int


@dataclass(frozen=True)
class DatabaseSample:
    current: DatabaseCounters  # the target's database
    xid_ages: dict[str, int]  # age(datfrozenxid) of every database that accepts connections


def sample_databases(conn: psycopg.Connection) -> DatabaseSample:
    """Size and cumulative counters of the current database, xid ages of all, via pgdba.stats.database."""
    stats = database_stats(conn)
    ages = {w.object.removeprefix("database "): w.xid_age for w in wraparound_ages(conn)}
    current = DatabaseCounters(
        stats.database,
        stats.size_bytes,
        stats.blks_hit,
        stats.blks_read,
        stats.xact_commit,
        stats.xact_rollback,
        stats.deadlocks,
    )
    return DatabaseSample(current, ages)


# ---- activity (connections, long transactions, idle in transaction, blocked sessions) ------------------
@dataclass(frozen=True)
class ActivitySample:
    by_state: dict[tuple[str, str], int]  # (datname, state) → client backends
    connections: int  # every client backend but pgdba's own session (not the application's load)
    max_connections: int
    reserved_connections: int
    longest_transaction_s: float
    longest_transaction_by_state: dict[tuple[str, str], float]
    idle_in_transaction_s: float
    blocked_sessions: int

    @property
    def usable_connections(self) -> int:
        return max(self.max_connections - self.reserved_connections, 1)


def sample_activity(conn: psycopg.Connection) -> ActivitySample:
    """Sessions by database and state, the oldest transaction, the longest idle-in-transaction and the
    blocked sessions, via pgdba.stats.activity."""
    sessions = session_activity(conn)
    usage = connection_usage(conn)
    by_state: dict[tuple[str, str], int] = {}
    longest: dict[tuple[str, str], float] = {}
    for session in sessions:
        key = (session.database or "", session.state or "unknown")
        by_state[key] = by_state.get(key, 0) + 1
        longest[key] = max(longest.get(key, 0.0), session.xact_seconds or 0.0)
    # pgdba's own session is not counted (as in connection_usage); its database still has a series, at 0
    own = (conn.info.dbname, "active")
    by_state.setdefault(own, 0)
    longest.setdefault(own, 0.0)
    idle = [s.state_seconds or 0.0 for s in sessions if (s.state or "").startswith("idle in transaction")]
    return ActivitySample(
        by_state=by_state,
        connections=usage.connections,
        max_connections=usage.max_connections,
        reserved_connections=usage.reserved,
        longest_transaction_s=max(longest.values(), default=0.0),
        longest_transaction_by_state=longest,
        idle_in_transaction_s=max(idle, default=0.0),
        blocked_sessions=sum(1 for s in sessions if s.blocked_by),
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
    # top-level DML on user tables or a call of the database's own functions, the check-up's filter: a
    # slow DROP DATABASE or a catalog query is not the application's slow query
    application: bool = True


def sample_statements(conn: psycopg.Connection, facts: ServerFacts) -> list[StatementCounter]:
    """The current database's statements by total time (at most STATEMENT_LIMIT), via pgdba.stats, each
    marked whether it is an application statement as the check-up counts them."""
    statements = statement_stats(conn, facts, limit=STATEMENT_LIMIT)
    pool = StatementSet(statements, functions=user_functions(conn))
    hidden = hidden_statements(conn, facts)
    if hidden is not None and (hidden := pool.weigh(hidden)).most:
        # the slowest statement may well be one this role cannot see: unknown, never a quiet 0
        raise NotAvailable(hidden.reason())
    application = {  # every row of an application statement, whichever of its rows the check-up shows
        (row.queryid, row.dbid) for s in pool.stats if pool.is_application(s) for row in pool.rows_of(s)
    }
    return [
        StatementCounter(
            key=f"{s.queryid}/{s.dbid}/{s.userid}/{int(s.toplevel)}",
            queryid=s.queryid,
            userid=s.userid,
            calls=s.calls,
            total_ms=s.total_ms,
            query=" ".join(s.query.split())[:120],
            application=s.toplevel and (s.queryid, s.dbid) in application,
        )
        for s in statements
    ]


# ---- tables (size, live and dead rows of the largest tables) --------------------------------------------
@dataclass(frozen=True)
class TableSample:
    name: str  # schema.table
    total_bytes: int
    live_rows: int
    dead_rows: int
    locked: bool = False  # another session holds ACCESS EXCLUSIVE: total_bytes is pg_class's estimate
    oid: int = 0  # a new one when the table is dropped and created again under its name
    partitioned: bool = False  # a partitioned table: total_bytes is its partitions' summed
    schema: str = ""  # name's parts as the catalog has them (a schema's name may hold a dot)
    table: str = ""


def sample_tables(
    conn: psycopg.Connection, *, top: int = 50, always: tuple[str, ...] = ()
) -> list[TableSample]:
    """The `top` largest tables plus those named in `always` ("schema.table" or bare names), via pgdba.stats."""
    wanted = set(always)
    out = []
    for rank, t in enumerate(table_stats(conn)):
        if rank < top or t.qualified_name in wanted or t.table in wanted:
            out.append(
                TableSample(
                    t.qualified_name,
                    t.total_bytes,
                    t.live_rows,
                    t.dead_rows,
                    t.locked,
                    t.oid,
                    t.partitions_summed,
                    t.schema,
                    t.table,
                )
            )
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


# pgdba.stats.replication reports a primary's standbys; a standby's own replay delay is asked here. The time
# since the last replayed commit grows while the primary is idle: a standby that streams and has replayed
# all it received is not behind (postgres_exporter's pg_replication_lag does the same). A standby that lost
# its primary (no streaming wal receiver) keeps counting.
STANDBY_REPLAY_SQL = """
SELECT pg_is_in_recovery() AS is_replica,
       CASE
         WHEN pg_is_in_recovery()
          AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
          AND EXISTS (SELECT 1
                        FROM pg_stat_wal_receiver
                       WHERE status = 'streaming')
         THEN 0.0
         ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
       END AS replay_delay_s
"""


def sample_replication(conn: psycopg.Connection) -> ReplicationSample:
    """Replay lag of the slowest standby (primary) or of this standby, and the slots, via pgdba.stats."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(STANDBY_REPLAY_SQL).fetchone()
    assert row is not None
    if row["is_replica"]:
        lag = row["replay_delay_s"]
    else:
        lags = [s.replay_lag_seconds for s in standby_lag(conn) if s.replay_lag_seconds is not None]
        lag = max(lags, default=None)
    return ReplicationSample(
        is_replica=bool(row["is_replica"]),
        lag_seconds=None if lag is None else float(lag),
        slots={slot.name: slot.active for slot in replication_slots(conn)},
    )


# ---- disk (the fullest filesystem PostgreSQL writes to, when this machine can see it) ------------------
@dataclass(frozen=True)
class DiskSample:
    path: str  # the data directory, pg_wal or a tablespace: the one on the fullest filesystem
    used_bytes: int | None
    avail_bytes: int | None
    reason: str = ""  # why it is not measurable
    checked: tuple[str, ...] = ()  # one path per filesystem that was measured

    @property
    def usage_percent(self) -> float | None:
        if self.used_bytes is None or self.avail_bytes is None:
            return None
        return 100.0 * self.used_bytes / max(self.used_bytes + self.avail_bytes, 1)


DATA_DIRECTORY_SQL = """
SELECT current_setting('data_directory', true) AS data_directory,
       current_setting('port') AS port
"""

# tablespaces outside the data directory (pg_default and pg_global have no location)
TABLESPACE_LOCATIONS_SQL = """
SELECT pg_tablespace_location(oid) AS location
  FROM pg_tablespace
 WHERE pg_tablespace_location(oid) <> ''
 ORDER BY spcname
"""

_LOCAL_HOSTS = ("", "localhost", "127.0.0.1", "::1")
DATA_DIRECTORY_NOT_READABLE = "not measurable: data_directory is not readable (needs pg_monitor)"


def sample_disk(conn: psycopg.Connection, target: Target) -> DiskSample:
    """shutil.disk_usage of the fullest filesystem among the data directory, pg_wal (often a symlink to its
    own disk) and the tablespaces, when the server runs on this machine; else 'not measurable'."""
    data_dir, reason = _local_data_directory(conn, target)
    if reason:
        return DiskSample(data_dir, None, None, reason)
    with conn.cursor(row_factory=dict_row) as cur:
        locations = [r["location"] for r in cur.execute(TABLESPACE_LOCATIONS_SQL).fetchall()]
    measured = _filesystem_usage([data_dir, os.path.join(data_dir, "pg_wal"), *locations])
    if not measured:
        return DiskSample(data_dir, None, None, f"not measurable: cannot read the filesystem of {data_dir}")
    # used / (used + available), as df and Netdata compute it: root-reserved blocks count as unavailable
    path, used, free = max(measured, key=lambda m: m[1] / max(m[1] + m[2], 1))
    return DiskSample(path, used, free, checked=tuple(m[0] for m in measured))


def data_directory_disk(conn: psycopg.Connection, target: Target) -> DiskSample:
    """shutil.disk_usage of the data directory's filesystem, where CREATE DATABASE puts a new database (the
    pg_default tablespace), when the server runs on this machine; else 'not measurable'. The restore test
    reads it before it creates its scratch database, often as a role that may not read data_directory."""
    try:
        with conn.transaction():  # a savepoint inside an open transaction: the refusal does not abort it
            data_dir, reason = _local_data_directory(conn, target)
    except psycopg.errors.InsufficientPrivilege:
        data_dir, reason = "", DATA_DIRECTORY_NOT_READABLE
    if reason:
        return DiskSample(data_dir, None, None, reason)
    measured = _filesystem_usage([data_dir])
    if not measured:
        return DiskSample(data_dir, None, None, f"not measurable: cannot read the filesystem of {data_dir}")
    path, used, free = measured[0]
    return DiskSample(path, used, free, checked=(path,))


def _local_data_directory(conn: psycopg.Connection, target: Target) -> tuple[str, str]:
    """(the server's data directory, why this machine cannot measure its filesystems: "" when it can)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(DATA_DIRECTORY_SQL).fetchone()
    assert row is not None
    data_dir = row["data_directory"]
    if not data_dir:
        return "", DATA_DIRECTORY_NOT_READABLE
    host = str(target.params().get("host") or os.environ.get("PGHOST") or "")
    if not (host in _LOCAL_HOSTS or host.startswith("/")):
        return data_dir, f"not measurable: the server runs on {host}, not this machine"
    if not Path(data_dir).is_dir() or not _same_server(Path(data_dir), str(row["port"])):
        return data_dir, f"not measurable: {data_dir} is not visible from this machine"
    return data_dir, ""


def _filesystem_usage(paths: list[str]) -> list[tuple[str, int, int]]:
    """(path, used, free) of the first visible path on each filesystem (paths this user cannot see are skipped)."""
    seen: set[int] = set()
    out = []
    for path in paths:
        try:
            device = os.stat(path).st_dev
            usage = shutil.disk_usage(path)
        except OSError:
            continue
        if device not in seen:
            seen.add(device)
            out.append((path, usage.used, usage.free))
    return out


def _same_server(data_dir: Path, port: str) -> bool:
    """The data directory here belongs to the server we talk to (postmaster.pid names its port), when readable."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return True  # a directory we may not read (0700, another user) is still the one the server reported
    return len(lines) < 4 or lines[3].strip() == port


# ---- WAL archiving (pg_stat_archiver) --------------------------------------------------------------------
def sample_archiver(conn: psycopg.Connection) -> ArchiverStatus:
    """archive_mode and the archiver's counters, via pgdba.stats.archiver (the check-up reads the same)."""
    return wal_archiver_status(conn)


# ---- backups and restore tests (history records written by the backup commands) ------------------------
# records read per check; when none of them succeeded, up to DEEP_RECORD_LIMIT are read to find the last
# success (or the first attempt): a job failing daily for months still counts from its real start
RECORD_LIMIT = 50
DEEP_RECORD_LIMIT = 10_000


@dataclass(frozen=True)
class JobRecords:
    """What the history store says of one kind of job (backups or restore tests) of the target."""

    last_success: datetime | None = None
    # the first attempt that failed after the last success (of all recorded when none succeeded); None while
    # the newest attempt succeeded
    failing_since: datetime | None = None
    failed_since_success: int = 0  # attempts that failed after the last success
    last_attempt: datetime | None = None
    last_failed: bool | None = None  # the newest attempt failed; None: no attempt recorded

    @property
    def attempted(self) -> bool:
        return self.last_attempt is not None

    @property
    def age_since(self) -> datetime | None:
        """What an age counts from: the last success, else (none ever succeeded) the first failed attempt."""
        return self.last_success or self.failing_since


@dataclass(frozen=True)
class BackupSample:
    backups: JobRecords
    restore_tests: JobRecords
    # when no restore test of this server was ever recorded: its first successful backup, from which the
    # restore-test age counts (backups taken for weeks and never restored are overdue, not "unknown")
    untested_since: datetime | None = None

    @property
    def last_backup(self) -> datetime | None:
        return self.backups.last_success

    @property
    def last_restore_test(self) -> datetime | None:
        return self.restore_tests.last_success


def sample_backups(
    store: HistoryStore, target_key: str, system_identifier: str | None = None
) -> BackupSample:
    """The backups and restore tests recorded for the target; records naming another server (two servers'
    jobs can use one key, e.g. localhost:5432/app, in a shared store) are not this one's."""
    backups = job_records(store, target_key, BACKUP_KIND, system_identifier)
    restore_tests = job_records(store, target_key, RESTORE_TEST_KIND, system_identifier)
    untested_since = None
    if backups.last_success is not None and not restore_tests.attempted:
        untested_since = first_success(store, target_key, BACKUP_KIND, system_identifier)
    return BackupSample(backups, restore_tests, untested_since)


def first_success(
    store: HistoryStore, target_key: str, kind: str, system_identifier: str | None = None
) -> datetime | None:
    """When the oldest successful record of one kind (among the newest DEEP_RECORD_LIMIT) finished."""
    found = store.records(target_key, kind, limit=DEEP_RECORD_LIMIT)
    times = [
        _finished_at(payload) or recorded_at
        for recorded_at, payload in records_of_server(found, system_identifier)
        if succeeded(payload)
    ]
    return min(times, default=None)


def job_records(
    store: HistoryStore, target_key: str, kind: str, system_identifier: str | None = None
) -> JobRecords:
    """The last success, the failures since and the newest attempt among the records of one kind."""
    found = store.records(target_key, kind, limit=RECORD_LIMIT)
    mine = records_of_server(found, system_identifier)
    if len(found) == RECORD_LIMIT and not any(succeeded(payload) for _, payload in mine):
        mine = records_of_server(store.records(target_key, kind, limit=DEEP_RECORD_LIMIT), system_identifier)
    return summarise_records(mine)


def summarise_records(records: list[tuple[datetime, Any]]) -> JobRecords:
    """JobRecords of records newest first (as the history store returns them)."""
    if not records:
        return JobRecords()
    failed: list[datetime] = []
    last_success = None
    for recorded_at, payload in records:
        when = _finished_at(payload) or recorded_at
        if succeeded(payload):
            last_success = when
            break
        failed.append(when)
    newest_at, newest = records[0]
    return JobRecords(
        last_success=last_success,
        failing_since=min(failed) if failed else None,
        failed_since_success=len(failed),
        last_attempt=_finished_at(newest) or newest_at,
        last_failed=not succeeded(newest),
    )


def succeeded(payload: Any) -> bool:
    """A backup or restore-test record that does not say it failed (ok=false, passed=false, or a status
    other than ok/success/passed)."""
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
                when = datetime.fromisoformat(value)
            except ValueError:
                continue
            return when if when.tzinfo else when.replace(tzinfo=UTC)  # compared with the store's UTC times
    return None
