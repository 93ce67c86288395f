"""The manifest of one backup, and how backups are laid out in a store.

    DATABASE/BACKUP_ID/dump.pgdump        pg_dump custom-format archive (or dump.tar: directory format)
    DATABASE/BACKUP_ID/globals.sql        pg_dumpall --globals-only (when permitted)
    DATABASE/BACKUP_ID/manifest.json      written LAST: no manifest means the backup is incomplete
    DATABASE/BACKUP_ID/restore-test.json  the latest restore test of this backup (pass or fail)

BACKUP_ID is the UTC start time to the microsecond (20261128T210102.123456Z), so ids sort by time.
DATABASE is the database name as one path segment (database_segment): percent-encoded where the name would
not stay one segment of an S3 key or a file name, so `sales/eu` is stored as `sales%2Feu`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from pgdba.backup.server_identity import newest_of_server
from pgdba.backup.storage import Storage, StorageError
from pgdba.errors import InputError

MANIFEST_FORMAT = 1
DUMP_NAME = "dump.pgdump"
DIRECTORY_DUMP_NAME = "dump.tar"
GLOBALS_NAME = "globals.sql"
MANIFEST_NAME = "manifest.json"
RESTORE_TEST_NAME = "restore-test.json"


_ID_FORMAT = "%Y%m%dT%H%M%S.%fZ"


def new_backup_id(now: datetime) -> str:
    return now.astimezone(UTC).strftime(_ID_FORMAT)


def backup_time(backup_id: str) -> datetime:
    return datetime.strptime(backup_id, _ID_FORMAT).replace(tzinfo=UTC)


@dataclass
class TableFacts:
    """One table as it was at backup time; exact counts and checksums only with --exact."""

    schema: str
    name: str
    row_estimate: int | None
    bytes: int
    exact_rows: int | None = None
    checksum: str | None = None
    # the statistics' n_live_tup / n_dead_tup: they follow a DELETE that reltuples misses until the next
    # (auto)vacuum/analyze; None on a standby, which does not count the changes it replays
    live_rows_estimate: int | None = None
    dead_rows_estimate: int | None = None

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class SequenceFacts:
    """One sequence when the backup started (in the dump's snapshot with --exact) and once pg_dump had
    finished: sequences are not transactional, so pg_dump's own reading lies between the two."""

    schema: str
    name: str
    increment: int
    last_value: int
    is_called: bool
    dump_end_last_value: int | None = None
    dump_end_is_called: bool | None = None

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class LargeObjectDigest:
    """One large object's size and content digest (LARGE_OBJECT_DIGEST_SQL in catalog.py), read when the
    backup started (in the dump's snapshot with --exact); without --exact read again once pg_dump had
    finished, the dump_end fields set only when the object changed or was gone by then."""

    oid: int
    size: int
    md5: str
    dump_end_size: int | None = None
    dump_end_md5: str | None = None
    dump_end_missing: bool = False


@dataclass
class LargeObjectDigests:
    """The large objects whose contents the restore test compares: at most max_objects of them (spread
    evenly over the oids) and max_bytes in all; `not_covered` counts the others by reason."""

    total: int  # large objects in the source when the digests were taken
    chunk_bytes: int  # the digest is the md5 of the md5s of chunks of this size
    max_objects: int
    max_bytes: int
    objects: list[LargeObjectDigest] = field(default_factory=list)
    # reason (over_object_limit, over_byte_limit, unreadable, vanished) -> how many objects
    not_covered: dict[str, int] = field(default_factory=dict)
    unreadable_oids: list[int] = field(default_factory=list)  # the first few the backup role may not read
    read_at_dump_end: bool = False  # without --exact: read again once pg_dump had finished

    @property
    def covered_bytes(self) -> int:
        return sum(d.size for d in self.objects)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LargeObjectDigests:
        values = known_fields(cls, data)
        values["objects"] = [
            LargeObjectDigest(**known_fields(LargeObjectDigest, d)) for d in values.get("objects", [])
        ]
        return cls(**values)


@dataclass
class Manifest:
    backup_id: str
    database: str
    target_key: str
    server_version: str
    server_version_num: int
    pg_dump_version: str
    started_at: datetime
    finished_at: datetime
    dump_key: str
    dump_size: int
    dump_sha256: str
    dump_format: str = "custom"
    encryption: str | None = None
    exact: bool = False
    snapshot: str | None = None
    system_identifier: str | None = None  # the server's (server_identity.py); None: an earlier pgdba's
    globals_key: str | None = None
    globals_sha256: str | None = None
    globals_note: str | None = None
    database_size: int = 0
    tables: list[TableFacts] = field(default_factory=list)
    schema_fingerprint: list[str] = field(default_factory=list)
    schema_model: dict[str, Any] | None = None  # pgdba.schema's model of the source (see schema_model.py)
    format: int = MANIFEST_FORMAT
    sequences: list[SequenceFacts] | None = None  # None: taken by a pgdba that did not record them
    large_objects: int | None = None  # counted when the backup started (in the dump's snapshot with --exact)
    large_objects_at_dump_end: int | None = None  # counted again after pg_dump (without --exact)
    large_object_digests: LargeObjectDigests | None = None  # None: taken by a pgdba that did not record them
    # the database's owner, locale, settings, privileges and comment, and the roles its objects need
    # (database_properties.py); None: taken by a pgdba that did not record them
    database_properties: dict[str, Any] | None = None
    # bytes of the relations in each named tablespace, which a restore writes there (scratch_space.py);
    # None: taken by a pgdba that did not record them, or not readable
    tablespace_sizes: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """The manifest as read back; fields this pgdba does not know (a newer one wrote it) are ignored."""
        values = known_fields(cls, data)
        values["started_at"] = datetime.fromisoformat(values["started_at"])
        values["finished_at"] = datetime.fromisoformat(values["finished_at"])
        values["tables"] = [TableFacts(**known_fields(TableFacts, t)) for t in values.get("tables", [])]
        if values.get("sequences") is not None:
            values["sequences"] = [
                SequenceFacts(**known_fields(SequenceFacts, s)) for s in values["sequences"]
            ]
        if values.get("large_object_digests") is not None:
            values["large_object_digests"] = LargeObjectDigests.from_dict(values["large_object_digests"])
        return cls(**values)


def known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The entries of `data` that are fields of the dataclass `cls`: a newer pgdba may record more."""
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, found {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in data.items() if key in names}


def database_segment(database: str) -> str:
    """The database name as one path segment of the store, reversibly (database_of_segment): '%', '/' and
    control characters percent-encoded, and '.' and '..' as a whole ('%2E', '%2E%2E'), which a folder
    would read as itself or its parent. A name needing none of this (most) is its own segment, as every
    earlier pgdba stored it."""
    if not database:
        raise InputError("a backup needs the name of a database (got an empty one)")
    if database in (".", ".."):
        return database.replace(".", "%2E")
    return "".join(f"%{ord(c):02X}" if c in "%/" or ord(c) < 0x20 or ord(c) == 0x7F else c for c in database)


def database_of_segment(segment: str) -> str:
    """The database a store's path segment names. A segment that is not database_segment's own encoding
    of what it decodes to was stored by an earlier pgdba, as the name was: it names itself."""
    if "%" not in segment:
        return segment
    decoded = unquote(segment)
    return decoded if decoded and database_segment(decoded) == segment else segment


def backup_prefix(database: str, backup_id: str) -> str:
    return f"{database_segment(database)}/{backup_id}"


def write_manifest(storage: Storage, manifest: Manifest) -> None:
    key = f"{backup_prefix(manifest.database, manifest.backup_id)}/{MANIFEST_NAME}"
    storage.put_bytes(key, json.dumps(manifest.to_dict(), indent=2, sort_keys=True).encode())


def read_manifest(storage: Storage, key: str) -> Manifest | None:
    """The manifest stored under `key`, or None when the backup has none (incomplete); a corrupt manifest
    is an error."""
    if not storage.exists(key):
        return None
    try:
        return Manifest.from_dict(json.loads(storage.get_bytes(key)))
    except (ValueError, TypeError, KeyError) as exc:
        raise StorageError(f"manifest {key} is unreadable: {exc}") from None


@dataclass
class BackupInfo:
    """One backup found in a store, with what its objects say about it."""

    database: str
    backup_id: str
    objects: dict[str, int]
    manifest: Manifest | None = None
    restore_test: dict[str, Any] | None = None
    problem: str | None = None
    segment: str | None = None  # the database's path segment as stored; None: database_segment(database)

    @property
    def complete(self) -> bool:
        return self.manifest is not None and self.manifest.dump_key.rsplit("/", 1)[-1] in self.objects

    @property
    def dump_name(self) -> str | None:
        return self.manifest.dump_key.rsplit("/", 1)[-1] if self.manifest else None

    @property
    def stored_size_matches(self) -> bool:
        """The archive in the store has the size the manifest recorded (a cut-short copy has not)."""
        return self.manifest is not None and self.objects.get(self.dump_name or "") == self.manifest.dump_size

    @property
    def damaged(self) -> bool:
        """Complete by its manifest, yet the store says otherwise (a cut-short archive): `problem` says how."""
        return self.complete and self.problem is not None

    @property
    def taken_at(self) -> datetime:
        return backup_time(self.backup_id)

    @property
    def system_identifier(self) -> str | None:
        return self.manifest.system_identifier if self.manifest else None

    @property
    def restore_test_passed(self) -> bool:
        return bool(self.restore_test and self.restore_test.get("passed"))

    @property
    def status(self) -> str:
        """incomplete (no manifest: never good), complete, tested-ok or tested-failed."""
        if not self.complete:
            return "incomplete"
        if self.restore_test is None:
            return "complete"
        return "tested-ok" if self.restore_test_passed else "tested-failed"

    def key(self, name: str) -> str:
        segment = self.segment if self.segment is not None else database_segment(self.database)
        return f"{segment}/{self.backup_id}/{name}"

    def to_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "database": self.database,
            "backup_id": self.backup_id,
            "status": self.status,
            "taken_at": self.taken_at.isoformat(),
            "size": m.dump_size if m else max(self.objects.values(), default=None),
            "format": m.dump_format if m else None,
            "sha256": m.dump_sha256 if m else None,
            "server_version": m.server_version if m else None,
            "system_identifier": self.system_identifier,
            "exact": m.exact if m else None,
            "duration_s": round((m.finished_at - m.started_at).total_seconds(), 1) if m else None,
            "restore_test": self.restore_test,
            "problem": self.problem,
        }


def list_backups(storage: Storage, database: str | None = None) -> list[BackupInfo]:
    """Every backup in the store (optionally of one database), oldest first."""
    database = database or None  # no database is named "": every one
    grouped: dict[tuple[str, str], dict[str, int]] = {}
    for prefix in _listing_prefixes(database):
        for obj in storage.list_objects(prefix):
            parts = obj.key.split("/")
            if len(parts) != 3:
                continue
            grouped.setdefault((parts[0], parts[1]), {})[parts[2]] = obj.size
    found: list[BackupInfo] = []
    for (segment, backup_id), objects in grouped.items():
        db = database_of_segment(segment)
        if database is not None and db != database:
            continue
        try:
            backup_time(backup_id)
        except ValueError:
            continue  # not one of ours
        info = BackupInfo(db, backup_id, objects, segment=segment)
        if MANIFEST_NAME in objects:
            try:
                info.manifest = read_manifest(storage, info.key(MANIFEST_NAME))
            except StorageError as exc:
                info.problem = str(exc)  # listed as incomplete, never as good
        if info.complete and not info.stored_size_matches and info.manifest is not None:
            info.problem = (
                f"{info.dump_name} is {objects[info.dump_name or '']} bytes, "
                f"the manifest says {info.manifest.dump_size}"
            )
        if RESTORE_TEST_NAME in objects:
            try:
                info.restore_test = json.loads(storage.get_bytes(info.key(RESTORE_TEST_NAME)))
            except ValueError:
                info.restore_test = {"passed": False, "error": "unreadable restore-test record"}
        found.append(info)
    return sorted(found, key=lambda b: (b.taken_at, b.backup_id))


def _listing_prefixes(database: str | None) -> list[str]:
    """Where the backups of `database` (None: of every database) are: under its segment, and under the
    name as it was where an earlier pgdba stored that unencoded (a name with '%', '/' or a control
    character), unless the name was never one segment ('/', '.', '..')."""
    if database is None:
        return [""]
    prefixes = [f"{database_segment(database)}/"]
    if prefixes[0] != f"{database}/" and "/" not in database and database not in (".", ".."):
        prefixes.append(f"{database}/")
    return prefixes


def find_backup(
    storage: Storage,
    backup_id: str | None,
    database: str | None,
    system_identifier: str | None = None,
    *,
    server_preferred: bool = False,
    preferred_database: str | None = None,
) -> BackupInfo:
    """A given backup (id, or DATABASE/ID), or the newest complete one of the server `system_identifier`
    (None: of the one server the store has backups of; server_preferred: of that server when it has
    some, else as with None); InputError when there is none. Without `database`, a store holding
    backups of several databases needs `preferred_database` (the --dsn one) among them."""
    return locate_backup(
        storage,
        backup_id,
        database,
        system_identifier,
        server_preferred=server_preferred,
        preferred_database=preferred_database,
    ).backup


@dataclass(frozen=True)
class LocatedBackup:
    backup: BackupInfo
    note: str | None = None  # how the database was chosen, when the store left a choice


def locate_backup(
    storage: Storage,
    backup_id: str | None,
    database: str | None,
    system_identifier: str | None = None,
    *,
    server_preferred: bool = False,
    preferred_database: str | None = None,
) -> LocatedBackup:
    """find_backup, saying which database it chose when the store holds several and none was given."""
    if backup_id:
        return LocatedBackup(_find_given_backup(storage, backup_id, database))
    backups = list_backups(storage, database)
    complete = [b for b in backups if b.complete]
    if not complete:
        where = f" of database {database!r}" if database else ""
        raise InputError(f"no complete backup{where} in {storage.url}")
    note = None
    databases = {b.database for b in complete}
    if database is None and len(databases) > 1:
        if preferred_database not in databases:
            mine = f" (none of {preferred_database!r}, the --dsn database)" if preferred_database else ""
            raise InputError(f"the store holds backups of several databases{mine}: pass --database")
        complete = [b for b in complete if b.database == preferred_database]
        note = (
            f"chose database {preferred_database!r}, the --dsn one, of the {len(databases)} databases the "
            "store holds backups of (pass --database for another)"
        )
    chosen = newest_of_server(complete, system_identifier, storage.url, server_preferred=server_preferred)
    return LocatedBackup(chosen, note)


def _find_given_backup(storage: Storage, given: str, database: str | None) -> BackupInfo:
    """The backup named ID or DATABASE/ID (a database name may hold '/', a backup id never does); errors
    echo the id as given."""
    backup_id = given
    if "/" in given:
        database, backup_id = given.rsplit("/", 1)
    if database == "":
        raise InputError(f"no backup {given!r} in {storage.url}")  # "/ID": no database is named ""
    matches = [b for b in list_backups(storage, database) if b.backup_id == backup_id]
    if not matches:
        raise InputError(f"no backup {given!r} in {storage.url}")
    if len(matches) > 1:
        raise InputError(f"backup id {given!r} exists for several databases: give DATABASE/{given}")
    return matches[0]


BACKUP_KIND = "backup"


def check_history_store(history_location: str | None = None) -> None:
    """Open and close the history store, so an unusable one fails before a backup or a restore test
    runs, not after it (it is reopened to record: a long dump would outlive an idle connection)."""
    from pgdba.history import open_store

    with open_store(history_location):
        pass


def record_backup(
    target_key: str, storage_url: str, manifest: Manifest, history_location: str | None = None
) -> None:
    """A successful backup in the history store: what the backup-age alert and the health score read."""
    from pgdba.history import open_store

    payload = {
        "ok": True,
        "storage": storage_url,
        "backup_id": manifest.backup_id,
        "database": manifest.database,
        "system_identifier": manifest.system_identifier,
        "size": manifest.dump_size,
        "finished_at": manifest.finished_at.isoformat(),
    }
    with open_store(history_location) as store:
        store.add_record(target_key, BACKUP_KIND, payload, recorded_at=manifest.finished_at)


def record_failed_backup(
    target_key: str,
    storage_url: str,
    started_at: datetime,
    error: BaseException,
    history_location: str | None = None,
    system_identifier: str | None = None,
) -> None:
    """A backup run that failed, in the history store: the backup-age alert counts a job that never
    succeeded from its first failure, so one failing every night since it was set up still alerts.
    system_identifier: of the server the run had connected to (ServerReached), so that another server
    recording under the same key does not count it; None (it failed before connecting) counts for all."""
    from pgdba.history import open_store
    from pgdba.target import mask_password

    finished_at = datetime.now(UTC)
    if isinstance(error, OSError) and error.filename:  # as the CLI prints it
        text = f"{error.strerror or error}: {error.filename}"
    else:
        text = str(error).strip() or type(error).__name__
    reason = mask_password(text.splitlines()[0])
    payload = {
        "ok": False,
        "status": "interrupted" if isinstance(error, KeyboardInterrupt) else "failed",
        "storage": storage_url,
        "system_identifier": system_identifier,
        "error": reason[:500],
        "started_at": started_at.isoformat(),
        "finished_at": finished_at.isoformat(),
    }
    with open_store(history_location) as store:
        store.add_record(target_key, BACKUP_KIND, payload, recorded_at=finished_at)
