"""A typed literal in an application's query (`now() - interval '3 days'`, `date '2026-11-01'`) is recorded
by pg_stat_statements as `interval $2`, which PostgreSQL itself refuses: the advisor reads it as
`CAST($2 AS interval)`, so such a query is costed, advised on and measured like any other."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from pgdba.advisor.advise import AdvisorOptions, advise_indexes
from pgdba.advisor.query_columns import columns_by_role
from pgdba.advisor.sampling import StatsReader, bind_parameters
from pgdba.advisor.verify import verify_advice
from pgdba.advisor.workload import cast_typed_parameters, queries_from_statements
from pgdba.server import load_server_facts
from tests.advisor.helpers import run_bound, table_info
from tests.conftest import TestDatabase
from tests.test_own_statements import forget_statements

VISITS = """
CREATE TABLE visits (id bigint PRIMARY KEY, user_id int NOT NULL, at timestamptz NOT NULL, page text);
INSERT INTO visits
SELECT g, g % 4000, timestamptz '2026-11-30' - g * interval '20 seconds', md5(g::text)
  FROM generate_series(1, 200000) g;
ANALYZE visits;
"""
APPLICATION = [
    "SELECT count(*) FROM visits WHERE user_id = {n} AND at > now() - interval '3 days'",
    "SELECT page FROM visits WHERE user_id = {n} AND at >= date '2026-11-01' ORDER BY at LIMIT 20",
]


def test_each_typed_parameter_becomes_a_cast_postgresql_accepts(db: TestDatabase) -> None:
    recorded = (
        "SELECT f(interval(2) $1), interval $2 day to second(3), timestamp with time zone $3, "
        "double precision $4 FROM (SELECT $5::int AS x, CAST($6 AS date) AS y) AS t LIMIT $7"
    )
    cast = cast_typed_parameters(recorded)
    assert cast == (
        "SELECT f(CAST($1 AS interval(2))), CAST($2 AS interval day to second(3)), CAST($3 AS timestamp "
        "with time zone), CAST($4 AS double precision) FROM (SELECT $5::int AS x, CAST($6 AS date) AS y) AS "
        "t LIMIT $7"
    )
    with db.connect() as conn:
        conn.execute("CREATE FUNCTION f(interval) RETURNS interval LANGUAGE sql AS 'SELECT $1'")
        params = ["1 hour", "1 day", "2026-11-30", "1.5", "7", "2026-11-30", "1"]
        assert (
            psycopg.RawCursor(conn).execute(cast, params).fetchone() is not None
        )  # PostgreSQL takes it with values bound
    assert cast_typed_parameters("SELECT $1 FROM") == "SELECT $1 FROM"  # not parsable: as it is


@pytest.mark.hypopg
def test_a_query_recorded_with_a_typed_parameter_is_advised_and_measured(db: TestDatabase) -> None:
    db.execute(VISITS)
    forget_statements(db)
    with db.connect() as app:
        for n in range(3):
            for text in APPLICATION:
                app.execute(text.format(n=n))
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
        workload = queries_from_statements(conn, facts, min_calls=1)
        texts = sorted(q.sql for q in workload if "visits" in q.sql)
        assert texts == [
            "SELECT count(*) FROM visits WHERE user_id = $1 AND at > now() - CAST($2 AS interval)",
            "SELECT page FROM visits WHERE user_id = $1 AND at >= CAST($2 AS date) ORDER BY at LIMIT $3",
        ]
        advice = advise_indexes(conn, facts, workload, AdvisorOptions())
    assert advice.skipped == []
    (recommendation,) = advice.recommendations
    assert (recommendation.candidate.table, recommendation.candidate.columns[:2]) == (
        "visits",
        ("user_id", "at"),
    )
    assert sorted(q.sql for q in recommendation.queries) == texts
    verification = verify_advice(db.target, facts, advice, on_target=False)
    # the date is sampled from the column it meets, `now() - $2` from the column it bounds (a clock offset)
    measured = {q["query"]: q["verdict"] for q in verification["queries"]}
    assert measured == dict.fromkeys(texts, "faster"), verification
    assert verification["notes"] == []


@pytest.mark.catalog
def test_a_parameter_measured_from_the_clock_gets_the_interval_to_a_sampled_bound(db: TestDatabase) -> None:
    db.execute(VISITS)
    text = "SELECT id FROM visits WHERE at > now() - $1 AND now() + $2 >= at AND at < LOCALTIMESTAMP - $3"
    columns = columns_by_role(text)
    assert sorted(
        (n, o.column.column, o.operator, o.clock, o.sign) for n, o in columns.clock_offsets.items()
    ) == [
        (1, "at", ">", "now()", "-"),
        (2, "at", "<=", "now()", "+"),  # `now() + $2 >= at` is `at <= now() + $2`
        (3, "at", "<", "LOCALTIMESTAMP", "-"),
    ]
    with db.target.connect() as conn:
        bound = bind_parameters(StatsReader(conn), text, columns, {"visits": table_info(conn, "visits")})
        assert bound is not None
        since, until, before = bound.values
        # the interval back from now to the bound a tenth of the rows pass, each way
        [(after, upto, below)] = run_bound(
            conn,
            bound,
            "SELECT count(*) FILTER (WHERE at > now() - CAST($1 AS interval))::float / count(*), "
            "count(*) FILTER (WHERE at <= now() + CAST($2 AS interval))::float / count(*), "
            "count(*) FILTER (WHERE at < LOCALTIMESTAMP - CAST($3 AS interval))::float / count(*) FROM visits",
        )
        assert 0.03 < after < 0.2 and 0.03 < upto < 0.2 and 0.03 < below < 0.2
        assert not since.startswith("-") and until.startswith("-") and not before.startswith("-")  # all past


@pytest.mark.hypopg
def test_a_clock_parameter_the_driver_typed_is_costed_and_measured(db: TestDatabase) -> None:
    db.execute(VISITS)
    forget_statements(db)
    with db.connect() as app:  # psycopg sends a timedelta as a typed interval: recorded `now() - $2`
        for n in range(3):
            app.execute(
                "SELECT count(*) FROM visits WHERE user_id = %s AND at > now() - %s", (n, timedelta(days=3))
            )
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
        workload = [q for q in queries_from_statements(conn, facts, min_calls=1) if "visits" in q.sql]
        assert [q.sql for q in workload] == [
            "SELECT count(*) FROM visits WHERE user_id = $1 AND at > now() - $2"
        ]
        advice = advise_indexes(conn, facts, workload, AdvisorOptions())
    (recommendation,) = advice.recommendations
    assert recommendation.candidate.columns[:2] == ("user_id", "at")
    verification = verify_advice(db.target, facts, advice, on_target=False)
    [measured] = verification["queries"]
    assert measured["verdict"] == "faster" and verification["notes"] == [], verification
