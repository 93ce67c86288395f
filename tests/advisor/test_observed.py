"""Constants from pg_qualstats: a query is costed for the value the application sends, not the commonest one.

Its own throwaway cluster: pg_qualstats must be preloaded, and the suite's shared cluster stays without it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgdba.advisor.advise import Advice, AdvisorOptions, advise_indexes
from pgdba.advisor.observed import ObservedConstants, constant_text, load_observed_constants
from pgdba.advisor.verify import verify_advice
from pgdba.advisor.workload import WorkloadQuery, queries_from_statements
from pgdba.embedded import EmbeddedCluster
from pgdba.server import load_server_facts
from pgdba.target import Target, resolve_target
from tests.conftest import TestDatabase

JOBS = """
CREATE TABLE jobs (id int PRIMARY KEY, status text NOT NULL, payload text NOT NULL);
INSERT INTO jobs SELECT g, CASE WHEN g % 100 = 0 THEN 'pending' ELSE 'done' END, md5(g::text)
  FROM generate_series(1, 50000) g;
ANALYZE jobs;
"""
POLL = "SELECT id, payload FROM jobs WHERE status = %s"


def test_constants_read_back_as_pg_stats_prints_values() -> None:
    assert constant_text("'pending'::text") == "pending"
    assert constant_text("'it''s'::character varying") == "it's"
    assert constant_text("5::numeric") == "5"
    assert constant_text("'2024-01-01 00:00:00+00'::timestamp with time zone") == "2024-01-01 00:00:00+00"
    assert constant_text("true") == "true"
    assert constant_text("NULL::text") is None
    assert constant_text("now()") is None
    assert constant_text("1; DROP TABLE jobs") is None


def test_a_query_takes_its_own_constant_and_others_the_columns_commonest() -> None:
    observed = ObservedConstants()
    key = ("public", "jobs", "status", "=")
    observed.add("1", key, "pending", 50)
    observed.add("2", key, "done", 30)
    observed.add("3", key, "done", 30)
    assert observed.value("1", key) == "pending"
    assert observed.value("2", key) == "done"
    assert observed.value(None, key) == "done"  # 60 sends of 'done' against 50 of 'pending'
    assert observed.value(None, ("public", "jobs", "status", "<")) is None


@pytest.fixture(scope="module")
def qualstats_target() -> Iterator[Target]:
    root = Path(tempfile.mkdtemp(prefix="pgdba-test-qualstats-"))
    os.chmod(root, 0o755)
    cluster = EmbeddedCluster(root, settings={"pg_qualstats.sample_rate": "1"}, preload=["pg_qualstats"])
    if not cluster.library_available("pg_qualstats"):
        cluster.destroy()
        pytest.skip("pg_qualstats is not installed for this PostgreSQL build")
    cluster.start()
    try:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            for extension in ("pg_stat_statements", "hypopg", "pg_qualstats"):
                conn.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
            conn.execute(JOBS)
        yield resolve_target(cluster.dsn())
    finally:
        cluster.destroy()


def _advise(target: Target, table: str = "jobs") -> Advice:
    with target.connect() as conn:
        facts = load_server_facts(conn)
        workload = [q for q in queries_from_statements(conn, facts, min_calls=2) if table in q.sql]
        return advise_indexes(conn, facts, workload, AdvisorOptions())


def test_the_queue_poll_is_costed_for_the_rare_status_it_asks_for(qualstats_target: Target) -> None:
    with psycopg.connect(qualstats_target.dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset(), pg_qualstats_reset()")
        for _ in range(20):
            conn.execute(POLL, ("pending",))  # a bound parameter, as ORMs send it
    with qualstats_target.connect() as conn:
        observed = load_observed_constants(conn)
    assert observed is not None and observed.value(None, ("public", "jobs", "status", "=")) == "pending"

    advice = _advise(qualstats_target)
    assert [r.candidate.columns for r in advice.recommendations] == [("status",)]
    helped = advice.recommendations[0].queries[0]
    assert helped.costing == "observed" and helped.queryid is not None
    assert advice.to_dict()["indexes"][0]["queries"][0]["queryid"] == helped.queryid
    assert any("pg_qualstats" in note for note in advice.notes)
    with qualstats_target.connect() as conn:
        facts = load_server_facts(conn)
    verification = verify_advice(qualstats_target, facts, advice, on_target=False)
    # measured with 'pending' too, and the application's constant is not printed
    assert verification["queries"][0]["values"] == ["(observed)"]
    assert "pending" not in str(verification)

    # the same workload without pg_qualstats: its generic plan prices `status = $1` for an average status
    # (half of the rows), where 'pending' is 1 %
    with psycopg.connect(qualstats_target.dsn, autocommit=True) as conn:
        conn.execute("DROP EXTENSION pg_qualstats")
    try:
        unobserved = _advise(qualstats_target).recommendations[0].queries[0]
    finally:
        with psycopg.connect(qualstats_target.dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_qualstats")
    assert unobserved.costing != "observed"
    assert helped.cost_after / helped.cost_before < 0.2 < unobserved.cost_after / unobserved.cost_before


def _jobs_constants(target: Target) -> list[str]:
    with psycopg.connect(target.dsn) as conn:
        rows = conn.execute(
            "SELECT constvalue FROM pg_qualstats() WHERE lrelid = 'jobs'::regclass AND constvalue IS NOT NULL"
            " AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()
    return sorted(str(value) for (value,) in rows)


def test_the_advisors_own_plans_leave_no_constant_in_pg_qualstats(qualstats_target: Target) -> None:
    """pg_qualstats records the constants of a plain EXPLAIN too: the values the advisor samples for its
    what-if plans would be read back by the next advice as constants the application sent."""
    with psycopg.connect(qualstats_target.dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_qualstats_reset()")
        conn.execute("EXPLAIN SELECT id FROM jobs WHERE status = 'queued'")  # the premise: an EXPLAIN counts
    assert _jobs_constants(qualstats_target) == ["'queued'::text"]
    with psycopg.connect(qualstats_target.dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_qualstats_reset()")
    with qualstats_target.connect() as conn:
        facts = load_server_facts(conn)
        advice = advise_indexes(
            conn, facts, [WorkloadQuery("SELECT id, payload FROM jobs WHERE status = $1")]
        )
    assert advice.whatif_calls > 0
    assert _jobs_constants(qualstats_target) == []


NOTICES = """
CREATE TABLE notices (id int PRIMARY KEY, user_id int NOT NULL, state text NOT NULL, body text NOT NULL);
INSERT INTO notices
SELECT g, g % 2000, CASE WHEN g % 20 = 0 THEN 'new' ELSE 'seen' END, md5(g::text)
  FROM generate_series(1, 60000) g;
ANALYZE notices;
"""


def test_a_parameter_sent_one_constant_every_time_gets_a_partial_index(qualstats_target: Target) -> None:
    with psycopg.connect(qualstats_target.dsn, autocommit=True) as conn:
        conn.execute(NOTICES)
        conn.execute("SELECT pg_stat_statements_reset(), pg_qualstats_reset()")
        for user in range(30):
            # the unread badge: always state = 'new', as a bound parameter
            conn.execute("SELECT id, body FROM notices WHERE user_id = %s AND state = %s", (user * 7, "new"))
    advice = _advise(qualstats_target, "notices")
    assert [r.candidate.label() for r in advice.recommendations] == [
        "public.notices(user_id) WHERE state = 'new'"
    ]
    assert advice.recommendations[0].sql.endswith("WHERE \"state\" = 'new'")
    assert advice.recommendations[0].queries[0].costing == "observed"
    # a prepared statement uses it: past its fifth execution PostgreSQL keeps the custom plans, which can
    # use the partial index, over the generic plan, which cannot
    with psycopg.connect(qualstats_target.dsn, autocommit=True) as conn:
        conn.execute(advice.recommendations[0].sql)
        try:
            conn.execute(
                "PREPARE badge(int, text) AS SELECT id, body FROM notices WHERE user_id = $1 AND state = $2"
            )
            plans = [str(conn.execute("EXPLAIN EXECUTE badge(14, 'new')").fetchall()) for _ in range(8)]
            assert all("notices_user_id_where_state_new_idx" in plan for plan in plans)
        finally:
            conn.execute("DROP INDEX notices_user_id_where_state_new_idx")


@pytest.mark.hypopg
def test_unreadable_pg_qualstats_leaves_the_callers_transaction_usable(db: TestDatabase) -> None:
    """Not preloaded: it reports nothing. Broken (its function gone): the failure stays in a savepoint."""
    if not db.cluster.library_available("pg_qualstats"):
        pytest.skip("pg_qualstats is not installed for this PostgreSQL build")
    db.execute(JOBS + "CREATE EXTENSION pg_qualstats;")
    with db.target.connect() as conn:
        observed = load_observed_constants(conn)
        assert observed is not None and len(observed) == 0  # the shared cluster does not preload it
    db.execute(
        "ALTER EXTENSION pg_qualstats DROP FUNCTION pg_qualstats();"
        "ALTER FUNCTION pg_qualstats() RENAME TO pg_qualstats_gone;"
    )
    with psycopg.connect(db.dsn) as conn:  # not autocommit: a library caller's own transaction
        conn.execute("SELECT 1")
        assert load_observed_constants(conn) is None
        assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (50000,)
    with db.target.connect() as conn:
        advice = advise_indexes(
            conn, load_server_facts(conn), [WorkloadQuery("SELECT id FROM jobs WHERE status = $1")]
        )
    assert all(q.costing != "observed" for r in advice.recommendations for q in r.queries)


COURSES = """
CREATE TABLE courses (id int PRIMARY KEY, title text NOT NULL, author text NOT NULL)
  WITH (autovacuum_enabled = off);
INSERT INTO courses SELECT g, 'course ' || g || ' ' || md5(g::text), 'author ' || md5((g * 7)::text)
  FROM generate_series(1, 60000) g;
ANALYZE courses;
"""
CONTAINS = "SELECT id FROM courses WHERE title LIKE %s"  # Prisma's contains and startsWith send both so
PREFIX = "SELECT id FROM courses WHERE author LIKE %s ORDER BY author LIMIT 10"


def test_the_patterns_a_like_parameter_was_sent_decide_between_a_prefix_and_a_search(
    qualstats_target: Target,
) -> None:
    with psycopg.connect(qualstats_target.dsn, autocommit=True) as conn:
        conn.execute(COURSES)
        conn.execute("SELECT pg_stat_statements_reset(), pg_qualstats_reset()")
        for word in ("alg", "geo", "bio", "alg", "chem"):
            conn.execute(CONTAINS, (f"%{word}%",))
        for start in ("author 1", "author a", "author f", "author 1"):
            conn.execute(PREFIX, (f"{start}%",))
    with qualstats_target.connect() as conn:
        observed = load_observed_constants(conn)
    assert observed is not None
    assert observed.patterns(None, ("public", "courses", "title", "LIKE")) == {}  # per query only
    [(queryid, _key)] = [k for k in observed.query_patterns if k[1][2] == "title"]
    assert observed.patterns(queryid, ("public", "courses", "title", "LIKE")) == {
        "%alg%": 2.0,
        "%geo%": 1.0,
        "%bio%": 1.0,
        "%chem%": 1.0,
    }

    advice = _advise(qualstats_target, "courses")
    # the searched column: a trigram index, no longer "only if it sends wildcards"; no btree on title,
    # which the sent patterns cannot use (costed with '%alg%', not a sampled prefix)
    [search] = advice.search_indexes
    assert (search.column, search.ambiguous) == ("title", False)
    assert not any(n.startswith("`LIKE $n`") for n in search.notes)
    # the prefixed column: the btree only, costed with the prefix it was sent most
    assert [r.candidate.columns[0] for r in advice.recommendations] == ["author"]
    assert advice.recommendations[0].queries[0].costing == "observed"

    # the same workload without pg_qualstats: both stay ambiguous
    with psycopg.connect(qualstats_target.dsn, autocommit=True) as conn:
        conn.execute("DROP EXTENSION pg_qualstats")
    try:
        unobserved = _advise(qualstats_target, "courses")
    finally:
        with psycopg.connect(qualstats_target.dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_qualstats")
    assert sorted((s.column, s.ambiguous) for s in unobserved.search_indexes) == [
        ("author", True),
        ("title", True),
    ]
