"""Client-side encryption with age: only ciphertext is stored; verify and restore-test decrypt on the fly."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pgdba.backup import BackupFailed, find_backup, list_backups, restore_test, run_backup, verify_backup
from pgdba.cli import main
from pgdba.errors import InputError


@pytest.fixture
def age_key(tmp_path: Path) -> tuple[Path, str]:
    identity = tmp_path / "backup.agekey"
    out = subprocess.run(["age-keygen", "-o", str(identity)], capture_output=True, text=True, check=True)
    recipient = out.stderr.strip().rsplit(" ", 1)[-1]
    assert recipient.startswith("age1")
    return identity, recipient


def test_encrypted_backup_stores_ciphertext_and_restore_tests(demo_db, file_storage, age_key):
    identity, recipient = age_key
    manifest = run_backup(demo_db.target, file_storage, exact=True, age_recipients=[recipient])
    assert manifest.encryption == "age" and manifest.globals_key and manifest.globals_key.endswith(".age")
    stored = (file_storage.root / manifest.dump_key).read_bytes()
    assert stored.startswith(b"age-encryption.org/v1") and b"PGDMP" not in stored[:200]
    assert b"CREATE ROLE" not in (file_storage.root / manifest.globals_key).read_bytes()
    info = find_backup(file_storage, None, None)
    with pytest.raises(InputError, match="encrypted with age: pass --age-identity"):
        verify_backup(file_storage, info)
    assert verify_backup(file_storage, info, age_identity=identity).ok
    with pytest.raises(InputError, match="encrypted with age"):
        restore_test(file_storage, info, demo_db.target)
    result = restore_test(file_storage, info, demo_db.target, age_identity=identity)
    assert result.passed, result.to_dict()


def test_encrypted_backup_with_the_wrong_key_or_damage_fails(
    demo_db, file_storage, age_key, tmp_path, capsys
):
    identity, recipient = age_key
    manifest = run_backup(demo_db.target, file_storage, include_globals=False, age_recipients=[recipient])
    other = tmp_path / "other.agekey"
    subprocess.run(["age-keygen", "-o", str(other)], capture_output=True, check=True)
    info = find_backup(file_storage, None, None)
    wrong = verify_backup(file_storage, info, age_identity=other)
    assert not wrong.ok and any("pg_restore cannot read the whole archive" in p for p in wrong.problems)
    path = file_storage.root / manifest.dump_key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    args = ["backup", "verify", "--storage", str(file_storage.root), "--age-identity", str(identity)]
    assert main([*args, "--format", "json"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert problems[0].startswith("sha256 is") and "pg_restore cannot read the whole archive" in problems[1]


def test_killed_dump_under_encryption_is_still_detected(big_db, file_storage, age_key, pg_dump_killer):
    """age closes a well-formed ciphertext on EOF, so pg_dump's own exit status must decide."""
    _, recipient = age_key
    with pytest.raises(BackupFailed, match=r"pg_dump failed \(exit -9\)"):
        run_backup(
            big_db.target,
            file_storage,
            include_globals=False,
            compress=0,
            age_recipients=[recipient],
            progress=pg_dump_killer.progress,
        )
    assert pg_dump_killer.killed and list_backups(file_storage) == []
