"""Damaged or unfinished backups are detected and never reported as good."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from pgdba.backup import BackupFailed, find_backup, list_backups, restore_test, run_backup, verify_backup
from pgdba.backup.restore_test import ScratchDatabaseUnavailable
from pgdba.backup.storage import FileStorage
from pgdba.backup.tools import find_pg_tools
from pgdba.cli import main
from pgdba.target import resolve_target


def _archive(storage: FileStorage, database: str, backup_id: str) -> Path:
    return storage.root / database / backup_id / "dump.pgdump"


def test_truncated_archive_is_detected_even_where_pg_restore_list_passes(demo_db, file_storage, server_major):
    manifest = run_backup(demo_db.target, file_storage, include_globals=False)
    path = _archive(file_storage, manifest.database, manifest.backup_id)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    # the trap: the table of contents is intact, so `pg_restore -l` is happy with the broken archive
    tools = find_pg_tools(server_major)
    assert subprocess.run([tools.pg_restore, "-l", str(path)], capture_output=True).returncode == 0

    result = verify_backup(file_storage, find_backup(file_storage, manifest.backup_id, None))
    assert not result.ok
    assert any(p.startswith("sha256 is") for p in result.problems)
    assert any(p.startswith("pg_restore cannot read the whole archive") for p in result.problems)


def test_truncated_archive_with_a_matching_manifest_still_fails_verify(demo_db, file_storage):
    """Even if the manifest agreed with the damaged bytes, reading every data block finds the damage."""
    manifest = run_backup(demo_db.target, file_storage, include_globals=False)
    path = _archive(file_storage, manifest.database, manifest.backup_id)
    truncated = path.read_bytes()[: manifest.dump_size // 2]
    path.write_bytes(truncated)
    manifest_path = path.with_name("manifest.json")
    doc = json.loads(manifest_path.read_text())
    doc["dump_size"], doc["dump_sha256"] = len(truncated), hashlib.sha256(truncated).hexdigest()
    manifest_path.write_text(json.dumps(doc))
    result = verify_backup(file_storage, find_backup(file_storage, manifest.backup_id, None))
    assert [p.split(":")[0] for p in result.problems] == ["pg_restore cannot read the whole archive"]


def test_flipped_byte_is_detected_by_verify_and_restore_test(demo_db, file_storage, capsys):
    manifest = run_backup(demo_db.target, file_storage, include_globals=False, exact=True)
    path = _archive(file_storage, manifest.database, manifest.backup_id)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    info = find_backup(file_storage, manifest.backup_id, None)
    result = verify_backup(file_storage, info)
    assert not result.ok and any(p.startswith("sha256 is") for p in result.problems)
    tested = restore_test(file_storage, info, demo_db.target)
    assert not tested.passed
    assert next(c for c in tested.checks if c.name == "archive.sha256").status == "fail"
    assert main(["backup", "verify", "--storage", str(file_storage.root)]) == 1
    assert "BROKEN" in capsys.readouterr().out


def test_dump_killed_midway_leaves_no_backup_and_no_manifest(big_db, file_storage, pg_dump_killer):
    good = run_backup(big_db.target, file_storage, include_globals=False)
    with pytest.raises(BackupFailed, match=r"pg_dump failed \(exit -9\)"):
        run_backup(
            big_db.target, file_storage, include_globals=False, compress=0, progress=pg_dump_killer.progress
        )
    assert len(pg_dump_killer.killed) == 1
    backups = list_backups(file_storage)
    assert [(b.backup_id, b.status) for b in backups] == [(good.backup_id, "complete")]
    assert not list(file_storage.root.rglob("*.partial"))
    assert verify_backup(file_storage, backups[0]).ok


def test_unreadable_manifest_lists_as_incomplete(demo_db, file_storage):
    manifest = run_backup(demo_db.target, file_storage, include_globals=False)
    (file_storage.root / manifest.database / manifest.backup_id / "manifest.json").write_text("{not json")
    (info,) = list_backups(file_storage)
    assert info.status == "incomplete" and info.problem and "unreadable" in info.problem


def test_restore_test_that_cannot_create_its_scratch_database_is_an_error_not_a_result(demo_db, file_storage):
    """No CREATEDB says nothing about the backup: an error to fix, never a failed test to record."""
    manifest = run_backup(demo_db.target, file_storage, include_globals=False)
    demo_db.execute("CREATE ROLE no_createdb LOGIN PASSWORD 'pw-no-createdb'")
    try:
        params = demo_db.target.params()
        weak = resolve_target(
            f"postgresql://no_createdb:pw-no-createdb@{params['host']}:{params['port']}/postgres"
        )
        with pytest.raises(ScratchDatabaseUnavailable, match="permission denied") as raised:
            restore_test(file_storage, find_backup(file_storage, manifest.backup_id, None), weak)
        assert "CREATEDB" in str(raised.value) and "pw-no-createdb" not in str(raised.value)
        assert find_backup(file_storage, manifest.backup_id, None).status == "complete"
    finally:
        demo_db.execute("DROP ROLE no_createdb")
