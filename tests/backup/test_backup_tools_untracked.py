"""pg_dump, pg_dumpall and pg_restore start their sessions with pg_stat_statements tracking off, as pgdba's
own sessions do, where the role may set it: a backup or a restore test leaves no `COPY … TO stdout` among
the application's statements, and a role that may not still backs up (its login is not refused)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from psycopg import conninfo, sql

from pgdba.backup import find_backup, restore_backup, restore_test, run_backup
from pgdba.backup.dump import client_environment
from pgdba.backup.storage import FileStorage
from pgdba.target import Target
from tests.conftest import TestDatabase

TABLE_SQL = """
CREATE TABLE course (id int PRIMARY KEY, title text);
INSERT INTO course SELECT g, 'course ' || g FROM generate_series(1, 50) AS g;
"""
RESET_SQL = (
    "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
)
# the reader's own text carries this comment so it can leave itself out
RECORDED_SQL = """
SELECT /* recorded */ query
  FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = %s)
   AND query NOT LIKE '%%/* recorded */%%'
   AND query NOT LIKE '%%pg_stat_statements_reset%%'
"""


def recorded(db: TestDatabase, database: str | None = None) -> list[str]:
    """The statements pg_stat_statements holds for a database, read from a tracked superuser session."""
    with db.connect() as conn:
        return [str(row[0]) for row in conn.execute(RECORDED_SQL, (database or db.name,))]


def copies(texts: list[str]) -> list[str]:
    return [text for text in texts if text.startswith("COPY ") and "course" in text]


@pytest.fixture
def course_db(db: TestDatabase) -> TestDatabase:
    db.execute(TABLE_SQL)
    with db.connect() as conn:
        conn.execute(RESET_SQL)
    return db


@pytest.fixture
def plain_role(course_db: TestDatabase) -> Iterator[Target]:
    """A LOGIN role that is not superuser and may read the table (enough for pg_dump)."""
    name = f"dumper_{uuid.uuid4().hex[:8]}"
    role = sql.Identifier(name)
    course_db.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'dumper'").format(role).as_string())
    course_db.execute(sql.SQL("GRANT SELECT ON course TO {}").format(role).as_string())
    yield Target(conninfo.make_conninfo(course_db.dsn, user=name, password="dumper", passfile=""))
    with psycopg.connect(course_db.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(role))
        conn.execute(sql.SQL("DROP ROLE {}").format(role))


def test_a_superuser_backup_leaves_no_copy_of_pg_dump_in_pg_stat_statements(
    course_db: TestDatabase, file_storage: FileStorage
) -> None:
    manifest = run_backup(course_db.target, file_storage)  # with pg_dumpall --globals-only
    assert manifest.globals_key is not None
    assert recorded(course_db) == []


def test_a_parallel_backup_leaves_no_copy_of_pg_dump_in_pg_stat_statements(
    course_db: TestDatabase, file_storage: FileStorage
) -> None:
    run_backup(course_db.target, file_storage, jobs=2, include_globals=False)
    assert copies(recorded(course_db)) == []


def test_the_users_pgoptions_are_kept_before_the_tracking_option(course_db: TestDatabase) -> None:
    environ = {"PGOPTIONS": "-c geqo=off"}
    _, env = client_environment(course_db.target, environ, untracked=True)
    assert env["PGOPTIONS"] == "-c geqo=off -c pg_stat_statements.track=none"
    _, env = client_environment(course_db.target, environ)
    assert env["PGOPTIONS"] == "-c geqo=off"


def test_a_dsn_with_its_own_options_gets_the_tracking_option_there(course_db: TestDatabase) -> None:
    """libpq ignores PGOPTIONS when the connection string has `options`: the option must go in there."""
    target = Target(conninfo.make_conninfo(course_db.dsn, options="-c geqo=off"))
    dsn, env = client_environment(target, {"PGOPTIONS": "-c work_mem=8MB"}, untracked=True)
    assert conninfo.conninfo_to_dict(dsn)["options"] == "-c geqo=off -c pg_stat_statements.track=none"
    assert env["PGOPTIONS"] == "-c work_mem=8MB"


def test_a_backup_with_the_users_pgoptions_is_untracked_and_keeps_them(
    course_db: TestDatabase, file_storage: FileStorage
) -> None:
    environ = {**os.environ, "PGOPTIONS": "-c search_path=nowhere"}  # pg_dump qualifies every name
    run_backup(course_db.target, file_storage, include_globals=False, environ=environ)
    assert copies(recorded(course_db)) == []


def test_a_backup_by_a_role_that_may_not_set_tracking_still_works(
    course_db: TestDatabase, file_storage: FileStorage, plain_role: Target
) -> None:
    manifest = run_backup(plain_role, file_storage, include_globals=False)
    assert [t.name for t in manifest.tables] == ["course"]
    assert copies(recorded(course_db)) != []  # tracked: it may not turn tracking off (no error either)


@pytest.mark.pg(">= 15")
def test_a_role_granted_set_on_the_parameter_backs_up_untracked(
    course_db: TestDatabase, file_storage: FileStorage, plain_role: Target
) -> None:
    role = sql.Identifier(str(plain_role.params()["user"]))
    course_db.execute(
        sql.SQL("GRANT SET ON PARAMETER pg_stat_statements.track TO {}").format(role).as_string()
    )
    run_backup(plain_role, file_storage, include_globals=False)
    assert copies(recorded(course_db)) == []


def test_a_workload_target_asked_to_be_tracked_leaves_pg_dump_tracked(
    course_db: TestDatabase, file_storage: FileStorage
) -> None:
    run_backup(replace(course_db.target, track_statements=True), file_storage, include_globals=False)
    assert copies(recorded(course_db)) != []


def test_restore_test_and_restore_leave_no_copy_of_pg_restore_in_pg_stat_statements(
    course_db: TestDatabase, file_storage: FileStorage
) -> None:
    run_backup(course_db.target, file_storage, include_globals=False)
    backup = find_backup(file_storage, None, None)
    tested = restore_test(file_storage, backup, course_db.target, keep_scratch=True)
    try:
        assert tested.passed, tested.to_dict()
        assert copies(recorded(course_db, tested.scratch_database)) == []
    finally:
        course_db.execute(f'DROP DATABASE "{tested.scratch_database}" WITH (FORCE)')
    into = f"{course_db.name}_copy"
    try:
        restored = restore_backup(file_storage, backup, course_db.target, into, apply=True)
        assert restored.ok, restored.to_dict()
        assert copies(recorded(course_db, into)) == []
    finally:
        course_db.execute(f'DROP DATABASE IF EXISTS "{into}" WITH (FORCE)')
