"""Safety checks provoked on the real cluster: sequences, sessions, lock chains, slots, connections."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from pgdba.checks.safety import replication_lag, wraparound
from pgdba.findings import Severity
from pgdba.stats.activity import connection_usage
from pgdba.stats.database import WraparoundAge
from pgdba.stats.replication import StandbyLag
from tests.checkup.helpers import backend_pid, find, run, session_state, wait_until
from tests.conftest import TestDatabase

SESSION_CHECKS = ("safety.blocked_sessions", "safety.idle_in_transaction", "safety.long_running")


@pytest.mark.catalog
def test_safety_checks_are_quiet_on_a_healthy_server(db: TestDatabase) -> None:
    db.execute("CREATE TABLE account (id serial PRIMARY KEY)")
    db.execute("INSERT INTO account DEFAULT VALUES")
    result = run(
        db,
        "safety.wraparound",
        "safety.sequence_exhaustion",
        "safety.connections",
        "safety.inactive_slot",
        "safety.replication_lag",
        *SESSION_CHECKS,
    )
    assert len(result.ran) == 8
    assert result.report.findings == []


@pytest.mark.catalog
def test_sequence_near_its_max_and_int4_column_fed_by_bigint_sequence(db: TestDatabase) -> None:
    db.execute("CREATE TABLE enrollment (id serial PRIMARY KEY)")
    db.execute("SELECT setval('enrollment_id_seq', 2000000000)")  # 93 % of int4
    db.execute("CREATE TABLE legacy (id int PRIMARY KEY)")
    db.execute("CREATE SEQUENCE legacy_id_seq AS bigint OWNED BY legacy.id")
    db.execute("SELECT setval('legacy_id_seq', 2100000000)")  # tiny for bigint, 98 % of the int4 column
    db.execute("CREATE SEQUENCE roomy AS bigint OWNED BY NONE")
    db.execute("SELECT setval('roomy', 2100000000)")
    found = {f.object: f for f in find(run(db, "safety.sequence_exhaustion"), "safety.sequence_exhaustion")}
    assert set(found) == {"public.enrollment_id_seq", "public.legacy_id_seq"}
    assert found["public.enrollment_id_seq"].severity is Severity.WARNING
    legacy = found["public.legacy_id_seq"]
    assert legacy.severity is Severity.CRITICAL
    assert legacy.metrics["column_type"] == "integer" and legacy.metrics["max_value"] == 2147483647
    assert legacy.recommendation == "Migrate the column to bigint"


@pytest.mark.catalog
def test_wraparound_age_is_reported_against_its_threshold(db: TestDatabase) -> None:
    # burning 650 million XIDs is not possible in a test; the threshold is the knob the check exposes
    # (freeze_margin 0: the warning does not wait for autovacuum_freeze_max_age × 1.25, 250 M here)
    options = {"warning_age": 1, "freeze_margin": 0}
    found = find(run(db, "safety.wraparound", safety__wraparound=options), "safety.wraparound")
    assert f"database {db.name}" in {f.object for f in found}
    assert all(f.metrics["remaining"] == 2**31 - f.metrics["age"] for f in found)
    # the server's own autovacuum_freeze_max_age (200 M) is read: 1.25 × it is the floor of the warning
    assert (
        find(run(db, "safety.wraparound", safety__wraparound={"warning_age": 1}), "safety.wraparound") == []
    )


def test_a_raised_autovacuum_freeze_max_age_moves_the_warning_not_the_critical() -> None:
    def ages(xid_age: int, freeze_max_age: int) -> list[WraparoundAge]:
        return [WraparoundAge("database app", xid_age, 0, freeze_max_age, 400_000_000)]

    default = wraparound(ages(700_000_000, 200_000_000))
    assert [(f.code, f.severity) for f in default] == [("safety.wraparound", Severity.WARNING)]
    assert "autovacuum_freeze_max_age" not in default[0].title
    # 1 B on purpose: 700 M is where its anti-wraparound vacuum has not even started
    assert wraparound(ages(700_000_000, 1_000_000_000)) == []
    [late] = wraparound(ages(1_260_000_000, 1_000_000_000))
    assert late.severity is Severity.WARNING and late.metrics["warning_age"] == 1_250_000_000
    assert "autovacuum_freeze_max_age is 1,000,000,000" in late.title
    # however high the setting, 1.3 B is critical
    [critical] = wraparound(ages(1_300_000_000, 2_000_000_000))
    assert critical.severity is Severity.CRITICAL


@contextmanager
def _blocked_update(db: TestDatabase) -> Iterator[tuple[int, int]]:
    """A transaction holding a row lock, and a second session blocked behind it (pids)."""
    db.execute("CREATE TABLE seat (id int PRIMARY KEY, taken bool)")
    db.execute("INSERT INTO seat VALUES (1, false)")
    holder = db.connect(autocommit=False)
    holder.execute("UPDATE seat SET taken = true WHERE id = 1")
    waiter = db.connect()
    waiter_pid = backend_pid(waiter)
    thread = threading.Thread(target=lambda: waiter.execute("UPDATE seat SET taken = false WHERE id = 1"))
    thread.start()
    try:
        wait_until(lambda: bool(session_state(db, waiter_pid)[1]), what="the second session to be blocked")
        yield backend_pid(holder), waiter_pid
    finally:
        holder.rollback()
        thread.join(10)
        holder.close()
        waiter.close()


@pytest.mark.catalog
def test_blocked_session_is_found_with_its_blocker(db: TestDatabase) -> None:
    with _blocked_update(db) as (holder_pid, waiter_pid):
        result = run(db, *SESSION_CHECKS, safety__blocked_sessions={"warning_seconds": 0})
        blocked = find(result, "safety.blocked_sessions")
        assert len(blocked) == 1
        assert blocked[0].metrics["blocker_pid"] == holder_pid
        assert blocked[0].metrics["blocked_pids"] == [waiter_pid]
        assert blocked[0].metrics["blocker_state"] == "idle in transaction"
        assert blocked[0].sql == f"SELECT pg_terminate_backend({holder_pid});"
        # the default waits 5 s before calling a lock wait a problem
        assert find(run(db, "safety.blocked_sessions"), "safety.blocked_sessions") == []


@pytest.mark.catalog
def test_idle_in_transaction_session_is_found(db: TestDatabase) -> None:
    with db.connect(autocommit=False) as idle:
        idle.execute("SELECT 1")
        pid = backend_pid(idle)
        wait_until(lambda: session_state(db, pid)[0] == "idle in transaction", what="idle in transaction")
        found = find(
            run(db, "safety.idle_in_transaction", safety__idle_in_transaction={"warning_seconds": 0}),
            "safety.idle_in_transaction",
        )
        assert [f.metrics["pid"] for f in found] == [pid]
        assert find(run(db, "safety.idle_in_transaction"), "safety.idle_in_transaction") == []  # < 60 s
        idle.rollback()


@pytest.mark.catalog
def test_long_running_query_is_found(db: TestDatabase) -> None:
    sleeper = db.connect()
    pid = backend_pid(sleeper)
    thread = threading.Thread(target=_sleep_until_cancelled, args=(sleeper,))
    thread.start()
    try:
        wait_until(lambda: session_state(db, pid)[0] == "active", what="the sleeping query")
        found = find(
            run(db, "safety.long_running", safety__long_running={"warning_seconds": 0}), "safety.long_running"
        )
        assert [f.metrics["pid"] for f in found] == [pid]
        assert "pg_sleep" in found[0].metrics["query"]
    finally:
        db.execute("SELECT pg_cancel_backend(%s)", (pid,))
        thread.join(10)
        sleeper.close()


def _sleep_until_cancelled(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute("SELECT pg_sleep(60)")


@pytest.mark.catalog
def test_connections_near_the_usable_limit_are_found(db: TestDatabase) -> None:
    extra = [db.connect() for _ in range(3)]
    try:
        with db.connect() as conn:
            usage = connection_usage(conn)
        assert usage.reserved >= 3  # superuser_reserved_connections: not usable by the application
        ratio = (usage.connections - 2) / usage.usable
        found = find(
            run(
                db, "safety.connections", safety__connections={"warning_ratio": ratio, "critical_ratio": 2.0}
            ),
            "safety.connections",
        )
        assert len(found) == 1 and found[0].severity is Severity.WARNING
        assert found[0].metrics["max_connections"] == usage.max_connections
    finally:
        for conn in extra:
            conn.close()


@pytest.mark.catalog
def test_inactive_replication_slot_is_found(db: TestDatabase) -> None:
    db.execute("SELECT pg_create_physical_replication_slot('pgdba_test_slot', true)")
    try:
        found = find(run(db, "safety.inactive_slot"), "safety.inactive_slot")
        assert [f.object for f in found] == ["pgdba_test_slot"]
        assert found[0].sql == "SELECT pg_drop_replication_slot('pgdba_test_slot');"
    finally:
        db.execute("SELECT pg_drop_replication_slot('pgdba_test_slot')")


def test_replication_lag_over_threshold_is_found() -> None:
    # no standby in the test cluster: the check is a pure function over pg_stat_replication rows
    standbys = [
        StandbyLag("replica-a", "10.0.0.2", "streaming", 0.2, 1024),
        StandbyLag("replica-b", "10.0.0.3", "streaming", 90.0, 50 * 1024**2),
    ]
    found = replication_lag(standbys)
    assert [(f.object, f.severity) for f in found] == [("replica-b", Severity.CRITICAL)]
