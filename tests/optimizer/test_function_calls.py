"""Statements that spend their time inside the database's own functions (`SELECT customer_total($1)`, an
RPC `SELECT * FROM recent_orders($1)`) read no table as written: the report names them instead of saying
pg_stat_statements holds nothing yet."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.cli import main
from pgdba.optimizer import NO_STATEMENTS_YET, analyze_queries
from pgdba.statement_tree import called_functions
from tests.conftest import TestDatabase
from tests.function_workload import ORDERS_AND_CUSTOMER_TOTAL_SQL

FUNCTIONS_SQL = (
    ORDERS_AND_CUSTOMER_TOTAL_SQL
    + """
CREATE SCHEMA api;
CREATE FUNCTION api.recent_orders(c int) RETURNS SETOF orders LANGUAGE sql STABLE
AS $$ SELECT * FROM orders WHERE customer_id = c ORDER BY id DESC LIMIT 5 $$;
"""
)


@pytest.mark.catalog
def test_statements_calling_the_databases_functions_are_named_with_where_their_time_goes(
    db: TestDatabase,
) -> None:
    db.execute(FUNCTIONS_SQL)
    db.execute("SELECT pg_stat_statements_reset()")
    with db.connect() as conn:
        for customer in range(5):
            conn.execute("SELECT customer_total(%s)", (customer,))
            conn.execute("SELECT * FROM api.recent_orders(%s)", (customer,))
            conn.execute("SELECT now(), pg_backend_pid()")  # built-ins: no function of the database's

    report = analyze_queries(db.target, threshold_ms=0.0).to_dict()

    assert report["analyzed"] == 0 and NO_STATEMENTS_YET not in report["notes"]
    [note] = report["notes"]
    assert note.startswith("2 statement(s) over 0 ms read no table but call the database's own functions")
    assert "SELECT customer_total($1)" in note and "api.recent_orders" in note
    assert "customer_total(), api.recent_orders()" in note or "api.recent_orders(), customer_total()" in note
    assert "now()" not in note and "pg_backend_pid" not in note

    above = analyze_queries(db.target, threshold_ms=60_000.0).to_dict()
    [quiet] = above["notes"]
    assert quiet.startswith("2 statement(s) read no table but call the database's own functions (")
    assert "none over 60000 ms mean" in quiet


def test_the_functions_a_statement_calls_are_read_from_the_parse_tree() -> None:
    assert called_functions('SELECT f($1), "S"."G"(x) FROM api.h(1) AS t WHERE y = lower($2)') == [
        "f",
        "S.G",
        "api.h",
        "lower",
    ]
    assert called_functions("CALL close_day()") == ["close_day"]
    assert called_functions("SELECT 'f(1)'") == [] and called_functions("not sql (") == []


@pytest.mark.catalog
def test_a_slow_function_call_is_a_slow_query_of_the_check_up(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    """`SELECT customer_total($1)` is the application's slow statement even though it reads no table as
    written: query.slow reports it by the same rule, pointing inside the function."""
    db.execute(FUNCTIONS_SQL)
    db.execute("SELECT pg_stat_statements_reset()")
    with db.connect() as conn:
        for customer in range(6):
            conn.execute("SELECT customer_total(%s)", (customer,))
            conn.execute("SELECT now()")

    code = main(["queries", "slow", "--dsn", db.dsn, "--threshold", "0", "-f", "json"])
    findings = json.loads(capsys.readouterr().out)["findings"]

    assert code == 0
    [call] = [f for f in findings if f["object"] == "SELECT customer_total($1)"]
    assert call["code"] == "query.slow" and call["severity"] == "warning"
    assert call["title"].startswith("Slow function call: mean ") and call["metrics"]["calls"] == 6
    assert call["recommendation"].startswith("The time is spent inside customer_total(): ")
    assert not [f for f in findings if "now()" in f["object"]]


@pytest.mark.catalog
def test_the_top_statements_list_the_function_calls_too(db: TestDatabase) -> None:
    db.execute(FUNCTIONS_SQL)
    db.execute('CREATE FUNCTION api."Order Total"(c int) RETURNS numeric LANGUAGE sql AS $$ SELECT 1.0 $$')
    db.execute("SELECT pg_stat_statements_reset()")
    with db.connect() as conn:
        for customer in range(3):
            conn.execute("SELECT * FROM api.recent_orders(%s)", (customer,))
            conn.execute('SELECT api . "Order Total" (%s)', (customer,))
            conn.execute("SELECT now(), pg_backend_pid()")
    client = TestClient(create_app(ApiSettings(db.target)))

    top = client.get("/api/v1/queries/top", params={"limit": 50}).json()["statements"]

    listed = sorted(s["query"] for s in top)
    assert listed == ["SELECT * FROM api.recent_orders($1)", 'SELECT api . "Order Total" ($1)'], listed
