"""backup.restore_test on a database pgdba has no backup of: judged by the server's WAL archiving, never
skipped. No backup known and no archiving is a warning that costs the score; archiving that works means
another tool backs it up (info); archiving that fails is no known backup either, and the archiver's own
check (backup.wal_archive_failing, tests/checkup/test_wal_archive_failing.py) names the WAL file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgdba.backup.manifest import BACKUP_KIND
from pgdba.checks.backups import NONE_KNOWN, WAL_ARCHIVE_FAILING, WAL_ARCHIVED_ELSEWHERE
from pgdba.checkup import CheckupResult, run_checkup
from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.errors import InputError
from pgdba.findings import Finding, Severity
from pgdba.history.store import HistoryStore
from pgdba.report.score import health_score
from pgdba.target import resolve_target
from tests.checkup.helpers import script, store_at
from tests.conftest import TestDatabase
from tests.wal_archiving import archive_one, archiving_cluster, failing_archive

CHECK = "backup.restore_test"
FAILING = WAL_ARCHIVE_FAILING  # the archiver's own check, named after its one finding
CODES = {NONE_KNOWN, WAL_ARCHIVE_FAILING, WAL_ARCHIVED_ELSEWHERE, CHECK}


def _backup_findings(result: CheckupResult) -> list[Finding]:
    return [f for f in result.report.findings if f.code in CODES]


def _check(dsn: str, store: HistoryStore | None, **thresholds: float) -> CheckupResult:
    options = {CHECK: dict(thresholds)} if thresholds else None
    return run_checkup(resolve_target(dsn), store=store, options=options, only={CHECK})


def _archive_mode(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT current_setting('archive_mode')").fetchone()
    assert row is not None
    return str(row[0])


# ---- the suite's cluster: WAL archiving off ---------------------------------------------------------
def test_no_pgdba_backup_and_archiving_off_is_a_warning_not_skipped(db: TestDatabase, tmp_path: Path) -> None:
    assert _archive_mode(db.dsn) == "off"
    result = _check(db.dsn, store_at(tmp_path))
    assert result.report.skipped == []
    [found] = _backup_findings(result)
    assert (found.code, found.severity) == (NONE_KNOWN, Severity.WARNING)
    assert found.title == (
        "No backup of this database is known to pgdba and WAL archiving is not active (archive_mode is off)"
    )
    assert "`pgdba backup run --storage URL`" in found.recommendation
    assert "`pgdba schedule --apply`" in found.recommendation
    assert found.metrics["archive_mode"] == "off" and found.metrics["pgdba_backups"] == 0


def test_failed_backup_runs_recorded_in_the_store_are_no_backup_of_the_database(
    db: TestDatabase, tmp_path: Path
) -> None:
    store = store_at(tmp_path)
    failed = {"ok": False, "status": "failed", "error": "upload failed", "storage": "s3://nobucket/x"}
    store.add_record(db.target.key, BACKUP_KIND, failed)  # what `pgdba backup run` records when it fails
    [found] = _backup_findings(_check(db.dsn, store))
    assert (found.code, found.severity) == (NONE_KNOWN, Severity.WARNING)
    assert found.metrics["pgdba_backups"] == 0


def test_no_backup_known_costs_the_health_score(db: TestDatabase, tmp_path: Path) -> None:
    script(db, "CREATE TABLE course (id int PRIMARY KEY, title text NOT NULL)")
    result = run_checkup(db.target, store=store_at(tmp_path))
    score = health_score(result)
    assert CHECK not in {s["check"] for s in score.skipped}
    assert score.score < 10 and score.cap == 7.0
    [deduction] = [d for d in score.deductions if d.check == CHECK]
    assert deduction.severity is Severity.WARNING and deduction.weight == 20


def test_check_command_prints_the_no_backup_warning(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "h.sqlite3")
    assert main(["check", "--dsn", db.dsn, "--store", store, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["code"] for f in data["findings"] if f["severity"] == "warning"] == [NONE_KNOWN]
    assert CHECK not in {s["check"] for s in data["skipped"]}
    assert data["score"]["score"] == 7.0


def test_without_a_history_store_the_warning_says_so(db: TestDatabase) -> None:
    [found] = _backup_findings(_check(db.dsn, None))
    assert (found.code, found.severity, found.metrics["history_store"]) == (
        NONE_KNOWN,
        Severity.WARNING,
        False,
    )
    assert "known to pgdba (no history store given)" in found.title


def test_a_pgdba_backup_still_decides_when_archiving_is_off(db: TestDatabase, tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.add_record(db.target.key, "backup", {"ok": True})
    [found] = _backup_findings(_check(db.dsn, store))
    assert (found.code, found.severity, found.title) == (
        CHECK,
        Severity.CRITICAL,
        "No successful restore test recorded",
    )
    store.add_record(db.target.key, "restore_test", {"passed": True})
    assert _backup_findings(_check(db.dsn, store)) == []


def test_a_mistyped_threshold_is_refused_without_pgdba_backups(db: TestDatabase, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"backup\.restore_test has no threshold named 'max_archive_age'"):
        _check(db.dsn, store_at(tmp_path), max_archive_age=1)


# ---- a cluster of its own with archive_mode = on ----------------------------------------------------
@pytest.fixture(scope="module")
def archiving() -> Iterator[EmbeddedCluster]:
    with archiving_cluster() as cluster:
        yield cluster


def test_working_archiving_means_another_tool_backs_it_up(archiving: EmbeddedCluster, tmp_path: Path) -> None:
    wal = archive_one(archiving)
    result = _check(archiving.dsn(), store_at(tmp_path))
    [found] = _backup_findings(result)
    assert (found.code, found.severity) == (WAL_ARCHIVED_ELSEWHERE, Severity.INFO)
    assert found.title.startswith(f"An external tool archives WAL (last {wal} at ")
    assert "cannot test its restores" in found.title
    assert "`pgdba restore-test`" in found.recommendation
    score = health_score(result)
    assert [c.name for c in result.ran] == [CHECK] and score.deductions == [] and score.score == 10.0


def test_archiving_idle_longer_than_the_threshold_is_not_a_backup(
    archiving: EmbeddedCluster, tmp_path: Path
) -> None:
    archive_one(archiving)
    [found] = _backup_findings(_check(archiving.dsn(), store_at(tmp_path), max_archive_age_hours=0))
    assert (found.code, found.severity) == (NONE_KNOWN, Severity.WARNING)
    assert "(no WAL file archived within 0 h, the last at " in found.title


def test_failing_archiving_is_no_known_backup_and_names_the_wal_file(
    archiving: EmbeddedCluster, tmp_path: Path
) -> None:
    with failing_archive(archiving) as wal:
        result = run_checkup(resolve_target(archiving.dsn()), store=store_at(tmp_path), only={CHECK, FAILING})
    # the restore-test check: an archive that stopped is no backup; the archiver's own check names the file
    [unknown, failing] = sorted(_backup_findings(result), key=lambda f: f.code)
    assert (unknown.code, unknown.severity) == (NONE_KNOWN, Severity.WARNING)
    assert f"(archive_command is failing: {wal} failed at " in unknown.title
    assert (failing.code, failing.severity) == (WAL_ARCHIVE_FAILING, Severity.WARNING)
    assert failing.title.startswith(f"WAL archiving is failing: {wal} failed at ")
    assert failing.title.endswith("; no pgdba backup of this database either")
    assert failing.metrics["last_failed_wal"] == wal and failing.metrics["pgdba_backups"] == 0
    assert "`pgdba backup run --storage URL`" in failing.recommendation
    # one warning each, weighed 20 + 5: the 25 of the backups area, as the one warning before
    assert sorted((d.check, d.severity, d.weight) for d in health_score(result).deductions) == [
        (CHECK, Severity.WARNING, 20),
        (FAILING, Severity.WARNING, 5),
    ]
