"""A typed literal in an application's query (`now() - interval '3 days'`, `date '2026-11-01'`) is recorded
by pg_stat_statements as `interval $2`, which PostgreSQL itself refuses: the advisor reads it as
`CAST($2 AS interval)`, so such a query is costed, advised on and measured like any other."""

from __future__ import annotations

import psycopg
import pytest

from pgdba.advisor.advise import AdvisorOptions, advise_indexes
from pgdba.advisor.verify import verify_advice
from pgdba.advisor.workload import cast_typed_parameters, queries_from_statements
from pgdba.server import load_server_facts
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
    # the date is sampled from the column it meets and measured; `now() - $2` meets none: nothing to bind
    (measured,) = verification["queries"]
    assert (measured["query"], measured["verdict"]) == (texts[1], "faster")
    assert verification["notes"] == [f"not measured (no sample value for a parameter): {texts[0][:59]}…"]
