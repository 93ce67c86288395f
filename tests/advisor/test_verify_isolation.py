"""`--verify` measures each query on its own: one the database refuses with the sampled values is left out
with a note, not the whole proof; a scalar subquery's `LIMIT $n` is bound to 1."""

from __future__ import annotations

import pytest

from pgdba.advisor.advise import AdvisorOptions, advise_indexes
from pgdba.advisor.sampling import limit_parameters
from pgdba.advisor.verify import verify_advice
from pgdba.advisor.workload import WorkloadQuery
from pgdba.server import load_server_facts
from tests.conftest import TestDatabase

ORDERS = """
CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL, region int NOT NULL);
INSERT INTO customers SELECT g, 'user' || g || '@example.com', g % 10 FROM generate_series(1, 20000) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, total numeric NOT NULL);
INSERT INTO orders SELECT g, g % 20000 + 1, g % 500 FROM generate_series(1, 200000) g;
ANALYZE;
"""
GOOD = "SELECT * FROM orders WHERE customer_id = $1"
# the sampled region matches about 2 000 customers: the scalar subquery returns more than one row
REFUSED = "SELECT * FROM orders WHERE customer_id = (SELECT id FROM customers WHERE region = $1)"
SCALAR_LIMIT = "SELECT * FROM orders WHERE customer_id = (SELECT id FROM customers WHERE email = $1 LIMIT $2)"


def test_a_scalar_subquerys_limit_is_bound_to_one_and_the_outer_limit_to_ten() -> None:
    assert limit_parameters("SELECT * FROM t WHERE a = (SELECT id FROM u LIMIT $1) LIMIT $2 OFFSET $3") == {
        1: "1",
        2: "10",
        3: "0",
    }
    assert limit_parameters("SELECT * FROM t WHERE a IN (SELECT id FROM u LIMIT $1)") == {1: "10"}


@pytest.mark.catalog
@pytest.mark.hypopg
def test_one_query_the_database_refuses_is_left_out_of_the_proof_and_the_rest_is_measured(
    db: TestDatabase,
) -> None:
    db.execute(ORDERS)
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
        workload = [WorkloadQuery(q, calls=100) for q in (GOOD, REFUSED, SCALAR_LIMIT)]
        advice = advise_indexes(conn, facts, workload, AdvisorOptions())
    assert [r.candidate.columns for r in advice.recommendations][:1] == [("customer_id",)]
    proof = verify_advice(db.target, facts, advice, on_target=False)
    measured = {q["query"] for q in proof["queries"]}
    assert GOOD in measured and SCALAR_LIMIT in measured  # LIMIT $2 bound to 1: one row, as written
    assert REFUSED not in measured
    assert any(
        n.startswith("not measured (more than one row returned by a subquery used as an expression)")
        for n in proof["notes"]
    )
    assert proof["before_ms"] > proof["after_ms"]
