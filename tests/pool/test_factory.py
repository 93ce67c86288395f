"""The pool factory against the real server: session settings, fail-fast overload, health check, stats."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import psycopg
import pytest

from pgdba.errors import ConnectionFailed
from pgdba.pool import (
    PoolCheckoutTimeout,
    PoolOverloaded,
    PoolSettings,
    all_pool_stats,
    create_async_pool,
    create_pool,
    pool_stats,
    surge_pool_factory,
)
from pgdba.target import resolve_target
from tests.conftest import TestDatabase

SESSION_SQL = """
SELECT current_setting('application_name'),
       current_setting('statement_timeout'),
       current_setting('default_transaction_read_only')
"""


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll a condition the test cannot be notified of (another thread queueing inside psycopg_pool)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_surge_preset_is_the_users_configuration() -> None:
    preset = PoolSettings()
    assert (preset.max_size, preset.max_idle_s, preset.connect_timeout_s, preset.statement_timeout_ms) == (
        20,
        30.0,
        5.0,
        60_000,
    )
    assert preset.effective_max_waiting == 200


def test_pool_sessions_set_application_name_and_statement_timeout(db: TestDatabase) -> None:
    settings = PoolSettings(min_size=1, max_size=2, application_name="edu-api")
    with create_pool(db.target, settings) as pool, pool.connection() as conn:
        row = conn.execute(SESSION_SQL).fetchone()
    assert row == ("edu-api", "1min", "on")


def test_pool_writes_only_when_applied(db: TestDatabase) -> None:
    db.execute("CREATE TABLE enrollment (id int)")
    settings = PoolSettings(min_size=0, max_size=1)
    with (
        create_pool(db.target, settings) as pool,
        pool.connection() as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        conn.execute("INSERT INTO enrollment VALUES (1)")
    with create_pool(db.target, settings, apply=True) as pool, pool.connection() as conn:
        conn.execute("INSERT INTO enrollment VALUES (1)")
    with db.connect() as check:
        assert check.execute("SELECT count(*) FROM enrollment").fetchone() == (1,)


def test_overload_fails_fast_with_a_pgdba_error(db: TestDatabase) -> None:
    settings = PoolSettings(min_size=1, max_size=1, max_waiting=1, connect_timeout_s=30.0)
    with create_pool(db.target, settings, name="overload-test") as pool:
        held = pool.getconn()
        waiter = threading.Thread(target=lambda: pool.putconn(pool.getconn()))
        waiter.start()
        wait_for(lambda: pool_stats(pool)["requests_waiting"] == 1)
        started = time.monotonic()
        with pytest.raises(PoolOverloaded, match=r"overload-test.*1 requests already wait"):
            pool.getconn()
        assert time.monotonic() - started < 1.0  # not the 30 s timeout
        pool.putconn(held)
        waiter.join()
        assert pool_stats(pool)["requests_errors"] == 1


def test_checkout_timeout_is_a_pgdba_error(db: TestDatabase) -> None:
    settings = PoolSettings(min_size=1, max_size=1, connect_timeout_s=0.2)
    with create_pool(db.target, settings) as pool:
        held = pool.getconn()
        with pytest.raises(PoolCheckoutTimeout, match=r"no connection free within 0\.2 s"):
            pool.getconn()
        pool.putconn(held)


def test_health_check_replaces_a_connection_the_server_killed(db: TestDatabase) -> None:
    settings = PoolSettings(min_size=1, max_size=1, application_name="health-check-test")
    with create_pool(db.target, settings) as pool:
        with pool.connection() as conn:
            first_pid = conn.info.backend_pid
        with db.connect() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first_pid,))
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.info.backend_pid != first_pid


def test_stats_are_a_plain_dict_and_listed_for_metrics(db: TestDatabase) -> None:
    with create_pool(db.target, PoolSettings(min_size=1, max_size=3), name="stats-test") as pool:
        for _ in range(3):
            with pool.connection() as conn:
                conn.execute("SELECT 1")
        stats = pool_stats(pool)
        assert stats["requests_num"] == 3
        assert stats["pool_max"] == 3
        assert all(isinstance(v, int) for v in stats.values())
        assert all_pool_stats()["stats-test"]["requests_num"] == 3
    assert "stats-test" not in all_pool_stats()


def test_async_pool_has_the_same_session_settings(db: TestDatabase) -> None:
    async def scenario() -> tuple[object, ...] | None:
        pool = create_async_pool(
            db.target, PoolSettings(min_size=1, max_size=2, application_name="edu-async")
        )
        async with pool, pool.connection() as conn:
            cur = await conn.execute(SESSION_SQL)
            row = await cur.fetchone()
            assert pool_stats(pool)["pool_max"] == 2
            return row

    assert asyncio.run(scenario()) == ("edu-async", "1min", "on")


def test_unreachable_server_fails_at_creation_without_the_password() -> None:
    target = resolve_target("postgresql://edu:hunter2@127.0.0.1:1/edu")
    with pytest.raises(ConnectionFailed, match="could not open 1 connections") as exc:
        create_pool(target, PoolSettings(min_size=1, max_size=2, connect_timeout_s=1.0))
    assert "hunter2" not in str(exc.value)


def test_a_refused_login_is_quoted_when_the_pool_cannot_open(
    db: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    """The server's reason, once, with the password masked, instead of a bare timeout after a warning per
    retry."""
    target = resolve_target(f"postgresql://postgres:Wr0ngPassw0rd@127.0.0.1:{db.cluster.port}/{db.name}")
    with pytest.raises(ConnectionFailed) as exc:
        create_pool(target, PoolSettings(min_size=1, max_size=2, connect_timeout_s=2.0), name="edu-refused")
    message = str(exc.value)
    assert message.startswith(
        "pool 'edu-refused': could not open 1 connections to postgresql://postgres:***@127.0.0.1:"
    )
    assert message.endswith('within 2 s: FATAL: password authentication failed for user "postgres"')
    assert "Wr0ngPassw0rd" not in message
    assert not [r for r in caplog.records if "error connecting" in r.getMessage()]


def test_pool_factory_sizes_the_pool_and_keeps_the_dsn_application_name(db: TestDatabase) -> None:
    factory = surge_pool_factory()
    with factory(f"{db.dsn}&application_name=elearning-app", 3) as pool, pool.connection() as conn:
        row = conn.execute(SESSION_SQL).fetchone()
        assert pool_stats(pool)["pool_max"] == 3
    assert row == ("elearning-app", "1min", "off")  # workloads that size their own pool write
