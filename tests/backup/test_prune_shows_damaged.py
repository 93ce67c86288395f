"""`backup prune` shows an archive whose stored size differs from its manifest as damaged, as `list` does:
never as complete or tested-ok."""

from __future__ import annotations

import json
import os

import pytest

from pgdba.backup import run_backup
from pgdba.backup.storage import FileStorage
from pgdba.cli import main
from tests.conftest import TestDatabase


def test_prune_table_shows_a_truncated_archive_as_damaged_with_its_problem(
    db: TestDatabase, file_storage: FileStorage, capsys: pytest.CaptureFixture[str]
) -> None:
    good = run_backup(db.target, file_storage, include_globals=False)
    cut = run_backup(db.target, file_storage, include_globals=False)
    (file_storage.root / cut.database / cut.backup_id / "restore-test.json").write_text('{"passed": true}')
    os.truncate(file_storage.root / cut.dump_key, cut.dump_size // 2)
    problem = f"dump.pgdump is {cut.dump_size // 2} bytes, the manifest says {cut.dump_size}"
    argv = ["backup", "prune", "--storage", str(file_storage.root), "--keep-last", "1", "--dry-run"]

    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = {
        line.split("│")[3].strip(): line.split("│")[4].strip() for line in out.splitlines() if "│" in line
    }
    assert rows == {good.backup_id: "complete", cut.backup_id: "damaged"}
    assert f"problem: {cut.database}/{cut.backup_id}: {problem}" in out.splitlines()

    assert main([*argv, "--format", "json"]) == 0
    pruned = {b["backup_id"]: b for b in json.loads(capsys.readouterr().out)["backups"]}
    assert pruned[cut.backup_id]["status"] == "tested-ok" and pruned[cut.backup_id]["problem"] == problem
    assert pruned[cut.backup_id]["action"] == "would delete"
    assert pruned[good.backup_id]["problem"] is None
