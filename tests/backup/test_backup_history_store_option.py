"""`backup run` and `restore-test` name their history store `--store`, like every other command; the old
`--history` still works (hidden) so existing crontabs keep recording."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdba.backup.manifest import BACKUP_KIND
from pgdba.backup.restore_test import RESTORE_TEST_KIND
from pgdba.cli import main
from pgdba.history.store import HistoryStore


def _records(path: Path, target_key: str, kind: str) -> list[object]:
    with HistoryStore(path) as store:
        return [payload for _, payload in store.records(target_key, kind)]


@pytest.mark.parametrize("option", ["--store", "--history"])
def test_backup_run_and_restore_test_record_into_the_store_either_spelling_names(
    demo_db, file_storage, tmp_path, capsys, option
):  # type: ignore[no-untyped-def]
    history = tmp_path / "history.sqlite3"
    storage = ["--storage", str(file_storage.root)]
    assert main(["backup", "run", "--dsn", demo_db.dsn, *storage, option, str(history)]) == 0
    assert main(["restore-test", "--dsn", demo_db.cluster.dsn(), *storage, option, str(history)]) == 0
    capsys.readouterr()
    assert len(_records(history, demo_db.target.key, BACKUP_KIND)) == 1
    assert len(_records(history, demo_db.target.key, RESTORE_TEST_KIND)) == 1


def test_store_and_history_naming_different_files_is_one_line_error(demo_db, file_storage, tmp_path, capsys):  # type: ignore[no-untyped-def]
    args = ["backup", "run", "--dsn", demo_db.dsn, "--storage", str(file_storage.root)]
    options = ["--store", str(tmp_path / "a.sqlite3"), "--history", str(tmp_path / "b.sqlite3")]
    assert main([*args, *options]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("pgdba: error: --store") and "different history stores" in line
    assert not any(file_storage.root.iterdir())


@pytest.mark.parametrize("command", [["backup", "run"], ["restore-test"]])
def test_help_names_the_history_store_option_store(capsys, command) -> None:  # type: ignore[no-untyped-def]
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "--store" in out and "--history" not in out
