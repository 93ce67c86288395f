"""`pgdba backup restore`: a backup into a named database, refusing to replace a non-empty one without
force. Nothing happens without apply=True; the plan (SQL and pg_restore command) is returned first."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import sql

from pgdba.backup.archive import read_archive
from pgdba.backup.dump import check_jobs, untracked_client_environment
from pgdba.backup.manifest import BackupInfo, find_backup
from pgdba.backup.storage import Storage
from pgdba.backup.tools import PgTools, pg_restore_for_archive
from pgdba.errors import InputError
from pgdba.target import Target

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


@dataclass
class RestoreResult:
    database: str
    backup_id: str
    applied: bool
    ok: bool
    steps: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": 1, **self.__dict__}


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


def create_database(server: Target, dbname: str) -> None:
    with server.connect(apply=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(dbname)))


def drop_database(server: Target, dbname: str) -> None:
    with server.connect(apply=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


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
    manifest = backup.manifest
    if manifest is None or not backup.complete:
        raise InputError(
            f"backup {backup.database}/{backup.backup_id} is incomplete (no manifest): not restoring it"
        )
    check_jobs(jobs)
    result = RestoreResult(dbname, backup.backup_id, applied=apply, ok=False)
    state = database_state(server, dbname)
    if state == "non-empty" and not force:
        raise InputError(f"database {dbname!r} exists and is not empty: pass --force to replace it")
    name = sql.Identifier(dbname).as_string()
    if state != "missing" and force:
        result.steps.append(f"DROP DATABASE IF EXISTS {name} WITH (FORCE);")
    if state == "missing" or force:
        result.steps.append(f"CREATE DATABASE {name} TEMPLATE template0;")
    tools = tools or pg_restore_for_archive(
        manifest.pg_dump_version, manifest.server_version_num // 10000, environ
    )
    options = ["--exit-on-error", "--no-password"]
    if no_owner:
        options.append("--no-owner")
    if jobs > 1 and manifest.dump_format == "directory":
        options.append(f"--jobs={jobs}")
    source = (
        f"FOLDER  # {manifest.dump_key} unpacked to a work folder"
        if manifest.dump_format == "directory"
        else f"< {shlex.quote(manifest.dump_key)}"
    )
    result.steps.append(f"{shlex.join(['pg_restore', *options, f'--dbname={dbname}'])} {source}")
    if not apply:
        result.ok = True
        return result
    if state != "missing" and force:
        drop_database(server, dbname)
    if state == "missing" or force:
        create_database(server, dbname)
    dsn, env = untracked_client_environment(server.with_database(dbname), environ)
    argv = [tools.pg_restore, *options, f"--dbname={dsn}"]
    read = read_archive(storage, manifest, argv, env, progress, age_identity)
    if read.sha256 != manifest.dump_sha256:
        result.problems.append(
            "the archive's sha256 does not match the manifest: the restored data is suspect"
        )
    if not read.restore_ok:
        result.problems.append(f"pg_restore failed (exit {read.returncode}): {'; '.join(read.errors[:3])}")
    result.ok = not result.problems
    return result
