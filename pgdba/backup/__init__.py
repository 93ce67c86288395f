"""Backups that are proven restorable: pg_dump to a folder or S3/R2, manifest, verify, restore, restore
test, retention."""

from pgdba.backup.dump import BackupFailed, run_backup
from pgdba.backup.manifest import BackupInfo, Manifest, find_backup, list_backups, locate_backup
from pgdba.backup.restore import restore_backup
from pgdba.backup.restore_test import (
    RestoreTestResult,
    record_restore_test,
    restore_test,
    restore_test_history,
)
from pgdba.backup.retention import RetentionPolicy, plan_retention, prune_backups
from pgdba.backup.storage import FileStorage, S3Storage, StorageError, open_storage
from pgdba.backup.tools import PgTools, find_pg_tools
from pgdba.backup.verify import VerifyResult, verify_backup

__all__ = [
    "BackupFailed",
    "BackupInfo",
    "FileStorage",
    "Manifest",
    "PgTools",
    "RestoreTestResult",
    "RetentionPolicy",
    "S3Storage",
    "StorageError",
    "VerifyResult",
    "find_backup",
    "find_pg_tools",
    "list_backups",
    "locate_backup",
    "open_storage",
    "plan_retention",
    "prune_backups",
    "record_restore_test",
    "restore_backup",
    "restore_test",
    "restore_test_history",
    "run_backup",
    "verify_backup",
]
