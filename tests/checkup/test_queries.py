"""Statement checks provoked with a real workload recorded by pg_stat_statements."""

from __future__ import annotations

from pathlib import Path

import pytest

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

QUERY_CHECKS = (
    "query.slow",
    "query.n_plus_one",
    "query.low_cache_hit",
    "query.unstable_plan",
    "query.temp_spill",
)


@pytest.mark.catalog
def test_query_checks_are_quiet_on_a_healthy_workload(db: TestDatabase) -> None:
    script(db, COURSE_LESSON_SCHEMA)
    reset_statements(db)
    with db.connect() as conn:
        for i in range(1, 200):
            conn.execute("SELECT title FROM lesson WHERE id = %s", (i,))
        conn.execute("SELECT c.title, count(*) FROM course c JOIN lesson l ON l.course_id = c.id GROUP BY 1")
    result = run(db, *QUERY_CHECKS)
    assert len(result.ran) == len(QUERY_CHECKS)
    assert result.report.findings == []


@pytest.mark.catalog
def test_n_plus_one_is_found_with_the_outer_list_query(db: TestDatabase) -> None:
    script(db, COURSE_LESSON_SCHEMA)
    reset_statements(db)
    with db.connect() as conn:
        list_then_look_up_each(conn)
    found = find(run(db, "query.n_plus_one"), "query.n_plus_one")
    assert len(found) == 1
    assert found[0].metrics["lookup"] == "course.id"
    assert found[0].metrics["calls"] == 1200
    assert "FROM lesson" in found[0].metrics["outer_query"]
    assert found[0].metrics["outer_rows"] == 1200
    # the lookup alone, with no list query on a related table, is not called an N+1
    reset_statements(db)
    with db.connect() as conn:
        for i in range(1, 600):
            conn.execute("SELECT id, title FROM course WHERE id = %s", (1 + i % 50,)).fetchone()
    assert find(run(db, "query.n_plus_one"), "query.n_plus_one") == []


@pytest.mark.catalog
def test_a_loop_of_one_row_updates_by_key_is_no_n_plus_one(db: TestDatabase) -> None:
    script(db, COURSE_LESSON_SCHEMA)
    reset_statements(db)
    with db.connect() as conn:
        for i in range(60):  # lists of lessons, then one UPDATE per lesson: writes, not lookups to eager-load
            conn.execute("SELECT id, title FROM lesson WHERE id BETWEEN %s AND %s", (i * 10, i * 10 + 20))
        for i in range(1, 600):
            conn.execute("UPDATE lesson SET title = %s WHERE id = %s", (f"lesson {i}!", i))
    assert find(run(db, "query.n_plus_one"), "query.n_plus_one") == []


@pytest.mark.catalog
def test_slow_and_unstable_queries_are_found(db: TestDatabase) -> None:
    script(db, COURSE_LESSON_SCHEMA)
    reset_statements(db)
    with db.connect() as conn:
        for _ in range(5):
            conn.execute("SELECT pg_sleep(0.11), title FROM course WHERE id = %s", (1,))
        for i in range(20):  # mostly 1 ms, once 100 ms: a plan or cache that flips
            conn.execute("SELECT pg_sleep(%s), title FROM lesson WHERE id = 1", (0.1 if i == 0 else 0.001,))
    result = run(db, "query.slow", "query.unstable_plan")
    slow = find(result, "query.slow")
    assert [("FROM course" in f.object, f.severity) for f in slow] == [(True, Severity.WARNING)]
    assert slow[0].metrics["mean_ms"] >= 100
    unstable = find(result, "query.unstable_plan")
    assert len(unstable) == 1 and "FROM lesson" in unstable[0].object
    assert unstable[0].metrics["variation"] >= 1.0
    # the user's threshold is a knob: at 200 ms nothing is slow (5 calls < PgHero's 100-call rule)
    assert find(run(db, "query.slow", query__slow={"threshold_ms": 200}), "query.slow") == []


@pytest.mark.catalog
def test_temp_file_spill_is_found(db: TestDatabase) -> None:
    script(db, COURSE_LESSON_SCHEMA)
    db.execute(
        "CREATE TABLE log_line AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 50000) g"
    )
    reset_statements(db)
    with db.connect() as conn:
        conn.execute("SET work_mem = '64kB'")
        for _ in range(10):
            conn.execute(
                "SELECT body FROM log_line ORDER BY body DESC LIMIT %s OFFSET %s", (10, 40000)
            ).fetchall()
    found = find(run(db, "query.temp_spill"), "query.temp_spill")
    assert len(found) == 1 and "log_line" in found[0].object
    assert found[0].metrics["temp_blks_written"] >= 1280


@pytest.mark.catalog
def test_low_cache_hit_query_is_found(db: TestDatabase) -> None:
    # a table over a quarter of shared_buffers is scanned through a small ring buffer: blocks come from the
    # OS cache on every scan, and pg_stat_statements counts them as reads
    db.execute(
        "CREATE TABLE behavior_log AS SELECT g AS id, repeat('x', 200) AS payload FROM generate_series(1, 170000) g"
    )
    reset_statements(db)
    with db.connect() as conn:
        conn.execute("SET max_parallel_workers_per_gather = 0")
        for _ in range(2):
            conn.execute("SELECT count(*) FROM behavior_log WHERE payload = %s", ("y",)).fetchone()
    found = find(run(db, "query.low_cache_hit"), "query.low_cache_hit")
    assert len(found) == 1 and "behavior_log" in found[0].object
    assert found[0].metrics["cache_hit_pct"] < 90


@pytest.mark.catalog
def test_regression_against_the_previous_snapshot_is_found(db: TestDatabase, tmp_path: Path) -> None:
    script(db, COURSE_LESSON_SCHEMA)
    reset_statements(db)
    query = "SELECT pg_sleep(%s), title FROM course WHERE id = 2"
    with db.connect() as conn:
        for _ in range(20):
            conn.execute(query, (0.001,))
    store = store_at(tmp_path)
    with db.connect() as conn:
        take_snapshot(conn, load_server_facts(conn), store, db.target.key)
    assert find(run(db, "query.regression", store=store), "query.regression") == []  # nothing new yet
    with db.connect() as conn:
        for _ in range(20):
            conn.execute(query, (0.03,))
    found = find(run(db, "query.regression", store=store), "query.regression")
    assert len(found) == 1 and found[0].metrics["ratio"] >= 2
    assert found[0].metrics["calls"] == 20  # the delta since the snapshot, not the cumulative counters
