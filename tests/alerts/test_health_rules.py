"""The anchors' rules on real conditions: blocked sessions, idle in transaction, backups and restore tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from psycopg import conninfo

from pgdba.alerts.metrics import BACKUP_KIND, RESTORE_TEST_KIND
from pgdba.cli import main
from pgdba.history.store import HistoryStore
from pgdba.target import Target
from tests.alerts.conftest import WebhookReceiver, run_check, status_of
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import eventually


@pytest.mark.catalog
def test_a_session_waiting_for_a_lock_fires_blocked_sessions_and_resolves(
    db: TestDatabase, store: HistoryStore
) -> None:
    db.execute("CREATE TABLE locked (id int)")
    holder = db.connect(autocommit=False)
    holder.execute("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE")
    waiter = threading.Thread(target=lambda: db.execute("SELECT count(*) FROM locked"))
    waiter.start()
    try:
        with db.connect() as conn:  # bounded poll of the server until the waiter is queued on the lock
            conn.execute(
                """
                DO $$
                BEGIN
                  FOR i IN 1..200 LOOP
                    EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock');
                    PERFORM pg_sleep(0.05);
                  END LOOP;
                END $$
                """
            )
        blocked = status_of(run_check(db.target, store), "blocked_sessions")
        assert (blocked.status, blocked.event, blocked.value) == ("warning", "firing", 1)
    finally:
        holder.commit()
        holder.close()
        waiter.join(timeout=30)
    free = status_of(run_check(db.target, store), "blocked_sessions")
    assert (free.status, free.event) == ("ok", "resolved")


@pytest.mark.catalog
def test_idle_in_transaction_fires_and_resolves_on_commit(
    db: TestDatabase, store: HistoryStore, rules_file: Callable[[str], Path]
) -> None:
    rules = rules_file("[[rule]]\nname = 'idle_in_transaction'\nwarn = 0\ncrit = 3600\n")
    idle = db.connect(autocommit=False)
    idle.execute("SELECT 1")
    try:
        during = status_of(run_check(db.target, store, rules), "idle_in_transaction")
        assert (during.status, during.event) == ("warning", "firing")
    finally:
        idle.commit()
        idle.close()
    after = status_of(run_check(db.target, store, rules), "idle_in_transaction")
    assert (after.status, after.event) == ("ok", "resolved")


@pytest.mark.catalog
def test_backup_and_restore_test_rules_are_unknown_without_records_and_never_fire(
    db: TestDatabase, store: HistoryStore
) -> None:
    result = run_check(db.target, store)
    for rule, what in (
        ("backup_age", "backup"),
        ("restore_test_age", "restore test"),
        ("restore_test_failed", "restore test"),
    ):
        status = status_of(result, rule)
        assert status.status == "unknown"
        assert status.note == f"unknown: no {what} recorded in the history store"
        assert status.event is None


@pytest.mark.catalog
def test_a_failed_backup_run_is_recorded_and_a_backup_never_succeeding_goes_critical(
    db: TestDatabase, tmp_path: Path, webhook: WebhookReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.sqlite3"
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    run = ["backup", "run", "--dsn", db.dsn, "--storage", f"file://{not_a_folder}/backups"]
    assert main([*run, "--store", str(history), "--no-globals"]) == 2
    (error,) = capsys.readouterr().err.splitlines()
    with HistoryStore(history) as store:
        ((recorded_at, payload),) = store.records(db.target.key, BACKUP_KIND)
        assert payload["ok"] is False and payload["status"] == "failed"
        assert error.startswith("pgdba: error: ") and payload["error"] == error.removeprefix("pgdba: error: ")
        # the same job failed 60 hours earlier too: nothing ever succeeded since it was set up
        before = recorded_at - timedelta(hours=60)
        earlier = {**payload, "started_at": before.isoformat(), "finished_at": before.isoformat()}
        store.add_record(db.target.key, BACKUP_KIND, earlier, recorded_at=before)
    check = ["alerts", "check", "--dsn", db.dsn, "--store", str(history), "--fail-on", "warning"]
    assert main([*check, "--notify", "--webhook", webhook.url, "--format", "json"]) == 1
    alerts = {a["rule"]: a for a in json.loads(capsys.readouterr().out)["alerts"]}
    backup = alerts["backup_age"]
    assert (backup["status"], backup["event"]) == ("critical", "firing")
    assert 59.9 < backup["value"] < 60.2
    assert backup["note"].startswith("no successful backup recorded: 2 failed backups since ")
    assert backup["detail"]["last_failed"] is True and backup["detail"]["last_success"] is None
    assert [(m["rule"], m["severity"]) for m in webhook.messages] == [("backup_age", "critical")]


@pytest.mark.catalog
def test_restore_tests_that_always_failed_fire_at_once_and_age_from_the_first(
    db: TestDatabase, store: HistoryStore
) -> None:
    now = datetime.now(UTC)
    failed = {"schema_version": 1, "passed": False, "backup_id": "b1"}
    store.add_record(db.target.key, RESTORE_TEST_KIND, failed, recorded_at=now - timedelta(days=20))
    store.add_record(db.target.key, RESTORE_TEST_KIND, failed, recorded_at=now - timedelta(days=1))
    result = run_check(db.target, store)
    broken = status_of(result, "restore_test_failed")
    assert (broken.status, broken.event, broken.value) == ("critical", "firing", 1.0)
    assert "2 failed restore tests; none ever passed" in broken.note
    age = status_of(result, "restore_test_age")
    assert (age.status, age.event) == ("critical", "firing")  # 20 days without a passing one: over 15
    assert age.value is not None and 19.9 < age.value < 20.1
    store.add_record(db.target.key, RESTORE_TEST_KIND, {**failed, "passed": True})
    after = run_check(db.target, store)
    assert status_of(after, "restore_test_failed").event == "resolved"
    assert status_of(after, "restore_test_age").event == "resolved"


@pytest.mark.catalog
def test_backups_never_restore_tested_age_from_the_first_successful_backup(
    db: TestDatabase, store: HistoryStore
) -> None:
    now = datetime.now(UTC)
    store.add_record(db.target.key, BACKUP_KIND, {"ok": False}, recorded_at=now - timedelta(days=30))
    for days in (10, 5, 1):
        store.add_record(db.target.key, BACKUP_KIND, {"ok": True}, recorded_at=now - timedelta(days=days))
    result = run_check(db.target, store)
    age = status_of(result, "restore_test_age")
    assert (age.status, age.event) == ("warning", "firing")  # 10 days of untested backups: over 8
    assert age.value is not None and 9.9 < age.value < 10.1
    assert age.note.startswith("no restore test recorded; the backups since ")
    assert status_of(result, "restore_test_failed").status == "unknown"  # nothing failed, nothing ran
    store.add_record(db.target.key, RESTORE_TEST_KIND, {"passed": True})
    assert status_of(run_check(db.target, store), "restore_test_age").event == "resolved"


@pytest.mark.catalog
def test_a_restore_test_failing_after_a_pass_is_critical_now_not_after_the_age_threshold(
    db: TestDatabase, store: HistoryStore
) -> None:
    now = datetime.now(UTC)
    test = {"schema_version": 1, "passed": True, "backup_id": "b1"}
    store.add_record(db.target.key, RESTORE_TEST_KIND, test, recorded_at=now - timedelta(days=2))
    store.add_record(db.target.key, RESTORE_TEST_KIND, {**test, "passed": False})
    result = run_check(db.target, store)
    assert status_of(result, "restore_test_age").status == "ok"  # the pass 2 days ago: under 8
    broken = status_of(result, "restore_test_failed")
    assert (broken.status, broken.event) == ("critical", "firing")
    assert "1 failed restore test; last passed " in broken.note


@pytest.mark.catalog
def test_backup_age_counts_from_the_last_successful_backup_record(
    db: TestDatabase, store: HistoryStore
) -> None:
    now = datetime.now(UTC)
    store.add_record(db.target.key, BACKUP_KIND, {"status": "ok"}, recorded_at=now - timedelta(hours=30))
    store.add_record(db.target.key, BACKUP_KIND, {"status": "failed"}, recorded_at=now - timedelta(hours=1))
    store.add_record(db.target.key, RESTORE_TEST_KIND, {"ok": True}, recorded_at=now - timedelta(days=2))
    result = run_check(db.target, store)
    backup = status_of(result, "backup_age")
    assert (backup.status, backup.event) == ("warning", "firing")
    assert backup.value is not None and 29.9 < backup.value < 30.1
    assert status_of(result, "restore_test_age").status == "ok"
    store.add_record(db.target.key, BACKUP_KIND, {"status": "ok"})
    assert status_of(run_check(db.target, store), "backup_age").event == "resolved"


def _blocks_touched(db: TestDatabase) -> int:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT blks_hit + blks_read FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.catalog
def test_a_pg_monitor_role_measures_every_family(db: TestDatabase, store: HistoryStore) -> None:
    role = f"monitor_{db.name}"
    db.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD 'monitor-pw' IN ROLE pg_monitor")
    try:
        params = db.target.params()
        target = Target(
            conninfo.make_conninfo(
                host=str(params["host"]),
                port=str(params["port"]),
                dbname=db.name,
                user=role,
                password="monitor-pw",
            )
        )
        eventually(lambda: _blocks_touched(db), lambda n: n >= 100)  # 14 publishes counters asynchronously
        result = run_check(target, store)
        unknown = {s.rule.name: s.note for s in result.statuses if s.status == "unknown"}
        # only the rules that need history (rates on a first check, backups) may be unknown
        assert set(unknown) <= {
            "backup_age",
            "restore_test_age",
            "restore_test_failed",
            "deadlocks",
            "rollback_ratio",
        }, unknown
        assert status_of(result, "disk_usage").value is not None
        assert status_of(result, "slow_queries").value is not None
    finally:
        db.execute(f'DROP OWNED BY "{role}"')
        db.execute(f'DROP ROLE "{role}"')
