"""A generic plan of a query that compares a partitioned table's key with a `$n`: before PostgreSQL 16 it is
read with EXECUTE and NULL parameters, which prunes every such partition as the executor starts, and the
plan then names none of the indexes it would scan there. The advisor plans it again without run-time
pruning for those names: its candidates are chosen by them (pgdba.advisor.selection.prefilter)."""

from __future__ import annotations

import pytest

from pgdba.advisor.candidates import Candidate
from pgdba.advisor.whatif import WhatIfSession, explain_generic, plan_index_names
from pgdba.server import load_server_facts
from tests.conftest import TestDatabase

LOG = """
CREATE TABLE log (user_id int NOT NULL, course_id int NOT NULL, at timestamptz NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE log_09 PARTITION OF log FOR VALUES FROM ('2026-09-01') TO ('2026-10-01');
CREATE TABLE log_10 PARTITION OF log FOR VALUES FROM ('2026-10-01') TO ('2026-11-01');
CREATE TABLE log_11 PARTITION OF log FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
INSERT INTO log SELECT g % 5000, g % 500, timestamptz '2026-09-01' + g * interval '30 seconds'
  FROM generate_series(1, 250000) g;
ANALYZE log;
"""
QUERY = "SELECT count(*) FROM log WHERE course_id = $1 AND at >= $2 AND at < $3"
PARTITION_INDEXES = ["log_09_course_id_at_idx", "log_10_course_id_at_idx", "log_11_course_id_at_idx"]


@pytest.mark.catalog
@pytest.mark.parametrize("version_num", [150000, 160000], ids=["execute-with-nulls", "generic-plan-option"])
def test_the_generic_plan_names_the_indexes_of_partitions_a_parameter_prunes(
    db: TestDatabase, version_num: int
) -> None:
    db.execute(LOG)
    db.execute("CREATE INDEX ON log (course_id, at)")
    with db.target.connect() as conn:
        if version_num >= 160000 > load_server_facts(conn).version_num:
            pytest.skip("EXPLAIN (GENERIC_PLAN) is PostgreSQL 16's")
        plan = explain_generic(conn, version_num, QUERY, 3)
        assert sorted(plan_index_names(plan)) == PARTITION_INDEXES
        # and the cost is the generic plan's, pruning or not: the indexes on all three partitions
        assert plan["Plan"]["Total Cost"] < 100
        on = conn.execute("SHOW enable_partition_pruning").fetchone()
    assert on == ("on",)  # put back


@pytest.mark.hypopg
def test_a_parameterised_range_on_a_partitioned_table_gets_its_index_costed_with_the_generic_plan(
    db: TestDatabase,
) -> None:
    db.execute(LOG)
    with db.target.connect() as conn:
        session = WhatIfSession(conn, load_server_facts(conn).version_num)
        candidate = Candidate("public", "log", ("course_id", "at"), partitioned=True)
        costed = session.cost(0, QUERY, 3, {candidate})
        without = session.cost(1, QUERY, 3, set())
    assert costed.cost < without.cost / 100
    assert costed.indexes == {candidate.name()}  # what the prefilter keeps it by
