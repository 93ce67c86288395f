"""`pgdba backup run`: pg_dump (custom format) streamed into the store, sha256 computed on the way,
manifest written last.

With exact=True a REPEATABLE READ session exports its snapshot, counts every table (and checksums the
small ones) in it, and pg_dump dumps that same snapshot (--snapshot), so the manifest's counts are the
archive's counts even while the application keeps writing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import conninfo

from pgdba.backup.catalog import (
    catalog_fingerprint,
    count_large_objects,
    large_object_digests,
    measure_tables,
    normalize_session,
    note_dump_end_digests,
    note_dump_end_values,
    sequence_values,
    user_tables,
)
from pgdba.backup.database_properties import read_database_properties
from pgdba.backup.directory import dump_directory, upload_directory_as_tar, work_folder
from pgdba.backup.encryption import check_recipients, encrypt_argv, encrypt_bytes
from pgdba.backup.hashing import HashingReader
from pgdba.backup.locks import TableLock, exclusive_table_locks, lock_conflict_message
from pgdba.backup.manifest import (
    DIRECTORY_DUMP_NAME,
    DUMP_NAME,
    GLOBALS_NAME,
    LargeObjectDigests,
    Manifest,
    SequenceFacts,
    TableFacts,
    backup_prefix,
    new_backup_id,
    write_manifest,
)
from pgdba.backup.scratch_space import tablespace_sizes
from pgdba.backup.server_identity import ServerReached, read_system_identifier
from pgdba.backup.storage import Storage, StorageError
from pgdba.backup.tools import PgTools, find_pg_tools
from pgdba.errors import InputError, PgdbaError
from pgdba.target import Target, mask_password, untrack_own_statements

MB = 1024 * 1024
DEFAULT_CHECKSUM_LIMIT_BYTES = 64 * MB
MAX_CHECKSUM_LIMIT_MB = 10_000_000  # 10 TB: larger than any table worth a full-scan checksum
MAX_JOBS = 256  # pg_dump/pg_restore processes, each with its own server connection
MAX_LOCK_TIMEOUT_MS = 24 * 3600 * 1000  # a backup queued behind DDL for longer than a day is stuck
# large objects whose contents the manifest records a digest of: read on the server before the dump
# (and again after it without --exact), so the cost stays bounded on a database with millions of them
DEFAULT_LARGE_OBJECT_DIGEST_OBJECTS = 1000
DEFAULT_LARGE_OBJECT_DIGEST_BYTES = 64 * MB

Progress = Callable[[int], None]


class BackupFailed(PgdbaError):
    """pg_dump or the upload failed; no manifest was written, so the backup does not count."""


# pg_dump, pg_dumpall and pg_restore get it at connection start (libpq options) so that none of their
# statements is counted as the application's; only where clients_may_untrack says so, as a role that may not
# set this superuser-only parameter would be refused the login
UNTRACKED_OPTION = "-c pg_stat_statements.track=none"


def client_environment(
    target: Target, environ: Mapping[str, str] | None = None, *, untracked: bool = False
) -> tuple[str, dict[str, str]]:
    """(connection string without the password, environment with PGPASSWORD) for pg_dump & co., so the
    password never shows on a command line (ps) or in an error message. untracked=True adds UNTRACKED_OPTION
    after the user's PGOPTIONS, or after the DSN's own `options` when it has some (libpq then ignores
    PGOPTIONS)."""
    env = dict(os.environ if environ is None else environ)
    params = {k: str(v) for k, v in target.params().items() if k != "password"}
    if target.password:
        env["PGPASSWORD"] = target.password
    if untracked and params.get("options"):
        params["options"] = f"{params['options']} {UNTRACKED_OPTION}"
    elif untracked:
        env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} {UNTRACKED_OPTION}".strip()
    return (conninfo.make_conninfo(**params) if params else ""), env


def clients_may_untrack(target: Target, conn: psycopg.Connection) -> bool:
    """Whether pg_dump & co. connecting as `target` may start with UNTRACKED_OPTION: as in pgdba's own
    sessions, when the library is loaded and the role may set it (asked on `conn`, a session of the same
    role and server, left untracked), never for a target that plays a workload to be measured."""
    return not target.track_statements and untrack_own_statements(conn)


def untracked_client_environment(
    target: Target, environ: Mapping[str, str] | None = None
) -> tuple[str, dict[str, str]]:
    """client_environment, untracked when clients_may_untrack (asked in a short session of `target`)."""
    if target.track_statements:
        return client_environment(target, environ)
    with target.connect() as conn:
        untracked = clients_may_untrack(target, conn)
    return client_environment(target, environ, untracked=untracked)


def check_jobs(jobs: int) -> None:
    """--jobs of pg_dump and pg_restore: 1 (one process) to MAX_JOBS."""
    if not 1 <= jobs <= MAX_JOBS:
        raise InputError(f"--jobs takes 1 to {MAX_JOBS}")


def check_checksum_limit(checksum_limit_bytes: int) -> None:
    """--checksum-limit-mb: 0 (checksum no table with data) to MAX_CHECKSUM_LIMIT_MB."""
    if not 0 <= checksum_limit_bytes <= MAX_CHECKSUM_LIMIT_MB * MB:
        raise InputError(f"--checksum-limit-mb takes 0 to {MAX_CHECKSUM_LIMIT_MB}")


def check_lock_timeout(lock_timeout_ms: int) -> None:
    """The target's lock_timeout, which pg_dump also gets as --lock-wait-timeout: 0 (wait forever) to
    MAX_LOCK_TIMEOUT_MS."""
    if not 0 <= lock_timeout_ms <= MAX_LOCK_TIMEOUT_MS:
        raise InputError(f"--lock-timeout takes 0 (wait forever) to {MAX_LOCK_TIMEOUT_MS} ms")


def _stderr_summary(stderr: str, target: Target) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()] or lines
    return mask_password(errors[0] if errors else "no message", target.secrets)


def _read_stderr(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def _lock_conflict(target: Target, step: str) -> BackupFailed:
    """The one-line error for a step that gave up waiting for a table lock, naming who holds it."""
    try:
        with target.connect() as conn:
            locks: list[TableLock] | None = exclusive_table_locks(conn)
    except (PgdbaError, psycopg.Error):
        locks = None
    return BackupFailed(lock_conflict_message(step, locks, target.lock_timeout_ms))


def _gave_up_on_a_lock(pg_dump_stderr: str) -> bool:
    """pg_dump's --lock-wait-timeout ends its LOCK TABLE with a statement timeout ("Query was: LOCK …")."""
    return "LOCK TABLE" in pg_dump_stderr and "timeout" in pg_dump_stderr.lower()


def _pg_dump_failed(code: int, stderr: str, target: Target, outcome: str) -> BackupFailed:
    if _gave_up_on_a_lock(stderr):
        return _lock_conflict(target, "pg_dump (--lock-wait-timeout)")
    return BackupFailed(f"pg_dump failed (exit {code}), {outcome}: {_stderr_summary(stderr, target)}")


DATABASE_SIZE_SQL = """
SELECT current_setting('server_version_num')::int AS version_num,
       current_setting('server_version') AS version,
       pg_database_size(current_database()) AS bytes,
       current_database() AS database
"""


def run_backup(
    target: Target,
    storage: Storage,
    *,
    exact: bool = False,
    checksum_limit_bytes: int = DEFAULT_CHECKSUM_LIMIT_BYTES,
    large_object_digest_objects: int = DEFAULT_LARGE_OBJECT_DIGEST_OBJECTS,
    large_object_digest_bytes: int = DEFAULT_LARGE_OBJECT_DIGEST_BYTES,
    compress: int | None = None,
    jobs: int = 1,
    include_globals: bool = True,
    age_recipients: list[str] | None = None,
    progress: Progress | None = None,
    tools: PgTools | None = None,
    environ: Mapping[str, str] | None = None,
    reached: ServerReached | None = None,
) -> Manifest:
    """Dump the target's database into the store; returns the manifest (written last). `reached` gets the
    server's system identifier once connected, for the record of a backup that fails after that. jobs > 1 uses
    pg_dump's directory format in parallel (needs local disk for one copy, see pgdba.backup.directory).
    The contents of up to large_object_digest_objects large objects, large_object_digest_bytes in all,
    are digested for the restore test (0 digests none)."""
    if compress is not None and not 0 <= compress <= 9:
        raise InputError("--compress takes 0 (none) to 9")
    check_jobs(jobs)
    check_checksum_limit(checksum_limit_bytes)
    if large_object_digest_objects < 0 or large_object_digest_bytes < 0:
        raise InputError("the large-object digest limits take 0 (digest none) or more")
    lo_limits = (large_object_digest_objects, large_object_digest_bytes)
    check_lock_timeout(target.lock_timeout_ms)
    if age_recipients and jobs > 1:
        raise InputError("age encryption works with the custom format only: drop --jobs")
    if age_recipients:
        check_recipients(age_recipients)  # before pg_dump starts: a bad key must not look like a dump failure
    encrypt = encrypt_argv(age_recipients) if age_recipients else None
    started = datetime.now(UTC)
    snapshot_conn: psycopg.Connection | None = None
    with target.connect() as conn:
        row = conn.execute(DATABASE_SIZE_SQL).fetchone()
        assert row is not None
        version_num, version, db_bytes, database = int(row[0]), str(row[1]), int(row[2]), str(row[3])
        system_identifier = read_system_identifier(conn)  # None when not readable: the backup goes on
        if reached is not None:
            reached.system_identifier = system_identifier
        untracked = clients_may_untrack(target, conn)
        tools = tools or find_pg_tools(version_num // 10000, environ)
        if not exact:
            try:
                normalize_session(conn)
                tables = user_tables(conn)
                fingerprint = catalog_fingerprint(conn)
                sequences, large_objects, lo_digests = _restore_test_facts(conn, *lo_limits)
            except psycopg.errors.LockNotAvailable:
                raise _lock_conflict(target, "the table size and catalog query before pg_dump") from None
            schema_model = _schema_model(conn)
        database_properties = _database_properties(conn)
        sizes_by_tablespace = tablespace_sizes(conn)
    backup_id = new_backup_id(started)
    prefix = backup_prefix(database, backup_id)
    snapshot: str | None = None
    try:
        if exact:
            try:
                snapshot_conn, snapshot, tables, fingerprint = _open_snapshot(target, checksum_limit_bytes)
                schema_model = _schema_model(snapshot_conn)
                sequences, large_objects, lo_digests = _restore_test_facts(snapshot_conn, *lo_limits)
            except psycopg.errors.LockNotAvailable:
                raise _lock_conflict(target, "counting rows for --exact") from None
        if jobs > 1:
            dump_key = f"{prefix}/{DIRECTORY_DUMP_NAME}"
            sha256, size = _dump_directory_to_storage(
                target,
                tools,
                storage,
                dump_key,
                db_bytes,
                snapshot,
                compress,
                jobs,
                progress,
                environ,
                untracked=untracked,
            )
        else:
            dump_key = f"{prefix}/{DUMP_NAME}"
            sha256, size = _dump_to_storage(
                target,
                tools,
                storage,
                dump_key,
                db_bytes,
                snapshot,
                compress,
                progress,
                environ,
                untracked=untracked,
                encrypt=encrypt,
            )
    finally:
        if snapshot_conn is not None:
            snapshot_conn.close()
    large_objects_at_dump_end = _note_dump_end(target, sequences, None if exact else lo_digests)
    globals_key, globals_sha, globals_note = None, None, None
    try:
        if include_globals:
            globals_key, globals_sha, globals_note = _dump_globals(
                target, tools, storage, prefix, environ, age_recipients, untracked=untracked
            )
    except StorageError as exc:
        _discard(storage, dump_key)
        raise BackupFailed(f"storing the globals failed, backup discarded: {exc}") from None
    manifest = Manifest(
        backup_id=backup_id,
        database=database,
        target_key=target.key,
        server_version=version,
        server_version_num=version_num,
        pg_dump_version=tools.version,
        started_at=started,
        finished_at=datetime.now(UTC),
        dump_key=dump_key,
        dump_size=size,
        dump_sha256=sha256,
        dump_format="directory" if jobs > 1 else "custom",
        encryption="age" if encrypt else None,
        exact=exact,
        snapshot=snapshot,
        system_identifier=system_identifier,
        globals_key=globals_key,
        globals_sha256=globals_sha,
        globals_note=globals_note,
        database_size=db_bytes,
        tables=tables,
        schema_fingerprint=fingerprint,
        schema_model=schema_model,
        sequences=sequences,
        large_objects=large_objects,
        large_objects_at_dump_end=None if exact else large_objects_at_dump_end,  # exact: the snapshot's count
        large_object_digests=lo_digests,
        database_properties=database_properties,
        tablespace_sizes=sizes_by_tablespace,
    )
    try:
        write_manifest(storage, manifest)  # last: from here on the backup counts
    except StorageError as exc:
        for key in (dump_key, globals_key):
            if key:
                _discard(storage, key)
        raise BackupFailed(f"writing the manifest failed, backup discarded: {exc}") from None
    return manifest


def _schema_model(conn: psycopg.Connection) -> dict[str, Any] | None:
    """pgdba.schema's model of the source; a backup never fails for it (the fingerprint still checks)."""
    from pgdba.backup.schema_model import capture_schema_model

    try:
        return capture_schema_model(conn)
    except (PgdbaError, psycopg.Error):
        if not conn.autocommit:
            raise  # inside the snapshot transaction an error would abort it: let the backup fail loudly
        return None


def _database_properties(conn: psycopg.Connection) -> dict[str, Any] | None:
    """The database's owner, locale, settings, privileges and comment, and the roles its objects need
    (database_properties.py), for the restore; None when they cannot be read: the backup goes on, and a
    restore then treats it as one of an earlier pgdba."""
    try:
        props = read_database_properties(conn)
    except psycopg.Error:
        return None
    return None if props is None else props.to_dict()


def _restore_test_facts(
    conn: psycopg.Connection, digest_objects: int, digest_bytes: int
) -> tuple[list[SequenceFacts], int, LargeObjectDigests]:
    """The sequence values, large-object count and large-object digests the restore test compares (see
    restore_test.py)."""
    sequences, large_objects = sequence_values(conn), count_large_objects(conn)
    return sequences, large_objects, large_object_digests(conn, large_objects, digest_objects, digest_bytes)


def _note_dump_end(
    target: Target, sequences: list[SequenceFacts], lo_digests: LargeObjectDigests | None
) -> int | None:
    """Read the sequences again (not transactional: pg_dump read them at some moment of the dump), count
    the large objects again and (without --exact) digest the covered ones again once pg_dump has finished;
    None when that fails, which costs the backup nothing (the restore test then checks against the first
    reading)."""
    try:
        with target.connect() as conn:
            note_dump_end_values(conn, sequences)
            if lo_digests is not None:
                note_dump_end_digests(conn, lo_digests)
            return count_large_objects(conn)
    except (PgdbaError, psycopg.Error):
        return None


def _open_snapshot(
    target: Target, checksum_limit_bytes: int
) -> tuple[psycopg.Connection, str, list[TableFacts], list[str]]:
    """A REPEATABLE READ session holding an exported snapshot, with the tables measured in it. The
    session must stay open until pg_dump has imported the snapshot (we keep it for the whole dump)."""
    conn = target.connect(autocommit=False)
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        snapshot = str(row[0])
        # exact counts scan whole tables: no statement timeout for this one transaction
        conn.execute("SET LOCAL statement_timeout = 0")
        normalize_session(conn)
        tables = user_tables(conn)
        measure_tables(conn, tables, checksum_limit_bytes)
        fingerprint = catalog_fingerprint(conn)
    except BaseException:
        conn.close()
        raise
    return conn, snapshot, tables, fingerprint


def _pg_dump_argv(
    tools: PgTools,
    format_args: list[str],
    compress: int | None,
    snapshot: str | None,
    dsn: str | None,
    lock_timeout_ms: int,
) -> list[str]:
    """pg_dump's command line: the format, the lock wait, compression, the exported snapshot and the
    database. pg_dump turns lock_timeout off in its session, so without --lock-wait-timeout it would wait
    forever behind DDL (a migration holding ACCESS EXCLUSIVE)."""
    argv = [tools.pg_dump, *format_args, "--no-password"]
    if lock_timeout_ms:
        argv.append(f"--lock-wait-timeout={lock_timeout_ms}ms")
    if compress is not None:
        argv.append(f"--compress={compress}")
    if snapshot:
        argv.append(f"--snapshot={snapshot}")
    if dsn:
        argv.append(f"--dbname={dsn}")
    return argv


def _dump_to_storage(
    target: Target,
    tools: PgTools,
    storage: Storage,
    key: str,
    expected_size: int,
    snapshot: str | None,
    compress: int | None,
    progress: Progress | None,
    environ: Mapping[str, str] | None,
    *,
    untracked: bool,
    encrypt: list[str] | None = None,
) -> tuple[str, int]:
    dsn, env = client_environment(target, environ, untracked=untracked)
    argv = _pg_dump_argv(tools, ["--format=custom"], compress, snapshot, dsn, target.lock_timeout_ms)
    with tempfile.NamedTemporaryFile(prefix="pgdba-pg_dump-", suffix=".err") as errfile:
        dump = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errfile, env=env)
        chain = [dump]
        if encrypt:
            chain.append(subprocess.Popen(encrypt, stdin=dump.stdout, stdout=subprocess.PIPE, stderr=errfile))
            assert dump.stdout is not None
            dump.stdout.close()  # age owns it now
        output = chain[-1].stdout
        assert output is not None
        reader = HashingReader(output, progress)
        try:
            storage.upload_stream(key, reader, expected_size)  # type: ignore[arg-type]
        except BaseException as exc:
            for proc in chain:
                proc.kill()
                proc.wait()
            _discard(storage, key)
            if isinstance(exc, StorageError):
                raise BackupFailed(f"upload failed, backup discarded: {exc}") from None
            raise
        finally:
            output.close()
        # every stage must succeed: a killed pg_dump still lets age finish a well-formed (short) file
        for proc in chain:
            code = proc.wait()
            if code != 0:
                _discard(storage, key)
                stderr = _read_stderr(errfile.name)
                if proc is dump:
                    raise _pg_dump_failed(code, stderr, target, "backup discarded")
                raise BackupFailed(
                    f"age failed (exit {code}), backup discarded: {_stderr_summary(stderr, target)}"
                )
    if reader.size == 0:
        _discard(storage, key)
        raise BackupFailed("pg_dump wrote nothing, backup discarded")
    return reader.sha256.hexdigest(), reader.size


def _dump_directory_to_storage(
    target: Target,
    tools: PgTools,
    storage: Storage,
    key: str,
    expected_size: int,
    snapshot: str | None,
    compress: int | None,
    jobs: int,
    progress: Progress | None,
    environ: Mapping[str, str] | None,
    *,
    untracked: bool,
) -> tuple[str, int]:
    dsn, env = client_environment(target, environ, untracked=untracked)
    argv = _pg_dump_argv(
        tools, ["--format=directory", f"--jobs={jobs}"], compress, snapshot, dsn, target.lock_timeout_ms
    )
    readers: list[HashingReader] = []

    def hashing(stream: IO[bytes]) -> IO[bytes]:
        readers.append(HashingReader(stream, progress))
        return readers[-1]  # type: ignore[return-value]

    with work_folder("pgdba-dump-") as tmp:
        code, stderr = dump_directory(argv, env, Path(tmp))
        if code != 0:
            raise _pg_dump_failed(code, stderr, target, "nothing stored")
        try:
            upload_directory_as_tar(storage, key, Path(tmp) / "dump", expected_size, hashing)
        except StorageError as exc:
            _discard(storage, key)
            raise BackupFailed(f"upload failed, backup discarded: {exc}") from None
    return readers[0].sha256.hexdigest(), readers[0].size


def _discard(storage: Storage, key: str) -> None:
    """Remove a dump that must not count; the missing manifest already marks it incomplete if this fails."""
    with contextlib.suppress(StorageError):
        storage.delete(key)


def _dump_globals(
    target: Target,
    tools: PgTools,
    storage: Storage,
    prefix: str,
    environ: Mapping[str, str] | None,
    age_recipients: list[str] | None,
    *,
    untracked: bool,
) -> tuple[str | None, str | None, str | None]:
    """Roles and tablespaces (pg_dump leaves them out). Role password hashes are not stored."""
    dsn, env = client_environment(target, environ, untracked=untracked)
    argv = [tools.pg_dumpall, "--globals-only", "--no-role-passwords", "--no-password"]
    if dsn:
        argv.append(f"--dbname={dsn}")
    out = subprocess.run(argv, capture_output=True, env=env, timeout=600)
    if out.returncode != 0:
        reason = out.stderr.decode(errors="replace").strip().splitlines()
        return None, None, mask_password(reason[0] if reason else "pg_dumpall failed", target.secrets)
    data = encrypt_bytes(out.stdout, age_recipients) if age_recipients else out.stdout
    key = f"{prefix}/{GLOBALS_NAME}" + (".age" if age_recipients else "")
    storage.put_bytes(key, data)
    return key, hashlib.sha256(data).hexdigest(), None
