"""The slow_queries rule watches the application's statements as the check-up counts them: top-level DML on
user tables, never a slow utility statement (DROP DATABASE, a DO block) or a query that reads no table."""

from __future__ import annotations

from pgdba.history.store import HistoryStore
from tests.alerts.conftest import run_check, status_of
from tests.conftest import TestDatabase


def test_slow_utility_and_table_free_statements_do_not_fire_slow_queries(
    db: TestDatabase, store: HistoryStore
) -> None:
    db.execute("CREATE TABLE course (id int PRIMARY KEY, title text)")
    db.execute("INSERT INTO course VALUES (1, 'SQL')")
    assert status_of(run_check(db.target, store), "slow_queries").status == "ok"
    with db.connect() as conn:
        conn.execute("DO $$ BEGIN PERFORM pg_sleep(1.05); END $$")  # utility, its nested SELECT not top-level
        conn.execute("SELECT pg_sleep(%s)", (1.05,))  # reads no table: not the application's
    quiet = status_of(run_check(db.target, store), "slow_queries")
    assert (quiet.status, quiet.value) == ("ok", 0.0), quiet.detail


def test_a_slow_application_select_fires_slow_queries(db: TestDatabase, store: HistoryStore) -> None:
    db.execute("CREATE TABLE course (id int PRIMARY KEY, title text)")
    db.execute("INSERT INTO course VALUES (1, 'SQL')")
    run_check(db.target, store)
    with db.connect() as conn:
        conn.execute("DO $$ BEGIN PERFORM pg_sleep(2); END $$")  # slower, but not the application's
        conn.execute("SELECT pg_sleep(%s), title FROM course WHERE id = %s", (1.05, 1))
    slow = status_of(run_check(db.target, store), "slow_queries")
    assert (slow.status, slow.event) == ("warning", "firing")
    assert slow.value is not None and 1050 <= slow.value < 2000
    assert "FROM course" in slow.detail["query"]
