"""pgdba's own statements are never reported as the application's: its sessions turn pg_stat_statements
tracking off where the role may, and the statement reader leaves out what pgdba runs when it may not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from psycopg import sql

from pgdba.backup.catalog import measure_tables, user_tables
from pgdba.backup.dump import run_backup
from pgdba.backup.storage import FileStorage
from pgdba.checks.queries import StatementSet
from pgdba.checkup import run_checkup
from pgdba.server import load_server_facts
from pgdba.setup import pg_stat_statements_status
from pgdba.stats.statements import statement_stats
from pgdba.target import Target, session
from tests.conftest import TestDatabase

RESET_SQL = (
    "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
)
# the reader's own text carries this comment so it can leave itself out
RECORDED_SQL = """
SELECT /* recorded */ query
  FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND calls > 0
   AND query NOT LIKE '%%pg_stat_statements_reset%%'
   AND query NOT LIKE '%%/* recorded */%%'
"""


def recorded(db: TestDatabase) -> list[str]:
    """What pg_stat_statements holds for the test's database, read from a tracked superuser session."""
    with db.connect() as conn:
        return [str(row[0]) for row in conn.execute(RECORDED_SQL)]


def forget_statements(db: TestDatabase) -> None:
    with db.connect() as conn:
        conn.execute(RESET_SQL)


def tracking(target: Target) -> str:
    with session(target) as conn:
        row = conn.execute("SELECT current_setting('pg_stat_statements.track')").fetchone()
    assert row is not None
    return str(row[0])


def test_a_superuser_session_of_pgdba_turns_statement_tracking_off(db: TestDatabase) -> None:
    assert tracking(db.target) == "none"
    with db.target.connect(autocommit=False) as conn:  # a transaction's rollback must not undo it
        conn.rollback()
        row = conn.execute("SELECT current_setting('pg_stat_statements.track')").fetchone()
    assert row == ("none",)


def test_a_checkup_leaves_no_statement_of_pgdba_in_pg_stat_statements(db: TestDatabase) -> None:
    db.execute("CREATE TABLE course (id int PRIMARY KEY, title text)")
    forget_statements(db)
    run_checkup(db.target)
    assert recorded(db) == []


def test_an_exact_backup_leaves_no_checksum_query_in_pg_stat_statements(
    db: TestDatabase, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE course (id int PRIMARY KEY, title text)")
    db.execute("INSERT INTO course SELECT g, 'c' || g FROM generate_series(1, 50) g")
    forget_statements(db)
    run_backup(db.target, FileStorage(tmp_path), exact=True, include_globals=False)
    texts = recorded(db)
    assert not [t for t in texts if "pgdba_row" in t or "count(*)" in t], texts


def test_a_workload_session_asked_to_be_tracked_stays_tracked(db: TestDatabase) -> None:
    played = replace(db.target, track_statements=True)
    assert tracking(played) != "none"
    assert played.with_database(db.name).track_statements
    db.execute("CREATE TABLE course (id int PRIMARY KEY, title text)")
    with session(played) as conn:
        conn.execute("SELECT title FROM course WHERE id = %s", (1,))
    assert "SELECT title FROM course WHERE id = $1" in recorded(db)


def test_a_role_that_may_not_set_tracking_still_connects_and_is_tracked(monitor_role: Target) -> None:
    assert tracking(monitor_role) != "none"


@pytest.mark.pg(">= 15")
def test_a_role_granted_set_on_the_parameter_turns_tracking_off(
    db: TestDatabase, monitor_role: Target
) -> None:
    user = monitor_role.params()["user"]
    db.execute(
        sql.SQL("GRANT SET ON PARAMETER pg_stat_statements.track TO {}")
        .format(sql.Identifier(str(user)))
        .as_string()
    )
    assert tracking(monitor_role) == "none"


def test_the_checksum_of_a_tracked_role_is_not_read_as_an_application_statement(
    db: TestDatabase, monitor_role: Target
) -> None:
    db.execute("CREATE TABLE course (id int PRIMARY KEY, title text)")
    db.execute(f"GRANT SELECT ON course TO {monitor_role.params()['user']}")
    with db.connect() as app:
        app.execute("SELECT title FROM course WHERE id = %s", (1,))
    with session(monitor_role) as conn:  # tracked: the role may not turn it off
        measure_tables(conn, user_tables(conn), 10**9)
    assert any("pgdba_row" in text for text in recorded(db))  # the view holds it
    with session(db.target) as conn:
        statements = statement_stats(conn, load_server_facts(conn))
    texts = [s.query for s in statements]
    assert not [t for t in texts if "pgdba_row" in t]
    assert [p.stats.query for p in StatementSet(statements).select(lambda s: True)] == [
        "SELECT title FROM course WHERE id = $1"
    ]


@pytest.mark.pg(">= 15")
def test_setup_says_how_to_let_a_monitoring_role_turn_tracking_off(
    db: TestDatabase, monitor_role: Target
) -> None:
    user = str(monitor_role.params()["user"])
    assert pg_stat_statements_status(db.target).notes == []  # a superuser may
    [note] = pg_stat_statements_status(monitor_role).notes
    assert f'GRANT SET ON PARAMETER pg_stat_statements.track TO "{user}";' in note
    db.execute(
        sql.SQL("GRANT SET ON PARAMETER pg_stat_statements.track TO {}")
        .format(sql.Identifier(user))
        .as_string()
    )
    assert pg_stat_statements_status(monitor_role).notes == []
