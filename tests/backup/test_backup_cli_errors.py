"""Bad input and an unusable environment are one-line errors (exit 2) that store nothing in the backup
storage (a `backup run` that fails once it has started is recorded as a failed backup in the history store:
tests/alerts/test_health_rules.py); a restore test that could not run never replaces an earlier result."""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from pgdba.backup import find_backup, list_backups, run_backup
from pgdba.backup.dump import MAX_CHECKSUM_LIMIT_MB, MAX_JOBS, MAX_LOCK_TIMEOUT_MS
from pgdba.backup.storage import FileStorage
from pgdba.cli import main
from pgdba.history.store import HistoryStore


@dataclass
class TestedBackup:
    """A backup that passed a restore test run through the CLI, with its history file."""

    __test__ = False
    backup_id: str
    storage: FileStorage
    history: Path
    target_key: str

    @property
    def record(self) -> Path:
        info = find_backup(self.storage, self.backup_id, None)
        return self.storage.root / info.database / info.backup_id / "restore-test.json"

    def restore_test_records(self) -> list[dict[str, object]]:
        with HistoryStore(self.history) as store:
            return [payload for _, payload in store.records(self.target_key, "restore_test")]


@pytest.fixture
def tested_backup(demo_db, file_storage, tmp_path, capsys) -> TestedBackup:  # type: ignore[no-untyped-def]
    history = tmp_path / "history.sqlite3"
    manifest = run_backup(demo_db.target, file_storage, include_globals=False)
    args = ["restore-test", "--dsn", demo_db.cluster.dsn(), "--storage", str(file_storage.root)]
    assert main([*args, "--history", str(history), "--format", "json"]) == 0
    capsys.readouterr()
    backup = TestedBackup(manifest.backup_id, file_storage, history, demo_db.target.key)
    assert find_backup(file_storage, manifest.backup_id, None).status == "tested-ok"
    assert len(backup.restore_test_records()) == 1
    return backup


@pytest.fixture
def role_without_createdb(demo_db) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    name, password = f"lowpriv_{uuid.uuid4().hex[:8]}", "pw-Lowpriv-9"
    demo_db.execute(f"CREATE ROLE {name} LOGIN NOCREATEDB PASSWORD '{password}'")
    yield name, password
    demo_db.execute(f"DROP ROLE {name}")


def _dsn_as(demo_db, user: str, password: str) -> str:  # type: ignore[no-untyped-def]
    params = demo_db.target.params()
    return f"postgresql://{user}:{password}@{params['host']}:{params['port']}/postgres"


def _restore_test(backup: TestedBackup, server_option: str, dsn: str) -> int:
    args = ["restore-test", server_option, dsn, "--storage", str(backup.storage.root)]
    return main([*args, "--history", str(backup.history)])


def test_restore_test_with_a_wrong_password_is_an_error_and_keeps_the_earlier_pass(
    demo_db, tested_backup, capsys
):
    before = tested_backup.record.read_bytes()
    superuser = str(demo_db.target.params()["user"])
    assert _restore_test(tested_backup, "--target", _dsn_as(demo_db, superuser, "wr0ngpw")) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "FAILED" not in captured.err
    (line,) = captured.err.splitlines()
    assert line.startswith("pgdba: error: cannot connect") and "password authentication failed" in line
    assert "nothing recorded" in line and "wr0ngpw" not in line
    assert tested_backup.record.read_bytes() == before
    assert find_backup(tested_backup.storage, tested_backup.backup_id, None).status == "tested-ok"
    assert len(tested_backup.restore_test_records()) == 1


def test_restore_test_by_a_role_without_createdb_is_an_error_and_keeps_the_earlier_pass(
    demo_db, tested_backup, role_without_createdb, capsys
):
    name, password = role_without_createdb
    assert _restore_test(tested_backup, "--dsn", _dsn_as(demo_db, name, password)) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "permission denied to create database" in line and "needs CREATEDB" in line
    assert password not in line
    assert find_backup(tested_backup.storage, tested_backup.backup_id, None).status == "tested-ok"
    assert len(tested_backup.restore_test_records()) == 1


def test_restore_test_of_a_damaged_archive_is_still_recorded_as_failed(demo_db, tested_backup, capsys):
    info = find_backup(tested_backup.storage, tested_backup.backup_id, None)
    assert info.manifest is not None
    archive = tested_backup.storage.root / info.manifest.dump_key
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    assert _restore_test(tested_backup, "--dsn", demo_db.cluster.dsn()) == 1
    assert "FAILED" in capsys.readouterr().out
    assert json.loads(tested_backup.record.read_text())["passed"] is False
    assert find_backup(tested_backup.storage, tested_backup.backup_id, None).status == "tested-failed"
    assert [r["passed"] for r in tested_backup.restore_test_records()] == [False, True]


def test_backup_run_with_an_unusable_history_store_fails_before_dumping(
    demo_db, file_storage, tmp_path, capsys
):
    binary = tmp_path / "binary.sql"
    binary.write_bytes(bytes(range(256)) * 64)
    args = ["backup", "run", "--dsn", demo_db.dsn, "--storage", str(file_storage.root)]
    assert main([*args, "--history", str(binary)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("pgdba: error: cannot open history store") and str(binary) in line
    assert list_backups(file_storage) == [] and not any(file_storage.root.iterdir())


def test_restore_test_with_an_unusable_history_store_fails_before_restoring(
    demo_db, tested_backup, tmp_path, capsys
):
    before = tested_backup.record.read_bytes()
    args = ["restore-test", "--dsn", demo_db.cluster.dsn(), "--storage", str(tested_backup.storage.root)]
    assert main([*args, "--history", str(tmp_path)]) == 2  # a directory is no SQLite file
    assert capsys.readouterr().err.startswith("pgdba: error: cannot open history store")
    assert tested_backup.record.read_bytes() == before


def test_a_bad_age_recipient_is_refused_before_pg_dump_starts(demo_db, file_storage, capsys):
    args = ["backup", "run", "--dsn", demo_db.dsn, "--storage", str(file_storage.root)]
    assert main([*args, "--age-recipient", "notakey"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("pgdba: error: --age-recipient:") and "notakey" in line
    assert "pg_dump" not in line
    assert not any(file_storage.root.iterdir())


KEEP_OPTIONS = ["--keep-last", "--keep-daily", "--keep-weekly", "--keep-monthly", "--keep-within-days"]


@pytest.mark.parametrize("option", KEEP_OPTIONS)
def test_prune_refuses_a_keep_rule_of_zero_saying_it_keeps_nothing(tested_backup, option, capsys):
    args = ["backup", "prune", "--storage", str(tested_backup.storage.root), option, "0", "--dry-run"]
    assert main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"pgdba: error: {option} takes 1 to ") and "0 would keep no backup" in line
    assert "no retention rule" not in line
    assert len(list_backups(tested_backup.storage)) == 1


@pytest.mark.parametrize("option", KEEP_OPTIONS)
@pytest.mark.parametrize("value", ["-1", "99999999999999"])
def test_prune_refuses_negative_and_huge_keep_rules_alike(tested_backup, option, value, capsys):
    args = ["backup", "prune", "--storage", str(tested_backup.storage.root), option, value, "--dry-run"]
    assert main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"pgdba: error: {option} takes 1 to ") and line.endswith(f", not {value}")
    assert len(list_backups(tested_backup.storage)) == 1


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--checksum-limit-mb", "-1", f"--checksum-limit-mb takes 0 to {MAX_CHECKSUM_LIMIT_MB}"),
        ("--checksum-limit-mb", str(MAX_CHECKSUM_LIMIT_MB + 1), "--checksum-limit-mb takes 0 to"),
        ("--jobs", "99999999999999", f"--jobs takes 1 to {MAX_JOBS}"),
        ("--compress", "99999999999999", "--compress takes 0 (none) to 9"),
        (
            "--lock-timeout",
            str(MAX_LOCK_TIMEOUT_MS + 1),
            f"--lock-timeout takes 0 (wait forever) to {MAX_LOCK_TIMEOUT_MS}",
        ),
        ("--lock-timeout", "-1", "timeouts must be zero (no limit) or positive"),
    ],
)
def test_backup_run_refuses_out_of_range_numbers_before_dumping(
    demo_db, file_storage, option, value, message, capsys
):
    args = ["backup", "run", "--dsn", demo_db.dsn, "--storage", str(file_storage.root), option, value]
    assert main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"pgdba: error: {message}")
    assert not any(file_storage.root.iterdir())


@pytest.mark.parametrize("jobs", ["0", str(MAX_JOBS + 1)])
def test_every_jobs_option_refuses_out_of_range_alike(demo_db, tested_backup, jobs, capsys):
    storage = ["--storage", str(tested_backup.storage.root)]
    server = ["--dsn", demo_db.cluster.dsn()]
    before = tested_backup.record.read_bytes()
    commands = [
        ["restore-test", *server, *storage, "--history", str(tested_backup.history), "--jobs", jobs],
        ["backup", "restore", *server, *storage, "--into", "never_created", "--apply", "--jobs", jobs],
        ["backup", "run", "--dsn", demo_db.dsn, *storage, "--jobs", jobs],
    ]
    for argv in commands:
        assert main(argv) == 2, argv
        assert capsys.readouterr().err == f"pgdba: error: --jobs takes 1 to {MAX_JOBS}\n"
    assert len(list_backups(tested_backup.storage)) == 1
    assert tested_backup.record.read_bytes() == before
    assert len(tested_backup.restore_test_records()) == 1
    with psycopg.connect(demo_db.cluster.dsn()) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = 'never_created'").fetchone() is None


def test_an_age_identity_for_an_unencrypted_backup_is_noted_not_silently_ignored(
    tested_backup, tmp_path, capsys
):
    key = tmp_path / "unused.agekey"
    key.write_text("AGE-SECRET-KEY-1NOTUSED\n")
    args = ["backup", "verify", "--storage", str(tested_backup.storage.root), "--age-identity", str(key)]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert ": ok (" in captured.out
    assert captured.err.splitlines() == [
        f"note: backup {find_backup(tested_backup.storage, None, None).database}/{tested_backup.backup_id} "
        f"is not encrypted: the age identity {key} is not used"
    ]
    assert main(["backup", "verify", "--storage", str(tested_backup.storage.root)]) == 0
    assert capsys.readouterr().err == ""


def test_restore_test_jobs_help_speaks_of_pg_restore_not_of_dumping(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["restore-test", "--help"]) == 0
    jobs_help = next(line for line in capsys.readouterr().out.splitlines() if "--jobs" in line)
    assert "pg_restore" in jobs_help and "dump" not in jobs_help


def test_verify_of_an_unknown_id_echoes_the_id_as_given(file_storage, capsys):
    for given in ("../../etc", "../etc", "app/20260101T000000.000000Z"):
        assert main(["backup", "verify", given, "--storage", str(file_storage.root)]) == 2
        assert capsys.readouterr().err == f"pgdba: error: no backup {given!r} in {file_storage.url}\n"


def test_restore_plan_quotes_shell_words_so_it_can_be_pasted(demo_db, tested_backup, capsys):
    into = 'bad"name'
    args = ["backup", "restore", "--dsn", demo_db.cluster.dsn(), "--storage", str(tested_backup.storage.root)]
    assert main([*args, "--into", into]) == 0
    out = capsys.readouterr().out.splitlines()
    command = next(line.strip() for line in out if line.strip().startswith("pg_restore"))
    words = shlex.split(command.split(" < ")[0])
    # restored under a temporary name first, that ends with the name restored into
    assert words[0] == "pg_restore" and words[-1].startswith("--dbname=pgdba_new_")
    assert words[-1].endswith(f"_{into}")


def test_prune_help_says_a_rule_of_zero_is_refused(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["backup", "prune", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "each takes 1 or more. A rule of 0 would keep no backup, so it is refused" in text
