"""/api/v1/backups: the backups of a database with their restore tests, and the confirmed actions that
take a backup or run a restore test (into a scratch database on the same server)."""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request

from pgdba.api.actions import Confirmation, record_action, require_action_allowed
from pgdba.api.dependencies import DatabaseName, settings_of, target_of
from pgdba.api.models import ERROR_RESPONSES
from pgdba.api.settings import ApiSettings
from pgdba.api.v1_models import BackupListResponse, BackupRunResponse, RestoreTestRequest, RestoreTestResponse
from pgdba.backup import (
    find_backup,
    list_backups,
    open_storage,
    record_restore_test,
    restore_test,
    restore_test_history,
    run_backup,
)
from pgdba.backup.manifest import check_history_store, record_backup, record_failed_backup
from pgdba.backup.server_identity import (
    ServerReached,
    backups_for_server,
    reachable_system_identifier,
    target_system_identifier,
)
from pgdba.backup.storage import Storage, require_existing_folder
from pgdba.errors import InputError, NotAvailable
from pgdba.target import Target

router = APIRouter(prefix="/api/v1/backups", tags=["backups"], responses=ERROR_RESPONSES)


def backup_storage(settings: ApiSettings) -> Storage:
    if not settings.backup_storage and not os.environ.get("PGDBA_BACKUP_STORAGE"):
        raise NotAvailable(
            "no backup storage: serve with --backup-storage file:///path or s3://bucket/prefix"
        )
    return open_storage(settings.backup_storage)


def existing_backup_storage(settings: ApiSettings) -> Storage:
    """The storage to read backups from: a folder that has vanished since `serve` checked it at start (an
    unmounted disk) is 409, not an empty list of backups."""
    storage = backup_storage(settings)
    try:
        require_existing_folder(storage)
    except InputError:  # the server's folder, not the request: 409
        raise NotAvailable(
            f"backup storage {storage.url} is not available: its folder does not exist (unmounted?)"
        ) from None
    return storage


def backups_body(settings: ApiSettings, target: Target) -> dict[str, Any]:
    """The database's backups taken on its server (another server's under the same database name are
    counted in other_servers, not listed; all are listed when the server is unreachable), newest first, and
    its recorded restore tests."""
    storage = existing_backup_storage(settings)
    system_identifier = reachable_system_identifier(target)
    server = backups_for_server(list_backups(storage, target.database), system_identifier, [target.database])
    backups = sorted(server.backups, key=lambda b: b.backup_id, reverse=True)
    tests = restore_test_history(
        target.key, settings.history_store, limit=20, system_identifier=system_identifier
    )
    return {
        "schema_version": 1,
        "storage": storage.url,
        "system_identifier": system_identifier,
        "other_servers": [other.to_dict() for other in server.other_servers],
        "backups": [b.to_dict() for b in backups],
        "restoreTests": tests,
        "lastRestoreTest": tests[0] if tests else None,
    }


@router.get("", response_model=BackupListResponse)
def backups(request: Request, db: DatabaseName = None) -> dict[str, Any]:
    """Backups (status incomplete / complete / tested-ok / tested-failed, size, checksum) and restore tests;
    409 when the storage folder no longer exists."""
    return backups_body(settings_of(request), target_of(request, db))


@router.post("/run", response_model=BackupRunResponse, dependencies=[Depends(require_action_allowed)])
def run(request: Request, body: Confirmation, db: DatabaseName = None) -> dict[str, Any]:
    """Take a logical backup now (pg_dump into the storage, manifest and checksum written last)."""
    target = target_of(request, db)
    settings = settings_of(request)
    storage = backup_storage(settings)
    check_history_store(settings.history_store)  # before the dump: a stored backup must get recorded
    started = datetime.now(UTC)
    reached = ServerReached()  # the server's identifier once connected: the failure is that server's
    try:
        manifest = run_backup(target, storage, reached=reached)
    except Exception as exc:  # a failed backup is recorded too (the backup-age alert counts it), then raised
        with contextlib.suppress(Exception):
            record_failed_backup(
                target.key, storage.url, started, exc, settings.history_store, reached.system_identifier
            )
        raise
    record_backup(target.key, storage.url, manifest, settings.history_store)
    record_action(request, target, "backup-run", manifest.backup_id, {"status": "done"})
    data = manifest.to_dict()
    return {"schema_version": 1, "storage": storage.url, **{k: data[k] for k in BACKUP_RUN_FIELDS}}


@router.post(
    "/restore-test", response_model=RestoreTestResponse, dependencies=[Depends(require_action_allowed)]
)
def run_restore_test(request: Request, body: RestoreTestRequest, db: DatabaseName = None) -> dict[str, Any]:
    """Restore a backup (the newest complete one by default) into a scratch database and verify it; 409
    when the server's free space (where this machine sees it) is too small, unless skipSpaceCheck."""
    settings = settings_of(request)
    target = target_of(request, db)
    storage = existing_backup_storage(settings)
    try:
        newest_of = target_system_identifier(target) if body.backupId is None else None
        backup = find_backup(storage, body.backupId, target.database, newest_of)
    except InputError as exc:  # no such backup (yet): the storage's state, not a malformed request
        raise NotAvailable(str(exc)) from None
    check_history_store(settings.history_store)
    result = restore_test(storage, backup, target, space_check=not body.skipSpaceCheck)
    record_restore_test(storage, backup, result, settings.history_store)
    outcome = "passed" if result.passed else "failed"
    record_action(request, target, "restore-test", f"{backup.backup_id}: {outcome}", {"status": outcome})
    return result.to_dict()


BACKUP_RUN_FIELDS = (
    "backup_id",
    "database",
    "started_at",
    "finished_at",
    "dump_key",
    "dump_size",
    "dump_sha256",
    "dump_format",
    "server_version",
    "system_identifier",
    "exact",
    "database_size",
)
