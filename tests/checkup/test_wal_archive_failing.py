"""backup.wal_archive_failing for every database: a failing archive_command fills pg_wal and stops recovery
from the archive whatever else backs the database up, so it is reported when pgdba backs the database up
and tests its restores too, as its own check (weight 5), leaving backup.restore_test's status as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgdba.checks.backups import WAL_ARCHIVE_FAILING
from pgdba.checkup import CheckupResult, run_checkup
from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.findings import Severity
from pgdba.history.store import HistoryStore
from pgdba.report.score import health_score
from pgdba.target import resolve_target
from tests.checkup.helpers import store_at
from tests.wal_archiving import archive_one, archiving_cluster, failing_archive

RESTORE_TEST = "backup.restore_test"
BACKUP_CHECKS = {RESTORE_TEST, WAL_ARCHIVE_FAILING}


@pytest.fixture(scope="module")
def archiving() -> Iterator[EmbeddedCluster]:
    with archiving_cluster("wal-failing") as cluster:
        yield cluster


def _backed_up(tmp_path: Path, cluster: EmbeddedCluster, *, restore_test_passed: bool) -> HistoryStore:
    """A history store with a pgdba backup of the cluster's database and a restore test of it."""
    store = store_at(tmp_path)
    key = resolve_target(cluster.dsn()).key
    store.add_record(key, "backup", {"ok": True})
    store.add_record(key, "restore_test", {"passed": restore_test_passed})
    return store


def _backup_checks(cluster: EmbeddedCluster, store: HistoryStore | None, **options: float) -> CheckupResult:
    return run_checkup(
        resolve_target(cluster.dsn()),
        store=store,
        options={WAL_ARCHIVE_FAILING: options} if options else None,
        only=BACKUP_CHECKS,
    )


def test_failing_archiving_is_reported_although_pgdba_backs_up_and_restore_tests_pass(
    archiving: EmbeddedCluster, tmp_path: Path
) -> None:
    store = _backed_up(tmp_path, archiving, restore_test_passed=True)
    with failing_archive(archiving) as wal:
        result = _backup_checks(archiving, store)
    [found] = result.report.findings  # the passed restore test: backup.restore_test stays quiet
    assert (found.code, found.severity) == (WAL_ARCHIVE_FAILING, Severity.WARNING)
    assert found.title.startswith(f"WAL archiving is failing: {wal} failed at ")
    assert "no pgdba backup" not in found.title
    assert found.metrics["last_failed_wal"] == wal and found.metrics["pgdba_backups"] == 1
    assert found.metrics["failed_count"] >= 1 and found.metrics["hours_without_success"] < 1
    assert "Fix archive_command" in found.recommendation
    assert "pgdba backup run" not in found.recommendation  # it has pgdba backups already
    assert {c.name for c in result.ran} == BACKUP_CHECKS
    [deduction] = health_score(result).deductions
    assert (deduction.check, deduction.severity, deduction.weight) == (
        WAL_ARCHIVE_FAILING,
        Severity.WARNING,
        5,
    )


def test_the_restore_test_status_of_a_backed_up_database_is_unchanged_by_a_failing_archive(
    archiving: EmbeddedCluster, tmp_path: Path
) -> None:
    store = _backed_up(tmp_path, archiving, restore_test_passed=False)
    with failing_archive(archiving):
        result = _backup_checks(archiving, store)
    [restore, failing] = sorted(result.report.findings, key=lambda f: f.code)
    assert (restore.code, restore.severity, restore.title) == (
        RESTORE_TEST,
        Severity.CRITICAL,
        "No successful restore test recorded",
    )
    assert (failing.code, failing.severity) == (WAL_ARCHIVE_FAILING, Severity.WARNING)
    assert [c.name for c in result.ran] == [RESTORE_TEST, WAL_ARCHIVE_FAILING]
    assert sorted((d.check, d.severity) for d in health_score(result).deductions) == [
        (RESTORE_TEST, Severity.CRITICAL),
        (WAL_ARCHIVE_FAILING, Severity.WARNING),
    ]


def test_failing_archiving_turns_critical_when_nothing_was_archived_within_the_threshold(
    archiving: EmbeddedCluster, tmp_path: Path
) -> None:
    store = _backed_up(tmp_path, archiving, restore_test_passed=True)
    with failing_archive(archiving):
        [found] = _backup_checks(archiving, store, max_archive_age_hours=0).report.findings
    assert (found.code, found.severity, found.metrics["max_archive_age_hours"]) == (
        WAL_ARCHIVE_FAILING,
        Severity.CRITICAL,
        0,
    )


def test_working_archiving_gives_no_failing_finding_but_counts_as_a_check_run(
    archiving: EmbeddedCluster, tmp_path: Path
) -> None:
    archive_one(archiving)
    result = _backup_checks(archiving, _backed_up(tmp_path, archiving, restore_test_passed=True))
    assert result.report.findings == [] and {c.name for c in result.ran} == BACKUP_CHECKS
    assert health_score(result).score == 10.0


def test_check_command_reports_the_failing_archive_of_a_backed_up_database(
    archiving: EmbeddedCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _backed_up(tmp_path, archiving, restore_test_passed=True).close()
    store = str(tmp_path / "history.sqlite3")
    with failing_archive(archiving) as wal:
        argv = ["check", "--dsn", archiving.dsn(), "--store", store, "--format", "json"]
        assert main([*argv, "--set", f"{WAL_ARCHIVE_FAILING}.max_archive_age_hours=0"]) == 1
        data = json.loads(capsys.readouterr().out)
    [found] = [f for f in data["findings"] if f["code"].startswith("backup.")]
    assert (found["code"], found["severity"]) == (WAL_ARCHIVE_FAILING, "critical")
    assert found["metrics"]["last_failed_wal"] == wal
    [deduction] = [d for d in data["score"]["deductions"] if d["check"].startswith("backup.")]
    assert (deduction["check"], deduction["weight"]) == (WAL_ARCHIVE_FAILING, 5)


def test_a_mistyped_threshold_of_the_failing_check_is_refused(
    archiving: EmbeddedCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", "--dsn", archiving.dsn(), "--set", f"{WAL_ARCHIVE_FAILING}.max_age_hours=1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{WAL_ARCHIVE_FAILING} has no threshold named 'max_age_hours'" in err
