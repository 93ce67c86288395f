"""Which server a backup came from: the cluster's system identifier (pg_control_system()), recorded in
every manifest, so the backups of two servers that each have a database of the same name and share one
storage are two series, never one.

The identifier is the same on a primary and its physical standbys, and stays after a standby is promoted
(one series, as a DBA expects); initdb, and so pg_upgrade, makes a new one (a new series: the old backups
are another server's from then on). A clone made from a base backup keeps the identifier of its source.
A manifest written by an earlier pgdba has none: it counts as any server's, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg

from pgdba.errors import InputError, PgdbaError

if TYPE_CHECKING:
    from pgdba.backup.manifest import BackupInfo
    from pgdba.target import Target

# EXECUTE is granted to PUBLIC by default (checked on PostgreSQL 15): a role without pg_monitor reads it
SYSTEM_IDENTIFIER_SQL = """
SELECT system_identifier::text
  FROM pg_control_system()
"""

SHORT_DIGITS = 6  # the low digits: the high bits of the identifier are initdb's time, alike across servers
NOT_RECORDED = "not recorded"


@dataclass
class ServerReached:
    """The server a job has connected to, filled in by the job as soon as it has (read once, early): a
    failure recorded afterwards names the server. A job that failed before connecting has no identifier,
    and its failure counts for every server recording under its key (same_server)."""

    system_identifier: str | None = None


def read_system_identifier(conn: psycopg.Connection) -> str | None:
    """The cluster's system identifier, or None when pg_control_system() is not readable (EXECUTE revoked,
    a fork without it); in its own (sub)transaction, so a failure never aborts the caller's."""
    try:
        with conn.transaction():
            row = conn.execute(SYSTEM_IDENTIFIER_SQL).fetchone()
    except psycopg.Error:
        return None
    return str(row[0]) if row and row[0] is not None else None


def target_system_identifier(target: Target) -> str | None:
    """The system identifier of the target's server; ConnectionFailed when it cannot be reached."""
    with target.connect() as conn:
        return read_system_identifier(conn)


def reachable_system_identifier(target: Target) -> str | None:
    """As target_system_identifier, but None when the server cannot be reached (a listing still works)."""
    try:
        return target_system_identifier(target)
    except PgdbaError:
        return None


def short_identifier(system_identifier: str | None) -> str:
    """The identifier as a table shows it: its last digits (…123456), or 'not recorded'."""
    if system_identifier is None:
        return NOT_RECORDED
    return "…" + system_identifier[-SHORT_DIGITS:]


def same_server(recorded: str | None, system_identifier: str | None) -> bool:
    """A backup recorded as `recorded` belongs to the server `system_identifier`; an unknown side (an
    older manifest, an unreadable identifier) matches, as every backup did before identifiers."""
    return recorded is None or system_identifier is None or recorded == system_identifier


def backups_of_server(backups: Iterable[BackupInfo], system_identifier: str | None) -> list[BackupInfo]:
    return [b for b in backups if same_server(b.system_identifier, system_identifier)]


def records_of_server(
    records: Iterable[tuple[datetime, Any]], system_identifier: str | None
) -> list[tuple[datetime, Any]]:
    """History-store records (recorded_at, payload) of the server `system_identifier`: two servers' jobs can
    record under one key (e.g. localhost:5432/app) in a shared store, and a payload naming another
    server's identifier is not this one's."""
    return [
        (recorded_at, payload)
        for recorded_at, payload in records
        if not isinstance(payload, dict) or same_server(payload.get("system_identifier"), system_identifier)
    ]


@dataclass(frozen=True)
class OtherServerBackups:
    """Backups under a database name this server also has, taken on another server."""

    database: str
    system_identifier: str
    backups: int

    def note(self, not_what: str) -> str:
        """'N backups of another server (system identifier X) under the same database name 'app' are
        not {not_what}'."""
        backups, verb = ("1 backup", "is") if self.backups == 1 else (f"{self.backups} backups", "are")
        return (
            f"{backups} of another server (system identifier {self.system_identifier}) under the same "
            f"database name {self.database!r} {verb} not {not_what}"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "database": self.database,
            "system_identifier": self.system_identifier,
            "backups": self.backups,
        }


@dataclass
class ServerBackups:
    """The backups of one server (system_identifier None: not readable, so every server's), the other
    servers' under the same database names, and what to tell about either."""

    system_identifier: str | None
    backups: list[BackupInfo]
    other_servers: list[OtherServerBackups]
    unattributed_note: str | None


def backups_for_server(
    backups: list[BackupInfo], system_identifier: str | None, own_databases: Iterable[str] = ()
) -> ServerBackups:
    """own_databases: names the server has even where it has no backup yet (right after pg_upgrade)."""
    mine = backups_of_server(backups, system_identifier)
    return ServerBackups(
        system_identifier,
        mine,
        other_servers(backups, system_identifier, own_databases),
        unattributed_note(mine) if system_identifier is not None else None,
    )


def other_servers(
    backups: Iterable[BackupInfo], system_identifier: str | None, own_databases: Iterable[str] = ()
) -> list[OtherServerBackups]:
    """Per database this server has backups in (or in own_databases), how many backups there are of each
    other server."""
    backups = list(backups)
    mine = {b.database for b in backups_of_server(backups, system_identifier)} | set(own_databases)
    counts: dict[tuple[str, str], int] = {}
    for b in backups:
        if (
            b.database in mine
            and b.system_identifier
            and not same_server(b.system_identifier, system_identifier)
        ):
            key = (b.database, b.system_identifier)
            counts[key] = counts.get(key, 0) + 1
    return [OtherServerBackups(db, sysid, n) for (db, sysid), n in sorted(counts.items())]


def unattributed_note(backups: Iterable[BackupInfo]) -> str | None:
    """Said when backups without a recorded identifier were counted as the target server's."""
    count = sum(1 for b in backups if b.manifest is not None and b.system_identifier is None)
    if not count:
        return None
    backups_text = "1 backup" if count == 1 else f"{count} backups"
    return f"{backups_text} without a recorded server identity (taken by an earlier pgdba) counted as this server's"


def series_key(backup: BackupInfo, known: dict[str, set[str]]) -> tuple[str, str | None]:
    """(database, server) of a backup's series when no server is given: a backup without an identifier
    joins the only server its database has backups of, and stays apart when there are several."""
    servers = known.get(backup.database, set())
    if backup.system_identifier is None and len(servers) == 1:
        return backup.database, next(iter(servers))
    return backup.database, backup.system_identifier


def known_servers(backups: Iterable[BackupInfo]) -> dict[str, set[str]]:
    """The recorded system identifiers of each database's backups."""
    known: dict[str, set[str]] = {}
    for b in backups:
        if b.system_identifier:
            known.setdefault(b.database, set()).add(b.system_identifier)
    return known


def several_servers_error(database: str, servers: set[str], storage_url: str) -> str:
    shown = ", ".join(sorted(servers))
    return (
        f"{storage_url} holds backups of several servers under database {database!r} (system identifiers "
        f"{shown}): give a backup id (see `pgdba backup list --database {database}`)"
    )


def newest_of_server(
    complete: list[BackupInfo],
    system_identifier: str | None,
    storage_url: str,
    *,
    server_preferred: bool = False,
) -> BackupInfo:
    """The newest of one database's complete backups (oldest first) taken on the server
    `system_identifier`. None, or server_preferred and that server has none: the newest of the one server
    they come from, an InputError when they come from several."""
    database = complete[-1].database
    servers = known_servers(complete).get(database, set())
    if system_identifier is None or (server_preferred and system_identifier not in servers):
        if len(servers) > 1:
            raise InputError(several_servers_error(database, servers, storage_url))
        return complete[-1]
    mine = backups_of_server(complete, system_identifier)
    if not mine:
        raise InputError(
            f"no complete backup of database {database!r} from this server (system identifier "
            f"{system_identifier}) in {storage_url}: the {len(complete)} there are another server's "
            "(give a backup id to use one of them)"
        )
    return mine[-1]
