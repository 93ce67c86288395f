"""One statement sent with parameters of different types is one statement: psycopg 3 sends an int under
32 768 as smallint and a larger one as integer, and pg_stat_statements keeps a row (a queryid) for each."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdba.alerts.metrics import sample_statements
from pgdba.findings import Severity
from pgdba.history.snapshot import take_snapshot
from pgdba.server import load_server_facts
from tests.checkup.helpers import (
    COURSE_LESSON_SCHEMA,
    find,
    list_then_look_up_each,
    reset_statements,
    run,
    script,
    store_at,
)
from tests.conftest import TestDatabase

# courses 1‥50 (smallint to psycopg) and 40 001‥40 050 (integer), a lesson of each course in turn
TWO_SIZES_OF_KEY = (
    COURSE_LESSON_SCHEMA
    + """;
INSERT INTO course SELECT 40000 + g, 'course ' || g FROM generate_series(1, 50) g;
UPDATE lesson SET course_id = 40000 + course_id WHERE id % 2 = 0;
ANALYZE course;
ANALYZE lesson
"""
)
SLOW_LOOKUP = "SELECT pg_sleep(0.11), title FROM course WHERE id = %s"


def _rows_of(db: TestDatabase, fragment: str) -> int:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(DISTINCT queryid) FROM pg_stat_statements WHERE query LIKE %s", (f"%{fragment}%",)
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.catalog
def test_an_n_plus_one_counts_the_lookups_of_every_parameter_type(db: TestDatabase) -> None:
    script(db, TWO_SIZES_OF_KEY)
    reset_statements(db)
    with db.connect() as conn:
        list_then_look_up_each(conn)  # half the course keys are smallints to psycopg, half integers
    assert _rows_of(db, "FROM course WHERE id = $1") == 2  # the premise: one queryid per type
    [found] = find(run(db, "query.n_plus_one"), "query.n_plus_one")
    assert found.metrics["calls"] == 1200


@pytest.mark.catalog
def test_a_slow_query_is_one_finding_with_the_calls_of_every_parameter_type(db: TestDatabase) -> None:
    script(db, TWO_SIZES_OF_KEY)
    reset_statements(db)
    with db.connect() as conn:
        for course in (1, 2, 3, 40001, 40002, 40003):  # three calls of each type: under 5 calls apiece
            conn.execute(SLOW_LOOKUP, (course,))
    assert _rows_of(db, "FROM course WHERE id = $1") == 2
    [slow] = find(run(db, "query.slow"), "query.slow")
    assert (slow.severity, slow.metrics["calls"]) == (Severity.WARNING, 6)
    # the alerts' statement sample keeps a row per queryid, each counted as the application's
    with db.connect() as conn:
        samples = [s for s in sample_statements(conn, load_server_facts(conn)) if "pg_sleep" in s.query]
    assert sorted(s.calls for s in samples) == [3, 3] and all(s.application for s in samples)


@pytest.mark.catalog
def test_a_regression_is_found_when_the_slow_calls_came_with_another_parameter_type(
    db: TestDatabase, tmp_path: Path
) -> None:
    script(db, TWO_SIZES_OF_KEY)
    reset_statements(db)
    query = "SELECT pg_sleep(%s::float8), title FROM course WHERE id = %s"
    with db.connect() as conn:
        for course in range(1, 21):  # smallint keys, 1 ms
            conn.execute(query, (0.001, course))
    store = store_at(tmp_path)
    with db.connect() as conn:
        take_snapshot(conn, load_server_facts(conn), store, db.target.key)
    with db.connect() as conn:
        for course in range(40001, 40021):  # integer keys, 30 ms: another queryid for the same statement
            conn.execute(query, (0.03, course))
    assert _rows_of(db, "FROM course WHERE id = $2") == 2
    [found] = find(run(db, "query.regression", store=store), "query.regression")
    assert found.metrics["calls"] == 20 and found.metrics["ratio"] >= 2
