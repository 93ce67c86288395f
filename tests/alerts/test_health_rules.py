"""The anchors' rules on real conditions: blocked sessions, idle in transaction, backups and restore tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from psycopg import conninfo

from pgdba.alerts.metrics import BACKUP_KIND, RESTORE_TEST_KIND
from pgdba.history.store import HistoryStore
from pgdba.target import Target
from tests.alerts.conftest import run_check, status_of
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
def test_backup_and_restore_test_age_are_unknown_without_records_and_never_fire(
    db: TestDatabase, store: HistoryStore
) -> None:
    result = run_check(db.target, store)
    for rule in ("backup_age", "restore_test_age"):
        status = status_of(result, rule)
        assert status.status == "unknown"
        assert status.note.startswith("unknown: no successful")
        assert status.event is None


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
        assert set(unknown) <= {"backup_age", "restore_test_age", "deadlocks", "rollback_ratio"}, unknown
        assert status_of(result, "disk_usage").value is not None
        assert status_of(result, "slow_queries").value is not None
    finally:
        db.execute(f'DROP OWNED BY "{role}"')
        db.execute(f'DROP ROLE "{role}"')
