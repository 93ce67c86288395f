"""`pgdba backup restore`: a backup into a named database, refusing to replace a non-empty one without
force. Nothing happens without apply=True; the plan (SQL and pg_restore command) is returned first.

The database restored into is never touched until a complete copy stands beside it:

1. before anything is created, the whole archive is read back (its sha256 and size against the manifest,
   through age when it is encrypted) into `pg_restore --list`, and the roles the restore needs (object
   owners, roles named in privileges, the database's owner and settings) are looked up on the server: a
   damaged archive or a missing role is refused with nothing changed;
2. the backup is restored into a new database of a temporary name, created with the source's encoding
   and locale, and given the source database's owner, settings, privileges and comment (recorded in the
   manifest: pg_dump leaves them out without --create);
3. only then is the existing database renamed aside (its sessions ended first), the new one renamed to
   its name, and the old one dropped. A failure at any step before drops the new database and leaves the
   existing one as it was; a failure between the two renames puts the existing one back under its name.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shlex
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgdba.backup.archive import read_archive
from pgdba.backup.database_properties import (
    NAMED_IN_PRIVILEGES,
    OWNS_OBJECTS,
    DatabaseProperties,
    apply_property_statements,
    create_database_sql,
    existing_roles,
    first_line,
    missing_roles,
    properties_of,
    property_statements,
    roles_needed,
    statement_text,
    toc_owners,
)
from pgdba.backup.dump import check_jobs, untracked_client_environment
from pgdba.backup.encryption import decrypt_argv
from pgdba.backup.manifest import GLOBALS_NAME, BackupInfo, Manifest, find_backup
from pgdba.backup.storage import Storage
from pgdba.backup.tools import PgTools, pg_restore_for_archive
from pgdba.errors import InputError
from pgdba.target import Target, mask_password

DATABASE_EXISTS_SQL = """
SELECT 1
  FROM pg_database
 WHERE datname = %s
"""

USER_OBJECTS_SQL = """
SELECT count(*)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_toast%'
"""

TERMINATE_SESSIONS_SQL = """
SELECT pg_terminate_backend(pid)
  FROM pg_stat_activity
 WHERE datname = %s
   AND pid <> pg_backend_pid()
"""

RESTORING_ROLE_SQL = """
SELECT current_user,
       rolsuper
  FROM pg_roles
 WHERE rolname = current_user
"""

_MISSING_ROLE = re.compile(r'role "((?:[^"]|"")+)" does not exist')
NAMEDATALEN = 64
RENAME_ATTEMPTS = 5  # a session that connects between the terminate and the rename: end it and try again


@dataclass
class RestoreResult:
    database: str
    backup_id: str
    applied: bool
    ok: bool
    steps: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": 1, **self.__dict__}


class MissingRoles(InputError):
    """The server lacks roles the backup's objects or database properties name: nothing was changed."""


def choose_backup_to_restore(
    storage: Storage, backup_id: str | None, database: str | None, destination_identifier: str | None
) -> BackupInfo:
    """The given backup, else the newest complete one of the server restored into when it has backups
    there (recovering a server from its own), else of the one server the store has backups of: with
    several, which one is the user's to say (a backup id)."""
    return find_backup(storage, backup_id, database, destination_identifier, server_preferred=True)


def database_state(server: Target, dbname: str) -> str:
    """'missing', 'empty' or 'non-empty' (has user relations)."""
    with server.connect() as conn:
        if conn.execute(DATABASE_EXISTS_SQL, (dbname,)).fetchone() is None:
            return "missing"
    with server.with_database(dbname).connect() as conn:
        row = conn.execute(USER_OBJECTS_SQL).fetchone()
    return "non-empty" if row and int(row[0]) > 0 else "empty"


def create_database(
    server: Target, dbname: str, props: DatabaseProperties | None = None, server_major: int = 0
) -> str | None:
    """CREATE DATABASE from template0, with the source's encoding and locale when `props` has them; when
    the server refuses those (a locale it lacks), a plain one and the reason as a note (else None)."""
    with server.connect(apply=True) as conn:
        plain = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(dbname))
        statement = create_database_sql(dbname, props, server_major or conn.info.server_version // 10000)
        if statement is None:
            conn.execute(plain)
            if props is not None and props.encoding is not None:
                return f"created with this server's default locale: it cannot take the source's ({_locale(props)})"
            return None
        try:
            conn.execute(statement)
        except (
            psycopg.errors.WrongObjectType,  # invalid locale name
            psycopg.errors.InvalidParameterValue,  # encoding and locale do not match
            psycopg.errors.FeatureNotSupported,
        ) as exc:
            conn.execute(plain)
            return (
                f"created with this server's default encoding and locale: it refused the source's "
                f"({_locale(props)}): {first_line(exc)}"
            )
    return None


def _locale(props: DatabaseProperties | None) -> str:
    if props is None:
        return "unknown"
    parts = [props.encoding, props.collate, props.locale]
    return ", ".join(p for p in parts if p)


def drop_database(server: Target, dbname: str) -> None:
    with server.connect(apply=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def maintenance_target(server: Target, avoid: set[str]) -> Target:
    """A session on the server outside the databases being renamed or dropped (the --dsn one, else
    postgres, else template1): a database cannot be renamed or dropped while a session is in it."""
    for name in (server.database, "postgres", "template1"):
        if name not in avoid:
            return server if name == server.database else server.with_database(name)
    raise InputError("no database to connect to outside the one restored into")  # pragma: no cover


def side_name(dbname: str, tag: str) -> str:
    """A fresh name for the copy being restored (tag new) or the database it replaces (tag old), that
    says whose it is: pgdba_TAG_XXXXXX_DBNAME, cut to PostgreSQL's 63 bytes."""
    name = f"pgdba_{tag}_{secrets.token_hex(3)}_{dbname}"
    return name.encode()[: NAMEDATALEN - 1].decode(errors="ignore")


def missing_roles_message(
    backup: BackupInfo, storage: Storage, missing: dict[str, str], *, where: str = "this server"
) -> str:
    """One line: which roles are missing, why each is needed, and where their definitions are."""
    manifest = backup.manifest
    named = ", ".join(f"{role} ({why})" for role, why in missing.items())
    text = f"backup {backup.database}/{backup.backup_id} needs role(s) that {where} lacks: {named}"
    if manifest is not None and manifest.globals_key:
        encrypted = (
            " (age-encrypted: decrypt it with your identity)" if manifest.globals_key.endswith(".age") else ""
        )
        text += (
            f"; create them first: their CREATE ROLE and ALTER ROLE lines are in the backup's {GLOBALS_NAME} "
            f"{storage.url}/{manifest.globals_key}{encrypted} (run those lines with psql; the whole file "
            "also alters the server's existing roles and creates tablespaces)"
        )
    else:
        why = (
            manifest.globals_note
            if manifest is not None and manifest.globals_note
            else "taken with --no-globals"
        )
        text += f"; the backup has no {GLOBALS_NAME} ({why}): create them by hand first"
    if all(why == OWNS_OBJECTS for why in missing.values()):
        text += ", or pass --no-owner to restore without object owners"
    return text


def restore_backup(
    storage: Storage,
    backup: BackupInfo,
    server: Target,
    dbname: str,
    *,
    force: bool = False,
    apply: bool = False,
    no_owner: bool = False,
    jobs: int = 1,
    tools: PgTools | None = None,
    environ: Mapping[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
    age_identity: Path | None = None,
) -> RestoreResult:
    """Restore `backup` as `dbname` (see the module doc). `progress` gets the bytes read so far: the
    archive is read twice with apply (checked, then restored), so up to twice its size."""
    manifest = backup.manifest
    if manifest is None or not backup.complete:
        raise InputError(
            f"backup {backup.database}/{backup.backup_id} is incomplete (no manifest): not restoring it"
        )
    check_jobs(jobs)
    result = RestoreResult(dbname, backup.backup_id, applied=apply, ok=False)
    new_name, old_name = side_name(dbname, "new"), side_name(dbname, "old")
    admin = maintenance_target(server, {dbname, new_name, old_name})
    state = database_state(admin, dbname)
    if state == "non-empty" and not force:
        raise InputError(f"database {dbname!r} exists and is not empty: pass --force to replace it")
    tools = tools or pg_restore_for_archive(
        manifest.pg_dump_version, manifest.server_version_num // 10000, environ
    )
    if manifest.encryption == "age":
        decrypt_argv(age_identity)  # a missing key is a usage error, found before anything is read
    props = properties_of(manifest)
    with admin.connect() as conn:
        server_major = conn.info.server_version // 10000
        roles = existing_roles(conn)
        row = conn.execute(RESTORING_ROLE_SQL).fetchone()
    restoring_role = str(row[0]) if row else None
    missing = missing_roles(roles_needed(props, no_owner=no_owner), roles)
    if missing:
        raise MissingRoles(missing_roles_message(backup, storage, missing) + "; nothing was changed")
    if props is None:
        result.notes.append(
            "the backup (from an earlier pgdba) has no record of the database's owner, settings, privileges "
            "and comment: the restored database has the restoring role as owner and none of them"
        )
    statements = (
        property_statements(new_name, props, no_owner=no_owner, restoring_role=restoring_role)
        if props
        else []
    )
    options = ["--exit-on-error", "--no-password"]
    if no_owner:
        options.append("--no-owner")
    if jobs > 1 and manifest.dump_format == "directory":
        options.append(f"--jobs={jobs}")
    _plan(result, manifest, props, server_major, options, statements, dbname, new_name, old_name, state)
    if not apply:
        result.ok = True
        return result

    listing = _check_archive(result, storage, manifest, tools, environ, progress, age_identity)
    if listing is None:
        return result
    owners, default_acl_roles = toc_owners(listing, roles)
    needed = roles_needed(props, set() if no_owner else owners, no_owner=no_owner)
    for role in default_acl_roles:
        needed.setdefault(role, NAMED_IN_PRIVILEGES)
    missing = missing_roles(needed, roles)
    if missing:
        raise MissingRoles(missing_roles_message(backup, storage, missing) + "; nothing was changed")

    with _new_database(result, admin, new_name, dbname) as created:
        note = create_database(admin, new_name, props, server_major)
        created.append(new_name)
        if note:
            result.notes.append(note)
        offset = manifest.dump_size
        dsn, env = untracked_client_environment(server.with_database(new_name), environ)
        argv = [tools.pg_restore, *options, f"--dbname={dsn}"]
        read = read_archive(storage, manifest, argv, env, _shifted(progress, offset), age_identity)
        if read.sha256 != manifest.dump_sha256:
            result.problems.append(
                "the archive's sha256 changed between the check and the restore: the restored data is suspect"
            )
        if not read.restore_ok:
            errors = "; ".join(mask_password(e, server.secrets) for e in read.errors[:3])
            result.problems.append(f"pg_restore failed (exit {read.returncode}): {errors}")
            lacking = sorted({m[1] for e in read.errors for m in _MISSING_ROLE.finditer(e)})
            if lacking:  # a role named only in privileges, which a backup of an earlier pgdba does not record
                result.problems.append(
                    missing_roles_message(backup, storage, dict.fromkeys(lacking, "named in the archive"))
                )
        if result.problems:
            return result
        try:
            with admin.connect(apply=True) as conn:
                result.notes.extend(apply_property_statements(conn, statements))
        except psycopg.Error as exc:
            result.problems.append(f"the database's properties could not be applied: {first_line(exc)}")
            return result
        _swap(result, admin, dbname, new_name, old_name, replacing=state != "missing")
        if not result.problems:
            created.clear()  # it is dbname now
    result.ok = not result.problems
    return result


def _shifted(progress: Callable[[int], None] | None, offset: int) -> Callable[[int], None] | None:
    if progress is None:
        return None
    return lambda done: progress(offset + done)


def _plan(
    result: RestoreResult,
    manifest: Manifest,
    props: DatabaseProperties | None,
    server_major: int,
    options: list[str],
    statements: list[Any],
    dbname: str,
    new_name: str,
    old_name: str,
    state: str,
) -> None:
    age = ", decrypted with age" if manifest.encryption == "age" else ""
    result.steps.append(
        f"-- check the archive before anything is changed: the sha256 of its {manifest.dump_size} bytes "
        f"and pg_restore --list{age}; the roles it needs exist"
    )
    create = create_database_sql(new_name, props, server_major)
    plain = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(new_name))
    result.steps.append(f"{(create or plain).as_string()};")
    source = (
        f"FOLDER  # {manifest.dump_key} unpacked to a work folder"
        if manifest.dump_format == "directory"
        else f"< {shlex.quote(manifest.dump_key)}"
    )
    result.steps.append(f"{shlex.join(['pg_restore', *options, f'--dbname={new_name}'])} {source}")
    result.steps.extend(statement_text(s) for s in statements)
    name, new, old = (sql.Identifier(n).as_string() for n in (dbname, new_name, old_name))
    if state != "missing":
        result.steps.append(f"-- end the sessions on {name}, then:")
        result.steps.append(f"ALTER DATABASE {name} RENAME TO {old};")
        result.steps.append(f"ALTER DATABASE {new} RENAME TO {name};")
        result.steps.append(f"DROP DATABASE {old} WITH (FORCE);")
    else:
        result.steps.append(f"ALTER DATABASE {new} RENAME TO {name};")


def _check_archive(
    result: RestoreResult,
    storage: Storage,
    manifest: Manifest,
    tools: PgTools,
    environ: Mapping[str, str] | None,
    progress: Callable[[int], None] | None,
    age_identity: Path | None,
) -> str | None:
    """Read the whole archive (through age when encrypted) into `pg_restore --list`: its listing, or None
    with the problem noted when its size or sha256 differ from the manifest or pg_restore cannot read it."""
    unchanged = f"nothing was changed ({result.database!r} is as it was)"
    with tempfile.TemporaryDirectory(prefix="pgdba-restore-list-") as tmp:
        listing_file = Path(tmp) / "list.txt"
        argv = [tools.pg_restore, "--list", f"--file={listing_file}"]
        read = read_archive(storage, manifest, argv, dict(environ or {}) or None, progress, age_identity)
        if read.size != manifest.dump_size or read.sha256 != manifest.dump_sha256:
            result.problems.append(
                f"the archive does not match its manifest (read {read.size} bytes with sha256 {read.sha256}; "
                f"the manifest says {manifest.dump_size} bytes, {manifest.dump_sha256}): {unchanged}"
            )
        elif not read.restore_ok or not listing_file.exists():
            detail = "; ".join(read.errors[:3]) or f"exit {read.returncode}"
            result.problems.append(
                f"pg_restore cannot read the archive's table of contents ({detail}): {unchanged}"
            )
        if result.problems:
            return None
        return listing_file.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def _new_database(result: RestoreResult, admin: Target, new_name: str, dbname: str) -> Iterator[list[str]]:
    """Yields a list the caller appends the new database's name to once created, and clears once it is in
    place; a name left there (a failure, an exception, an interrupt) is dropped again."""
    created: list[str] = []
    try:
        yield created
    finally:
        for name in created:
            try:
                drop_database(admin, name)
            except Exception as exc:  # reported; never hides what made the restore stop
                result.problems.append(
                    f"the unfinished copy {name} could not be dropped, drop it by hand: {exc}"
                )
            else:
                if result.problems:
                    result.problems.append(f"{dbname!r} was not changed; the unfinished copy was dropped")


def _swap(
    result: RestoreResult, admin: Target, dbname: str, new_name: str, old_name: str, *, replacing: bool
) -> None:
    """Put the restored copy in place: the existing database renamed aside, the copy renamed to its name,
    the old one dropped. Every failure (an interrupt too) leaves `dbname` the database it was, renamed back
    when it had been moved aside."""
    with admin.connect(apply=True) as conn:
        if replacing:
            try:
                _rename(conn, dbname, old_name, end_sessions=True)
            except psycopg.Error as exc:
                result.problems.append(f"{dbname!r} could not be renamed aside: {first_line(exc)}")
                return
        in_place = False
        try:
            _rename(conn, new_name, dbname, end_sessions=False)
            in_place = True
        except psycopg.Error as exc:
            result.problems.append(f"the restored copy could not be renamed to {dbname!r}: {first_line(exc)}")
        finally:
            if replacing and not in_place:
                _put_back(result, conn, old_name, dbname)
        if replacing and in_place:
            try:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(old_name)))
            except psycopg.Error as exc:
                result.notes.append(
                    f"warning: the replaced database is kept as {old_name!r}, it could not be dropped "
                    f"({first_line(exc)}): drop it by hand"
                )


def _put_back(result: RestoreResult, conn: psycopg.Connection, old_name: str, dbname: str) -> None:
    try:
        _rename(conn, old_name, dbname, end_sessions=True)
    except psycopg.Error as exc:
        result.problems.append(
            f"the existing database is now named {old_name!r} and could not be renamed back "
            f"({first_line(exc)}): ALTER DATABASE {sql.Identifier(old_name).as_string()} RENAME TO "
            f"{sql.Identifier(dbname).as_string()}"
        )


def _rename(conn: psycopg.Connection, name: str, new_name: str, *, end_sessions: bool) -> None:
    """ALTER DATABASE … RENAME, which needs the database without sessions: with end_sessions, end them
    first (again when one connected in between)."""
    statement = sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
        sql.Identifier(name), sql.Identifier(new_name)
    )
    for attempt in range(RENAME_ATTEMPTS):
        if end_sessions:
            conn.execute(TERMINATE_SESSIONS_SQL, (name,))
        try:
            conn.execute(statement)
            return
        except psycopg.errors.ObjectInUse:
            if not end_sessions or attempt == RENAME_ATTEMPTS - 1:
                raise
            time.sleep(0.2)
