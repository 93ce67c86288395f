"""`backup verify --all` with an encrypted backup and no age identity: that backup is "not verified" (the
key is not on this machine), the others are verified, exit 1; a mistyped identity path stays an error."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pgdba.backup import run_backup
from pgdba.backup.storage import FileStorage
from pgdba.cli import main
from tests.conftest import TestDatabase


@pytest.fixture
def age_recipient(tmp_path: Path) -> str:
    out = subprocess.run(
        ["age-keygen", "-o", str(tmp_path / "backup.agekey")], capture_output=True, text=True, check=True
    )
    return out.stderr.strip().rsplit(" ", 1)[-1]


@pytest.fixture
def without_identity_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGDBA_BACKUP_AGE_IDENTITY", raising=False)


@pytest.mark.usefixtures("without_identity_in_environment")
def test_verify_all_reports_an_encrypted_backup_without_identity_as_not_verified(
    db: TestDatabase, file_storage: FileStorage, age_recipient: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = run_backup(db.target, file_storage, include_globals=False)
    sealed = run_backup(db.target, file_storage, include_globals=False, age_recipients=[age_recipient])
    url = str(file_storage.root)

    assert main(["backup", "verify", "--all", "--storage", url]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{db.name}/{plain.backup_id}: ok ({plain.dump_size} bytes read)",
        f"{db.name}/{sealed.backup_id}: not verified: this backup is encrypted with age: pass "
        "--age-identity FILE (or PGDBA_BACKUP_AGE_IDENTITY)",
    ]

    assert main(["backup", "verify", "--all", "--storage", url, "--format", "json"]) == 1
    results = {r["backup_id"]: r for r in json.loads(capsys.readouterr().out)["backups"]}
    assert results[plain.backup_id]["ok"] and results[plain.backup_id]["not_verified"] is None
    assert not results[sealed.backup_id]["ok"] and results[sealed.backup_id]["problems"] == []
    assert "encrypted with age" in results[sealed.backup_id]["not_verified"]


@pytest.mark.usefixtures("without_identity_in_environment")
def test_verify_all_with_a_mistyped_identity_path_stays_a_one_line_error(
    db: TestDatabase,
    file_storage: FileStorage,
    age_recipient: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_backup(db.target, file_storage, include_globals=False, age_recipients=[age_recipient])
    missing = tmp_path / "typo.agekey"
    argv = ["backup", "verify", "--all", "--storage", str(file_storage.root), "--age-identity", str(missing)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"pgdba: error: age identity file {missing} does not exist\n"


@pytest.mark.usefixtures("without_identity_in_environment")
def test_verify_of_one_encrypted_backup_without_identity_stays_a_one_line_error(
    db: TestDatabase, file_storage: FileStorage, age_recipient: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_backup(db.target, file_storage, include_globals=False, age_recipients=[age_recipient])
    assert main(["backup", "verify", "--storage", str(file_storage.root)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert "encrypted with age: pass --age-identity" in captured.err
