"""backup.restore_test judges the checked server's backups only: two servers whose jobs record under one
key (each host's cron names its server localhost:5432/app in a shared history store) do not mix, told
apart by the system identifier the records carry; records without one (an earlier pgdba's) still count."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdba.checks.backups import NONE_KNOWN
from pgdba.findings import Severity
from tests.checkup.helpers import find, run, store_at
from tests.conftest import TestDatabase

CHECK = "backup.restore_test"


def _system_identifier(db: TestDatabase) -> str:
    with db.connect() as conn:
        row = conn.execute("SELECT system_identifier::text FROM pg_control_system()").fetchone()
    assert row is not None
    return str(row[0])


def _another_server(ours: str) -> str:
    return str(int(ours) + 1)


@pytest.mark.catalog
def test_another_servers_passed_restore_test_under_the_same_key_does_not_count(
    db: TestDatabase, tmp_path: Path
) -> None:
    ours = _system_identifier(db)
    store = store_at(tmp_path)
    store.add_record(db.target.key, "backup", {"ok": True, "system_identifier": ours})
    store.add_record(db.target.key, "restore_test", {"passed": False, "system_identifier": ours})
    store.add_record(
        db.target.key, "restore_test", {"passed": True, "system_identifier": _another_server(ours)}
    )

    found = find(run(db, CHECK, store=store), CHECK)
    assert [(f.severity, f.title, f.metrics["failed_tests"]) for f in found] == [
        (Severity.CRITICAL, "No successful restore test recorded", 1)
    ]

    store.add_record(db.target.key, "restore_test", {"passed": True, "system_identifier": ours})
    assert find(run(db, CHECK, store=store), CHECK) == []


@pytest.mark.catalog
def test_only_another_servers_backups_under_the_key_leave_no_backup_of_this_one_known(
    db: TestDatabase, tmp_path: Path
) -> None:
    store = store_at(tmp_path)
    other = _another_server(_system_identifier(db))
    store.add_record(db.target.key, "backup", {"ok": True, "system_identifier": other})
    store.add_record(db.target.key, "restore_test", {"passed": False, "system_identifier": other})
    result = run(db, CHECK, store=store)
    assert find(result, CHECK) == [] and result.report.skipped == []
    assert [(f.code, f.severity) for f in result.report.findings] == [(NONE_KNOWN, Severity.WARNING)]


@pytest.mark.catalog
def test_a_passed_restore_test_of_an_earlier_pgdba_without_an_identifier_still_counts(
    db: TestDatabase, tmp_path: Path
) -> None:
    store = store_at(tmp_path)
    store.add_record(db.target.key, "restore_test", {"passed": True})
    store.add_record(
        db.target.key,
        "restore_test",
        {"passed": False, "system_identifier": _another_server(_system_identifier(db))},
    )
    assert find(run(db, CHECK, store=store), CHECK) == []
