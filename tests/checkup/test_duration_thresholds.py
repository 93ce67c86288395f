"""`--set CHECK.max_age=N` is N days, the unit the README gives the age thresholds in (restore tests within 7
days, VACUUM within 1 day); a value no duration can hold is one clear line and exit 2."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pgdba.cli import main
from pgdba.history.store import HistoryStore
from tests.checkup.helpers import script
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import eventually


def _check_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["check", *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def _findings(data: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [f for f in data["findings"] if f["code"] == code]


def test_restore_test_max_age_is_a_number_of_days(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "h.sqlite3"
    with HistoryStore(store) as history:
        five_days_ago = datetime.now(UTC) - timedelta(days=5, hours=1)
        history.add_record(db.target.key, "restore_test", {"passed": True}, recorded_at=five_days_ago)
    argv = ("--dsn", db.dsn, "--store", str(store))
    code, data = _check_json(capsys, *argv, "--set", "backup.restore_test.max_age=4.5")
    [found] = _findings(data, "backup.restore_test")
    assert code == 1 and found["severity"] == "critical"
    assert (found["title"], found["metrics"]["max_age_days"]) == (
        "Last successful restore test was 5 days ago",
        4.5,
    )
    code, data = _check_json(capsys, *argv, "--set", "backup.restore_test.max_age=6")
    assert code == 0 and _findings(data, "backup.restore_test") == []


def test_a_max_age_no_duration_can_hold_is_one_line_and_exit_2(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "h.sqlite3"
    with HistoryStore(store) as history:
        history.add_record(db.target.key, "backup", {"ok": True})
    code = main(
        ["check", "--dsn", db.dsn, "--store", str(store), "--set", "backup.restore_test.max_age=1e12"]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err == (
        "pgdba: error: backup.restore_test.max_age is a number of days "
        "(e.g. --set backup.restore_test.max_age=7), not 1000000000000.0\n"
    )


def test_vacuum_overdue_max_age_is_a_number_of_days(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    script(
        db,
        "CREATE TABLE attempt (id int PRIMARY KEY, score int) WITH (autovacuum_enabled = false);"
        "INSERT INTO attempt SELECT g, g FROM generate_series(1, 30000) g;"
        "VACUUM ANALYZE attempt;"
        "DELETE FROM attempt WHERE id % 2 = 0;",
    )

    def overdue(max_age: str) -> tuple[int, list[dict[str, Any]]]:
        code, data = _check_json(capsys, "--dsn", db.dsn, "--set", f"table.vacuum_overdue.max_age={max_age}")
        return code, _findings(data, "table.vacuum_overdue")

    # vacuumed just now: overdue only for a max_age of 0 days, once the deleted rows show as dead
    code, found = eventually(lambda: overdue("0"), lambda r: bool(r[1]))
    assert [f["title"] for f in found] == [
        "Needs VACUUM: 15,000 dead rows > autovacuum trigger 6,050, last vacuumed 0 days ago"
    ]
    code, found = overdue("1")
    assert code == 0 and found == []
