"""`pgdba backup verify`: re-read the whole archive, check its sha256 and size against the manifest, and
make pg_restore read every data block of it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgdba.backup.archive import read_archive
from pgdba.backup.encryption import NoAgeIdentity
from pgdba.backup.manifest import BackupInfo
from pgdba.backup.storage import Storage, StorageError
from pgdba.backup.tools import PgTools, pg_restore_for_archive
from pgdba.errors import NotAvailable


@dataclass
class VerifyResult:
    database: str
    backup_id: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    size: int = 0
    sha256: str | None = None
    # why this machine could not verify it (a tool is missing): not proven good, not proven broken
    not_verified: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "database": self.database,
            "backup_id": self.backup_id,
            "ok": self.ok,
            "problems": self.problems,
            "size": self.size,
            "sha256": self.sha256,
            "not_verified": self.not_verified,
        }


def verify_backup(
    storage: Storage,
    backup: BackupInfo,
    *,
    tools: PgTools | None = None,
    environ: Mapping[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
    age_identity: Path | None = None,
) -> VerifyResult:
    """Every way the backup could be unusable, as a list of problems (empty = good)."""
    result = VerifyResult(backup.database, backup.backup_id, ok=False)
    manifest = backup.manifest
    if manifest is None:
        result.problems.append(backup.problem or "incomplete: no manifest (the backup never finished)")
        return result
    if not backup.complete:
        result.problems.append(f"the archive {manifest.dump_key} is missing")
        return result
    tools = tools or pg_restore_for_archive(
        manifest.pg_dump_version, manifest.server_version_num // 10000, environ
    )
    read = read_archive(
        storage,
        manifest,
        [tools.pg_restore, "--file=/dev/null"],
        dict(environ or {}) or None,
        progress,
        age_identity,
    )
    result.size, result.sha256 = read.size, read.sha256
    if read.size != manifest.dump_size:
        result.problems.append(f"size is {read.size} bytes, the manifest says {manifest.dump_size}")
    if read.sha256 != manifest.dump_sha256:
        result.problems.append(f"sha256 is {read.sha256}, the manifest says {manifest.dump_sha256}")
    if not read.restore_ok:
        detail = read.errors[0] if read.errors else f"exit {read.returncode}"
        result.problems.append(f"pg_restore cannot read the whole archive: {detail}")
    if manifest.globals_key:
        try:
            data = storage.get_bytes(manifest.globals_key)
        except StorageError as exc:
            result.problems.append(str(exc))
        else:
            if hashlib.sha256(data).hexdigest() != manifest.globals_sha256:
                result.problems.append(f"{manifest.globals_key}: sha256 does not match the manifest")
    result.ok = not result.problems
    return result


def verify_or_say_why_not(
    storage: Storage,
    backup: BackupInfo,
    *,
    tools: PgTools | None = None,
    environ: Mapping[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
    age_identity: Path | None = None,
) -> VerifyResult:
    """verify_backup, except that a backup this machine cannot verify (no pg_restore as new as its pg_dump,
    no age, encrypted and no age identity given) is a result saying why, not an error: one such backup must
    not stop `verify --all`. A given identity file that does not exist stays an error (a mistyped path)."""
    try:
        return verify_backup(
            storage, backup, tools=tools, environ=environ, progress=progress, age_identity=age_identity
        )
    except (NotAvailable, NoAgeIdentity) as exc:
        return VerifyResult(backup.database, backup.backup_id, ok=False, not_verified=str(exc))
