"""pgdba's session settings on every major: read-only by default, timeouts that really cancel."""

from __future__ import annotations

import psycopg
import pytest

from pgdba.target import resolve_target
from tests.conftest import TestDatabase

pytestmark = pytest.mark.catalog

SESSION_SETTINGS_SQL = """
SELECT name,
       setting
  FROM pg_settings
 WHERE name IN ('application_name', 'statement_timeout', 'lock_timeout', 'default_transaction_read_only')
"""


def test_session_settings_are_applied(db: TestDatabase) -> None:
    with db.target.connect() as conn:
        settings = dict(conn.execute(SESSION_SETTINGS_SQL).fetchall())
    assert settings == {
        "application_name": "pgdba",
        "statement_timeout": "30000",
        "lock_timeout": "2000",
        "default_transaction_read_only": "on",
    }


def test_default_session_refuses_to_write(db: TestDatabase) -> None:
    with db.target.connect() as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("CREATE TABLE must_not_exist (id int)")
    with db.connect() as conn:
        assert conn.execute("SELECT to_regclass('must_not_exist')").fetchone() == (None,)


def test_apply_session_writes(db: TestDatabase) -> None:
    with db.target.connect(apply=True) as conn:
        conn.execute("CREATE TABLE written (id int)")
    with db.connect() as conn:
        assert conn.execute("SELECT to_regclass('written')::text").fetchone() == ("written",)


def test_statement_timeout_cancels_a_long_statement(db: TestDatabase) -> None:
    target = resolve_target(db.dsn, statement_timeout_ms=100)
    with target.connect() as conn, pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
        conn.execute("SELECT pg_sleep(5)")


def test_lock_timeout_gives_up_on_a_held_lock(db: TestDatabase) -> None:
    db.execute("CREATE TABLE locked (id int)")
    target = resolve_target(db.dsn, lock_timeout_ms=100)
    with db.connect(autocommit=False) as holder:
        holder.execute("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE")
        with (
            target.connect() as conn,
            pytest.raises(psycopg.errors.LockNotAvailable, match="lock timeout"),
        ):
            conn.execute("SELECT count(*) FROM locked")
        holder.rollback()
