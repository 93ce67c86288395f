"""Statements of other roles, which pg_stat_statements counts but shows a role without pg_read_all_stats
with neither queryid nor text: the query checks, the optimizer report and the advisor say so, never "no
slow query" or "no statements yet" on a workload they could not read."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import conninfo, sql

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.checkup import CheckupResult, run_checkup
from pgdba.cli import main
from pgdba.optimizer import NO_STATEMENTS_YET, analyze_queries
from pgdba.target import Target
from tests.checkup.helpers import find, run
from tests.conftest import TestDatabase

SLOW = {"threshold_ms": 0.001, "min_calls": 1, "min_mean_ms": 0.0}  # every statement run 5 times is slow
LOOKUP = "SELECT count(*) FROM lesson WHERE course_id = %s"


@pytest.fixture
def app_role(db: TestDatabase) -> Iterator[Target]:
    """A LOGIN role that reads and writes the tables, as an application's own role does: no pg_monitor,
    no pg_read_all_stats."""
    name = f"app_{uuid.uuid4().hex[:8]}"
    db.execute(
        "CREATE TABLE lesson (id int PRIMARY KEY, course_id int NOT NULL);"
        "INSERT INTO lesson SELECT g, g % 300 FROM generate_series(1, 60000) g; ANALYZE lesson"
    )
    db.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'app-pw'").format(sql.Identifier(name)).as_string())
    db.execute(sql.SQL("GRANT SELECT ON lesson TO {}").format(sql.Identifier(name)).as_string())
    # only this database's counters: a whole reset would disturb the other tests' databases
    db.execute(
        "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
    )
    yield Target(conninfo.make_conninfo(db.dsn, user=name, password="app-pw", passfile=""))
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def run_checkup_as(target: Target) -> CheckupResult:
    return run_checkup(target, options={"query.slow": SLOW}, only={"query.slow", "query.n_plus_one"})


def _lookups(conn: psycopg.Connection, times: int) -> None:
    for course in range(times):
        conn.execute(LOOKUP, (course,))


@pytest.mark.catalog
def test_a_workload_of_another_role_skips_the_query_checks_and_the_advice_and_says_why(
    db: TestDatabase, app_role: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    with db.connect() as conn:  # the workload runs as another role (the superuser)
        _lookups(conn, 8)
    assert find(run(db, "query.slow", query__slow=SLOW), "query.slow")  # its own role sees it slow
    result = run_checkup_as(app_role)
    (skipped,) = [s for s in result.report.skipped if s.check == "query.slow"]
    # (the lookup, and the reset of the fixture)
    assert "2 statements of other roles (9 calls, 100 % of the statement time) are hidden" in skipped.reason
    assert "grant it pg_read_all_stats" in skipped.reason
    assert not [f for f in result.report.findings if f.code.startswith("query.")]
    report = analyze_queries(app_role, threshold_ms=0.001)
    assert NO_STATEMENTS_YET not in report.notes
    assert any("only this role's statements analysed: 2 statements of other" in n for n in report.notes)
    assert main(["advise", "indexes", "--dsn", app_role.dsn]) == 2
    error = capsys.readouterr().err
    assert "hidden from this role: grant it pg_read_all_stats (or pg_monitor)" in error
    assert "app-pw" not in error
    assert main(["alerts", "check", "--dsn", app_role.dsn, "--format", "json"]) in (0, 1)
    (slow,) = [a for a in json.loads(capsys.readouterr().out)["alerts"] if a["rule"] == "slow_queries"]
    assert slow["status"] == "unknown" and slow["value"] is None  # not a quiet 0
    assert "statements of other roles" in slow["note"] and "hidden from this role" in slow["note"]
    top = TestClient(create_app(ApiSettings(app_role))).get("/api/v1/queries/top").json()
    assert top["statements"] == [] and top["notes"] == [
        "only this role's statements listed: 2 statements of other roles (9 calls, 100 % of the statement"
        " time) are hidden from this role: grant it pg_read_all_stats (or pg_monitor) to read them"
    ]


@pytest.mark.catalog
def test_an_application_role_reading_its_own_workload_is_judged_with_a_note_on_the_rest(
    db: TestDatabase, app_role: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(app_role.dsn, autocommit=True) as conn:
        _lookups(conn, 20)  # the application's own statements: readable by its role
    with db.connect() as conn:
        conn.execute("SELECT 1 FROM lesson WHERE id = 1")  # a moment of another role's
    result = run_checkup_as(app_role)
    assert [s.check for s in result.report.skipped if s.check == "query.slow"] == []
    (slow,) = [f for f in result.report.findings if f.code == "query.slow"]
    assert slow.metrics["calls"] == 20
    (note,) = [n for n in result.report.notes if "hidden from this role" in n]
    assert note.startswith("the query checks judged this role's statements only: 2 statements of other roles")
    assert "(2 calls, " in note  # (a few per cent of the time: the check ran)
    assert main(["alerts", "check", "--dsn", app_role.dsn, "--format", "json"]) in (0, 1)
    (slow,) = [a for a in json.loads(capsys.readouterr().out)["alerts"] if a["rule"] == "slow_queries"]
    assert slow["status"] != "unknown" and slow["value"] > 0
