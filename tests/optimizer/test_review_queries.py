"""Correctness review of the query analyzer and the check-up's statement checks, on a real server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgdba.checkup import run_checkup
from pgdba.embedded import EmbeddedCluster
from pgdba.findings import Finding
from pgdba.history.snapshot import take_snapshot
from pgdba.history.store import HistoryStore
from pgdba.optimizer import analyze_queries
from pgdba.server import load_server_facts
from pgdba.target import resolve_target, session
from tests.checkup.helpers import COURSE_LESSON_SCHEMA, find, reset_statements, run, script
from tests.conftest import TestDatabase


def _recommendations(report: dict[str, Any], fragment: str) -> list[dict[str, Any]]:
    return [r for r in report["recommendations"] if fragment in r["query"]]


def _issue_types(report: dict[str, Any], fragment: str) -> list[str]:
    return [i["type"] for r in _recommendations(report, fragment) for i in r["issues"]]


# ---- N+1: the lookups must track the rows of a list query ------------------------------------------
@pytest.mark.catalog
def test_analyze_does_not_call_a_hot_key_lookup_without_a_list_query_n_plus_one(db: TestDatabase) -> None:
    script(db, COURSE_LESSON_SCHEMA)
    reset_statements(db)
    with db.connect() as conn:
        for i in range(600):  # one course lookup per request (an API's GET /courses/:id)
            conn.execute("SELECT id, title FROM course WHERE id = %s", (1 + i % 50,)).fetchone()
    report = analyze_queries(db.target, threshold_ms=1000).to_dict()
    assert "n_plus_one" not in _issue_types(report, "FROM course WHERE id = $1")


@pytest.mark.catalog
def test_analyze_flags_lookups_made_once_per_listed_row(db: TestDatabase) -> None:
    script(db, COURSE_LESSON_SCHEMA)
    reset_statements(db)
    with db.connect() as conn:
        lessons = conn.execute("SELECT id, course_id FROM lesson WHERE id <= %s", (600,)).fetchall()
        for _, course_id in lessons:  # the ORM loop: one course lookup per listed lesson
            conn.execute("SELECT id, title FROM course WHERE id = %s", (course_id,)).fetchone()
    report = analyze_queries(db.target, threshold_ms=1000).to_dict()
    assert "n_plus_one" in _issue_types(report, "FROM course WHERE id = $1")


@pytest.mark.catalog
def test_n_plus_one_check_ignores_lookups_far_more_numerous_than_the_listed_rows(db: TestDatabase) -> None:
    script(db, COURSE_LESSON_SCHEMA)
    reset_statements(db)
    with db.connect() as conn:
        conn.execute("SELECT id, title FROM lesson WHERE course_id = %s", (7,)).fetchall()  # 12 rows, once
        for i in range(1200):  # a hot lookup unrelated to that one list
            conn.execute("SELECT id, title FROM course WHERE id = %s", (1 + i % 50,)).fetchone()
    assert find(run(db, "query.n_plus_one"), "query.n_plus_one") == []


# ---- cache hit ------------------------------------------------------------------------------------
@pytest.mark.catalog
def test_low_cache_hit_check_flags_a_statement_that_never_hit_the_cache(
    tiny_buffers_cluster: EmbeddedCluster,
) -> None:
    dsn = tiny_buffers_cluster.dsn()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("CREATE TABLE big (id int, filler text)")
        conn.execute("INSERT INTO big SELECT i, repeat('y', 200) FROM generate_series(1, 40000) i")
        conn.execute("VACUUM big")  # hint bits set: the scan dirties nothing
        conn.execute("SET max_parallel_workers_per_gather = 0")
        conn.execute("SELECT pg_stat_statements_reset()")
        conn.execute("SELECT count(*) FROM big WHERE filler <> %s", ("z",))  # one scan through the ring
        hit, read = conn.execute(
            "SELECT shared_blks_hit, shared_blks_read FROM pg_stat_statements"
            " WHERE query LIKE 'SELECT count(*) FROM big%'"
        ).fetchone() or (None, None)
    assert hit == 0 and read >= 1000  # every block came from disk or the OS cache
    result = run_checkup(resolve_target(dsn), only={"query.low_cache_hit"})
    found: list[Finding] = find(result, "query.low_cache_hit")
    assert len(found) == 1 and "FROM big" in found[0].object
    assert found[0].metrics["cache_hit_pct"] == 0.0


# ---- the same statement run by several roles -------------------------------------------------------
@pytest.fixture
def two_app_roles(db: TestDatabase) -> Iterator[tuple[str, str]]:
    """The course/lesson tables and two login roles allowed to read them (an app and its worker)."""
    script(db, COURSE_LESSON_SCHEMA)
    names = (f"app_{uuid.uuid4().hex[:8]}", f"worker_{uuid.uuid4().hex[:8]}")
    for name in names:
        db.execute(f'CREATE ROLE "{name}" LOGIN')
        db.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{name}"')
    yield names
    for name in names:
        db.execute(f'DROP OWNED BY "{name}"')
        db.execute(f'DROP ROLE "{name}"')


def _as_role(db: TestDatabase, role: str) -> psycopg.Connection:
    conn = db.connect()
    conn.execute(f'SET ROLE "{role}"')
    return conn


@pytest.mark.catalog
def test_analyze_reports_a_statement_run_by_two_roles_once_with_all_its_calls(
    db: TestDatabase, two_app_roles: tuple[str, str]
) -> None:
    reset_statements(db)
    for role in two_app_roles:
        with _as_role(db, role) as conn:
            for _ in range(3):
                conn.execute("SELECT pg_sleep(0.002), title FROM course WHERE id = %s", (1,)).fetchall()
    report = analyze_queries(db.target, threshold_ms=1).to_dict()
    recs = _recommendations(report, "FROM course WHERE id = $1")
    assert [r["metrics"]["calls"] for r in recs] == [6]


@pytest.mark.catalog
def test_n_plus_one_check_counts_the_lookups_of_every_role(
    db: TestDatabase, two_app_roles: tuple[str, str]
) -> None:
    reset_statements(db)
    for role in two_app_roles:  # the same page served by two roles: 300 lookups each, 600 in all
        with _as_role(db, role) as conn:
            lessons = conn.execute("SELECT id, course_id FROM lesson WHERE id <= %s", (300,)).fetchall()
            for _, course_id in lessons:
                conn.execute("SELECT id, title FROM course WHERE id = %s", (course_id,)).fetchone()
    found = find(run(db, "query.n_plus_one"), "query.n_plus_one")
    assert len(found) == 1 and found[0].metrics["calls"] == 600


# ---- --since-snapshot deltas -----------------------------------------------------------------------
@pytest.mark.catalog
def test_analyze_since_snapshot_counts_from_a_pg_stat_statements_reset_after_it(
    db: TestDatabase, tmp_path: Path
) -> None:
    script(db, COURSE_LESSON_SCHEMA)
    query = "SELECT count(*) FROM lesson WHERE course_id = %s"
    with db.connect() as conn:
        for course in range(10):
            conn.execute(query, (course,))
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        with session(db.target) as conn:
            take_snapshot(conn, load_server_facts(conn), store, db.target.key)
        reset_statements(db)  # every counter back to zero: the 14 calls below are all the activity
        with db.connect() as conn:
            for course in range(14):
                conn.execute(query, (course,))
        report = analyze_queries(db.target, threshold_ms=0.0, store=store).to_dict()
    rec = _recommendations(report, "FROM lesson WHERE course_id = $1")
    assert [r["metrics"]["calls"] for r in rec] == [14]
    with db.connect() as conn:
        reset_at = conn.execute("SELECT stats_reset FROM pg_stat_statements_info").fetchone()
    assert reset_at is not None and report["window"]["from"] == reset_at[0].isoformat()
