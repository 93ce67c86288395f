"""A cron check must not pass on nothing: a mistyped storage folder is an error, `verify --all` that finds
no backup fails, `list` shows a damaged archive as damaged, and one backup this machine cannot verify (no
pg_restore new enough) does not stop `verify --all` from verifying the others."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pgdba.backup import find_backup, list_backups, run_backup
from pgdba.backup.manifest import write_manifest
from pgdba.backup.storage import FileStorage
from pgdba.cli import main

MISSING_MAJOR = 99  # no pg_restore 99 is installed anywhere


def _missing_folder(tmp_path: Path) -> Path:
    missing = tmp_path / "typo" / "backups"
    assert not missing.exists()
    return missing


def _reader_commands(missing: Path, dsn: str) -> list[list[str]]:
    storage = ["--storage", str(missing)]
    return [
        ["backup", "verify", "--all", *storage],
        ["backup", "verify", *storage],
        ["backup", "list", *storage],
        ["backup", "list", *storage, "--format", "json"],
        ["backup", "prune", *storage, "--keep-last", "1", "--dry-run"],
        ["backup", "restore", *storage, "--dsn", dsn, "--into", "anything"],
        ["restore-test", *storage, "--dsn", dsn],
    ]


def test_every_command_that_reads_backups_refuses_a_storage_folder_that_does_not_exist(db, tmp_path, capsys):
    missing = _missing_folder(tmp_path)
    for argv in _reader_commands(missing, db.dsn):
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        assert captured.out == "", argv
        assert captured.err.count("\n") == 1, (argv, captured.err)
        assert f"{missing} is not an existing folder" in captured.err, argv
        assert "Traceback" not in captured.err
    assert not missing.exists() and not missing.parent.exists()


def test_a_missing_folder_given_as_file_url_or_by_environment_is_refused_too(tmp_path, capsys, monkeypatch):
    missing = _missing_folder(tmp_path)
    assert main(["backup", "verify", "--all", "--storage", f"file://{missing}"]) == 2
    assert f"{missing} is not an existing folder" in capsys.readouterr().err
    monkeypatch.setenv("PGDBA_BACKUP_STORAGE", str(missing))
    assert main(["backup", "list"]) == 2
    assert f"{missing} is not an existing folder" in capsys.readouterr().err


def test_backup_run_still_creates_its_storage_folder(db, tmp_path, capsys):
    missing = _missing_folder(tmp_path)
    argv = ["backup", "run", "--dsn", db.dsn, "--storage", str(missing), "--no-globals", "--format", "json"]
    assert main(argv) == 0
    run = json.loads(capsys.readouterr().out)
    assert [b.backup_id for b in list_backups(FileStorage(missing))] == [run["backup_id"]]
    assert main(["backup", "verify", "--all", "--storage", str(missing)]) == 0


def test_verify_all_of_an_empty_folder_fails_saying_no_backup_was_found(file_storage, capsys):
    url = str(file_storage.root)
    assert main(["backup", "verify", "--all", "--storage", url]) == 1
    assert capsys.readouterr().out == f"no backup found in {file_storage.url}\n"
    assert main(["backup", "verify", "--all", "--storage", url, "--format", "json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"schema_version": 1, "backups": []}
    assert f"no backup found in {file_storage.url}" in captured.err


def test_verify_all_of_a_database_without_backups_fails_naming_it(db, file_storage, capsys):
    run_backup(db.target, file_storage, include_globals=False)
    url = str(file_storage.root)
    assert main(["backup", "verify", "--all", "--storage", url, "--database", "no_such_db"]) == 1
    assert capsys.readouterr().out == f"no backup found in {file_storage.url} for database 'no_such_db'\n"
    assert main(["backup", "verify", "--all", "--storage", url, "--database", db.name]) == 0


def test_list_table_shows_a_truncated_archive_as_damaged_with_its_problem(db, file_storage, capsys):
    good = run_backup(db.target, file_storage, include_globals=False)
    cut = run_backup(db.target, file_storage, include_globals=False)
    (file_storage.root / cut.database / cut.backup_id / "restore-test.json").write_text('{"passed": true}')
    archive = file_storage.root / cut.database / cut.backup_id / "dump.pgdump"
    os.truncate(archive, cut.dump_size // 2)
    problem = f"dump.pgdump is {cut.dump_size // 2} bytes, the manifest says {cut.dump_size}"

    assert main(["backup", "list", "--storage", str(file_storage.root)]) == 0
    out = capsys.readouterr().out
    rows = {
        line.split("│")[2].strip(): line.split("│")[3].strip() for line in out.splitlines() if "│" in line
    }
    assert rows == {good.backup_id: "complete", cut.backup_id: "damaged"}
    assert f"problem: {cut.database}/{cut.backup_id}: {problem}" in out.splitlines()

    assert main(["backup", "list", "--storage", str(file_storage.root), "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert f"| {cut.backup_id} | damaged |" in markdown and problem in markdown

    assert main(["backup", "list", "--storage", str(file_storage.root), "--format", "json"]) == 0
    listed = {b["backup_id"]: b for b in json.loads(capsys.readouterr().out)["backups"]}
    assert listed[cut.backup_id]["status"] == "tested-ok" and listed[cut.backup_id]["problem"] == problem
    assert listed[good.backup_id]["problem"] is None


def _recorded_as_from_pg_dump(storage: FileStorage, backup_id: str, major: int) -> None:
    info = find_backup(storage, backup_id, None)
    assert info.manifest is not None
    info.manifest.pg_dump_version = f"pg_dump (PostgreSQL) {major}.1"
    write_manifest(storage, info.manifest)


def test_verify_all_goes_on_past_a_backup_that_needs_a_pg_restore_not_installed(db, file_storage, capsys):
    first = run_backup(db.target, file_storage, include_globals=False)
    unverifiable = run_backup(db.target, file_storage, include_globals=False)
    last = run_backup(db.target, file_storage, include_globals=False)
    _recorded_as_from_pg_dump(file_storage, unverifiable.backup_id, MISSING_MAJOR)
    url = str(file_storage.root)

    assert main(["backup", "verify", "--all", "--storage", url]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{db.name}/{first.backup_id}: ok ({first.dump_size} bytes read)"
    assert lines[1].startswith(f"{db.name}/{unverifiable.backup_id}: not verified: ")
    assert f"needs pg_restore {MISSING_MAJOR} or newer" in lines[1]
    assert lines[2] == f"{db.name}/{last.backup_id}: ok ({last.dump_size} bytes read)"

    assert main(["backup", "verify", "--all", "--storage", url, "--format", "json"]) == 1
    results = {r["backup_id"]: r for r in json.loads(capsys.readouterr().out)["backups"]}
    assert [results[b.backup_id]["ok"] for b in (first, unverifiable, last)] == [True, False, True]
    assert results[first.backup_id]["not_verified"] is None
    assert f"needs pg_restore {MISSING_MAJOR} or newer" in results[unverifiable.backup_id]["not_verified"]
    assert results[unverifiable.backup_id]["problems"] == [] and results[unverifiable.backup_id]["size"] == 0


def test_verify_of_that_one_backup_alone_stays_a_one_line_error(db, file_storage, capsys):
    backup = run_backup(db.target, file_storage, include_globals=False)
    _recorded_as_from_pg_dump(file_storage, backup.backup_id, MISSING_MAJOR)
    assert main(["backup", "verify", backup.backup_id, "--storage", str(file_storage.root)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and f"needs pg_restore {MISSING_MAJOR} or newer" in captured.err


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_verify_all_with_only_good_backups_still_exits_0(db, file_storage, fmt, capsys):
    run_backup(db.target, file_storage, include_globals=False)
    assert main(["backup", "verify", "--all", "--storage", str(file_storage.root), "--format", fmt]) == 0
