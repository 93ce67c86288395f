"""Casts in a filter: Prisma writes its string filters as `"User"."email"::text LIKE $1`, a cast the planner
sees through on a text or varchar column, so it is a use of the column; `created_at::date = $1` (or
`date(created_at)`) is served only by an index on that expression, which PostgreSQL builds only on a
`timestamp` (without time zone) or `date` column: on a timestamptz the cast depends on the TimeZone."""

from __future__ import annotations

import pytest

from pgdba.advisor.catalog import key_function
from pgdba.advisor.query_columns import columns_by_role
from tests.advisor.helpers import advise, run_bound, sampled
from tests.conftest import TestDatabase

SCHEMA = """
CREATE TABLE events (
    id int PRIMARY KEY,
    email text NOT NULL,
    nick varchar(40) NOT NULL,
    code char(12) NOT NULL,
    seq int NOT NULL,
    created_at timestamp(3) NOT NULL,
    seen_at timestamptz NOT NULL
) WITH (autovacuum_enabled = off);  -- no visibility map: plans do not depend on autovacuum's timing
INSERT INTO events
SELECT g, 'user' || g || '@example.com', 'nick' || g, 'c' || g, g,
       timestamp '2026-01-01' + g * interval '5 minutes', timestamptz '2026-01-01 00:00+00' + g * interval '5 minutes'
  FROM generate_series(1, 200000) g;
ANALYZE events;
"""


def uses(query: str) -> list[tuple[str, str, str | None]]:
    return [(str(u.column), u.role.value, u.operator) for u in columns_by_role(query).uses]


def labels(db: TestDatabase, queries: list[str]) -> list[str]:
    return [r.candidate.label() for r in advise(db, queries).recommendations]


def plan_of(db: TestDatabase, query: str) -> str:
    with db.connect() as conn:
        return "\n".join(str(row[0]) for row in conn.execute(f"EXPLAIN {query}"))


def test_a_cast_to_text_is_a_use_of_the_column_and_a_cast_to_date_a_use_through_date() -> None:
    assert uses('SELECT id FROM "events" WHERE "events"."email"::text LIKE $1') == [
        ("events.email", "range", "LIKE")
    ]
    assert uses("SELECT id FROM events WHERE $1 = nick::varchar AND email::text = $2") == [
        ("events.nick", "equality", "="),
        ("events.email", "equality", "="),
    ]
    assert uses("SELECT id FROM events WHERE created_at::date = $1 ORDER BY date(created_at)") == [
        ("date(events.created_at)", "equality", "="),
        ("date(events.created_at)", "order_by", None),
    ]
    assert uses("SELECT id FROM events WHERE pg_catalog.date(created_at) >= $1") == [
        ("date(events.created_at)", "range", ">=")
    ]
    # a cast of an expression, a cast to another type, a cast of the date: none is an index key here
    assert uses("SELECT id FROM events WHERE created_at::date::text = $1 OR lower(email)::text = $2") == []
    assert uses("SELECT id FROM events WHERE created_at::time = $1 OR seq::bigint = $2") == []


def test_an_index_on_the_date_of_a_column_is_read_back_from_its_definition() -> None:
    assert key_function("((created_at)::date)") == ("date", "created_at")
    assert key_function("date(created_at)") == ("date", "created_at")
    assert key_function("((created_at)::time without time zone)") is None


@pytest.mark.hypopg
def test_prisma_s_cast_like_gets_the_index_the_planner_uses_for_it(db: TestDatabase) -> None:
    db.execute(SCHEMA)
    query = 'SELECT "events"."id" FROM "public"."events" WHERE "events"."email"::text LIKE $1 LIMIT 20'
    [recommendation] = advise(db, [query]).recommendations
    assert recommendation.candidate.label().startswith("public.events(email")
    db.execute(recommendation.candidate.ddl(concurrently=False).as_string(None))
    literal = query.replace("$1", "'user1234%'")
    assert recommendation.candidate.name() in plan_of(db, literal)


@pytest.mark.hypopg
def test_a_cast_to_text_of_a_column_of_another_type_gets_no_index_on_the_column(db: TestDatabase) -> None:
    db.execute(SCHEMA)
    # the planner cannot use events(seq) or events(code) for these (the casts are functions on them)
    assert (
        labels(
            db, ["SELECT id FROM events WHERE seq::text = $1", "SELECT id FROM events WHERE code::text = $1"]
        )
        == []
    )
    # … but it can for varchar: its cast to text only relabels the value
    assert labels(db, ["SELECT id FROM events WHERE nick::text = $1"]) == ["public.events(nick)"]


@pytest.mark.hypopg
def test_a_filter_on_the_date_of_a_timestamp_gets_the_expression_index_the_planner_uses(
    db: TestDatabase,
) -> None:
    db.execute(SCHEMA)
    query = "SELECT id FROM events WHERE created_at::date = $1"
    [recommendation] = advise(db, [query]).recommendations
    assert recommendation.candidate.label() == "public.events(date(created_at))"
    assert recommendation.candidate.name() == "events_date_created_at_idx"
    assert 'USING btree (date("created_at"))' in recommendation.sql
    db.execute(recommendation.candidate.ddl(concurrently=False).as_string(None))
    assert "events_date_created_at_idx" in plan_of(db, query.replace("$1", "'2026-02-01'"))
    # known once it exists, whichever way it was written: nothing more to propose
    assert labels(db, [query, "SELECT id FROM events WHERE date(created_at) BETWEEN $1 AND $2"]) == []
    db.execute(
        "DROP INDEX events_date_created_at_idx; CREATE INDEX events_day ON events ((created_at::date))"
    )
    assert labels(db, [query]) == []


@pytest.mark.hypopg
def test_the_date_of_a_timestamptz_is_no_index_key(db: TestDatabase) -> None:
    db.execute(SCHEMA)
    # PostgreSQL refuses the index (the cast is not immutable); the query is still read, and costed
    advice = advise(db, ["SELECT id FROM events WHERE seen_at::date = $1"])
    assert advice.recommendations == []
    assert advice.queries == 1 and advice.skipped == []
    # … and the advice says why, and how to write the filter so that an index serves it
    [note] = [n for n in advice.notes if "public.events.seen_at" in n]
    assert "no index can serve that on a timestamptz" in note
    assert "seen_at >= $1 AND seen_at < $1 + interval '1 day'" in note
    # (the day of a timestamp without time zone is indexable: no such note)
    assert not any(
        "created_at" in n for n in advise(db, ["SELECT id FROM events WHERE created_at::date = $1"]).notes
    )


@pytest.mark.catalog
def test_a_parameter_compared_with_the_date_of_a_column_is_sampled_as_a_date(db: TestDatabase) -> None:
    db.execute(SCHEMA)
    text = "SELECT count(*) FROM events WHERE created_at::date = $1"
    with db.target.connect() as conn:
        bound = sampled(conn, "events", text)
        [day] = bound.values
        assert len(day) == 10 and day.startswith("2026-")  # YYYY-MM-DD, not a timestamp
        [row] = run_bound(conn, bound)
        assert row[0] >= 1  # the sampled day has rows, as the application's would
