"""The free space a restore test needs on the server, checked before the scratch database is created.

A restore writes to up to three kinds of filesystem: the data directory's (the scratch database, created
in pg_default), pg_wal's (often a symlink to a disk of its own) and those of the tablespaces the restored
objects were in (pg_dump puts them back there). Each one this machine can see (a local server, a role
that may read data_directory) is measured against its share; a filesystem holding several of them needs
the sum, except the data directory's, whose share already counts the whole copy and its WAL.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgdba.backup.manifest import Manifest
from pgdba.errors import ConnectionFailed, NotAvailable
from pgdba.target import Target
from pgdba.units import format_bytes

# the room the scratch database needs, as a multiple of the source's pg_database_size: the copy itself is
# at most about that (dead rows and bloat are not restored), and loading it writes WAL, which pg_wal holds
# until a checkpoint recycles it (longer while archiving lags), on the data directory's disk by default
SCRATCH_SPACE_MARGIN = 1.5

NOT_RUN = "the restore test did not run, nothing recorded"
WAL_WRITES = "its WAL in pg_wal: the smaller of its database size and max_wal_size"


class ScratchSpaceShort(NotAvailable):
    """The scratch database would not fit on the server's disk: the test did not run, nothing is recorded."""


@dataclass(frozen=True)
class FilesystemRoom:
    """One filesystem the restore writes to: what it writes there, the room that needs, the free space."""

    path: str  # the first path measured on it: the data directory, pg_wal or a tablespace's location
    writes: str  # what the restore writes there
    needed_bytes: int
    available_bytes: int

    @property
    def fits(self) -> bool:
        return self.needed_bytes <= self.available_bytes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"fits": self.fits}


@dataclass(frozen=True)
class ScratchSpace:
    """The free space the scratch database needs on the server, against what this machine can see."""

    database_size: int  # the source's pg_database_size when the backup was taken (0: not recorded)
    margin: float  # SCRATCH_SPACE_MARGIN unless told otherwise
    available_bytes: int | None  # on the data directory's filesystem; None: not measured
    path: str = ""  # the data directory measured
    note: str = ""  # why the space was not checked
    skipped: bool = False  # not checked on request (restore_test(space_check=False))
    # every filesystem the restore writes to, the data directory's first (empty: not measured)
    filesystems: tuple[FilesystemRoom, ...] = ()
    unmeasured: tuple[str, ...] = ()  # pg_wal or tablespace paths this machine cannot see

    @property
    def needed_bytes(self) -> int:
        return math.ceil(self.database_size * self.margin)

    @property
    def unmeasured_note(self) -> str:
        """What was not checked: the paths the restore writes to that this machine cannot see."""
        return (
            f"free space not measured on {', '.join(self.unmeasured)} (this machine cannot see it): the "
            "restore test ran without checking the room there"
        )

    @property
    def short(self) -> FilesystemRoom | None:
        """The first filesystem the restore would not fit on."""
        return next((room for room in self.filesystems if not room.fits), None)

    @property
    def fits(self) -> bool | None:
        """None: not known (not measured, or no size to compare)."""
        if self.available_bytes is None or not self.needed_bytes:
            return None
        if self.filesystems:
            return self.short is None
        return self.needed_bytes <= self.available_bytes

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self) | {"needed_bytes": self.needed_bytes, "fits": self.fits}
        data["filesystems"] = [room.to_dict() for room in self.filesystems]
        data["unmeasured"] = list(self.unmeasured)
        return data


# pg_relation_size of each relation pg_dump restores into a named tablespace: those with reltablespace 0
# are in the database's default one and go to the scratch database's (pg_default, the data directory)
TABLESPACE_SIZES_SQL = """
SELECT t.spcname AS tablespace,
       sum(pg_relation_size(c.oid))::bigint AS bytes
  FROM pg_class AS c
  JOIN pg_tablespace AS t
    ON t.oid = c.reltablespace
 WHERE c.relpersistence <> 't'
   AND t.spcname NOT IN ('pg_default', 'pg_global')
 GROUP BY t.spcname
 ORDER BY t.spcname
"""


def tablespace_sizes(conn: psycopg.Connection) -> dict[str, int] | None:
    """Bytes of the database's relations in each named tablespace (what a restore writes there); None when
    they cannot be read (a lock behind DDL, a revoked function): the backup goes on without them."""
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(TABLESPACE_SIZES_SQL).fetchall()
    except psycopg.Error:
        return None
    return {str(row["tablespace"]): int(row["bytes"] or 0) for row in rows}


# the WAL a restore writes: every page it loads (COPY and index builds, at wal_level replica or above),
# about the copy's size. pg_wal does not keep it all: once max_wal_size of WAL has been written since the
# last checkpoint a new one starts, after which its segments are recycled, so pg_wal grows by the smaller
# of the two. Not counted: WAL a lagging archive_command or a replication slot holds back (unforeseeable).
WAL_ROOM_SQL = """
SELECT pg_size_bytes(current_setting('max_wal_size')) AS max_wal_size
"""

TABLESPACE_LOCATION_SQL = """
SELECT spcname AS tablespace,
       pg_tablespace_location(oid) AS location
  FROM pg_tablespace
 WHERE spcname = ANY(%(names)s)
 ORDER BY spcname
"""


def scratch_space(server: Target, manifest: Manifest, margin: float = SCRATCH_SPACE_MARGIN) -> ScratchSpace:
    """The room a restore of `manifest` needs on each filesystem of `server` it writes to (see the module
    doc), and their free space; not measured (the note says why) when the server runs elsewhere, the role
    may not read data_directory (it needs pg_monitor), or the manifest records no size. Tablespaces are
    measured when the manifest records their sizes (not an earlier pgdba's) and the server has them (else
    pg_restore fails on them, and the test says so)."""
    database_size, tablespace_bytes = manifest.database_size, manifest.tablespace_sizes or {}
    if database_size <= 0:
        return ScratchSpace(
            0, margin, None, note="free space not checked: the backup's manifest records no database size"
        )
    # imported here: pgdba.alerts reads the records of pgdba.backup, which must not need it to load
    from pgdba.alerts.metrics import data_directory_disk

    try:
        with server.connect() as conn:
            disk = data_directory_disk(conn, server)
            if disk.avail_bytes is None:
                return ScratchSpace(database_size, margin, None, disk.path, f"free space {disk.reason}")
            with conn.cursor(row_factory=dict_row) as cur:
                wal_row = cur.execute(WAL_ROOM_SQL).fetchone()
                names = sorted(tablespace_bytes)
                located = cur.execute(TABLESPACE_LOCATION_SQL, {"names": names}).fetchall() if names else []
    except ConnectionFailed as exc:
        raise ConnectionFailed(f"{exc} ({NOT_RUN})") from None
    assert wal_row is not None
    shares = [(disk.path, "the copy and its WAL", math.ceil(database_size * margin))]
    wal_bytes = min(database_size, int(wal_row["max_wal_size"]))
    shares.append((os.path.join(disk.path, "pg_wal"), WAL_WRITES, wal_bytes))
    for row in located:
        if row["location"]:  # '' : pg_default, on the data directory
            name = str(row["tablespace"])
            shares.append((str(row["location"]), f"its objects in tablespace {name}", tablespace_bytes[name]))
    rooms, unmeasured = filesystem_rooms(shares)
    return ScratchSpace(
        database_size,
        margin,
        rooms[0].available_bytes if rooms else disk.avail_bytes,
        disk.path,
        filesystems=tuple(rooms),
        unmeasured=tuple(unmeasured),
    )


def filesystem_rooms(shares: list[tuple[str, str, int]]) -> tuple[list[FilesystemRoom], list[str]]:
    """(path, what is written there, bytes) grouped by filesystem, the first share's first: the first share
    (the data directory's) stands for every other on its filesystem (it counts the whole copy), the others
    add up. Also the paths this machine cannot see."""
    by_device: dict[int, FilesystemRoom] = {}
    unmeasured: list[str] = []
    first_device: int | None = None
    for path, writes, needed in shares:
        try:
            device, free = os.stat(path).st_dev, shutil.disk_usage(path).free
        except OSError:
            unmeasured.append(path)
            continue
        if first_device is None:
            first_device = device
        room = by_device.get(device)
        if room is None:
            by_device[device] = FilesystemRoom(path, writes, needed, free)
        elif device != first_device:
            by_device[device] = FilesystemRoom(
                room.path, f"{room.writes}; {writes}", room.needed_bytes + needed, room.available_bytes
            )
    return list(by_device.values()), unmeasured


def refuse_when_short(space: ScratchSpace, what: str) -> None:
    """ScratchSpaceShort, in one line naming the filesystem, when the restore of `what` (database/backup
    id) would not fit in the free space."""
    if space.fits is not False:
        return
    assert space.available_bytes is not None
    short = space.short
    if short is None or short.path == space.path:
        raise ScratchSpaceShort(
            f"restoring {what} needs about {format_bytes(space.needed_bytes)} "
            f"({space.margin:g} × its database size of {format_bytes(space.database_size)}) and {space.path} "
            f"has {format_bytes(space.available_bytes)} free ({NOT_RUN}; --skip-space-check runs it anyway)"
        )
    raise ScratchSpaceShort(
        f"restoring {what} needs about {format_bytes(short.needed_bytes)} on the filesystem of {short.path} "
        f"({short.writes}) and it has {format_bytes(short.available_bytes)} free ({NOT_RUN}; "
        "--skip-space-check runs it anyway)"
    )
