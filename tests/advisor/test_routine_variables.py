"""Statements a function runs, recorded with pg_stat_statements.track = all, name the function's
parameters and variables (`WHERE customer_id = c`): the advisor reads them as the parameters they are.
Before, every such statement failed to plan (`column "c" does not exist`) and the advice was one line: no
query of the workload could be EXPLAINed."""

from __future__ import annotations

import pytest

from pgdba.advisor.advise import advise_indexes
from pgdba.advisor.routine_variables import variables_as_parameters
from pgdba.advisor.workload import WorkloadQuery, queries_from_statements
from pgdba.server import load_server_facts
from tests.conftest import TestDatabase
from tests.function_workload import ORDERS_AND_CUSTOMER_TOTAL_SQL

FUNCTIONS_SQL = (
    ORDERS_AND_CUSTOMER_TOTAL_SQL
    + """
CREATE FUNCTION order_count(who int) RETURNS bigint LANGUAGE sql STABLE
AS $$ SELECT count(*) FROM orders WHERE customer_id = who AND total > 10 $$;
"""
)


@pytest.mark.catalog
@pytest.mark.hypopg
def test_the_statements_inside_functions_are_advised_with_their_variables_as_parameters(
    db: TestDatabase,
) -> None:
    db.execute(FUNCTIONS_SQL)
    db.execute("SELECT pg_stat_statements_reset()")
    with db.connect() as conn:
        conn.execute("SET pg_stat_statements.track = 'all'")
        for customer in range(5):
            conn.execute("SELECT customer_total(%s)", (customer,))
            conn.execute("SELECT order_count(%s)", (customer,))

    with db.target.connect() as conn:
        facts = load_server_facts(conn)
        workload = queries_from_statements(conn, facts)
        inside = [q for q in workload if "FROM orders" in q.sql]
        assert len(inside) == 2 and all(q.nested for q in inside)
        assert all(" = c " in q.sql or " = who " in q.sql for q in inside)
        advice = advise_indexes(conn, facts, workload)

    [chosen] = advice.recommendations
    assert chosen.candidate.table == "orders" and chosen.candidate.columns[0] == "customer_id"
    assert sorted(q.sql for q in chosen.queries) == [
        "SELECT count(*) FROM orders WHERE customer_id = $1 AND total > $2",
        "SELECT sum(total)        FROM orders WHERE customer_id = $1 AND status = $2",
    ]
    assert any("name their parameters or variables (" in note for note in advice.notes)


@pytest.mark.catalog
def test_only_a_nested_statements_unknown_names_become_parameters(db: TestDatabase) -> None:
    db.execute("CREATE TABLE t (a int, b text)")
    queries = [
        WorkloadQuery("SELECT a FROM t WHERE b = who AND a > $1 AND b <> t.b", nested=True),
        WorkloadQuery("SELECT a FROM t WHERE b = $1", nested=True),  # nothing to read
        WorkloadQuery("SELECT a FROM t WHERE b = who"),  # top level: a stale column, reported as it is
        WorkloadQuery("SELECT a FROM t WHERE b = x AND a = y", nested=True),
    ]
    with db.target.connect() as conn:
        read, notes = variables_as_parameters(conn, queries)
    assert [q.sql for q in read] == [
        "SELECT a FROM t WHERE b = $2 AND a > $1 AND b <> t.b",
        "SELECT a FROM t WHERE b = $1",
        "SELECT a FROM t WHERE b = who",
        "SELECT a FROM t WHERE b = $1 AND a = $2",
    ]
    assert notes == [
        "statements run inside functions name their parameters or variables (who, x, y): each is read as a "
        "parameter, as the function passes it"
    ]
