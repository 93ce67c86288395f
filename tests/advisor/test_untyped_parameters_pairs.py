"""Normalised queries with several `$n` PostgreSQL can only type together (`ts >= $1 - $2`): the advisor
declares them together, within MAX_TYPE_ATTEMPTS PREPAREs per query."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import pytest

from pgdba.advisor.whatif import MAX_TYPE_ATTEMPTS, WhatIfSession
from pgdba.server import load_server_facts
from tests.advisor.helpers import advise
from tests.conftest import TestDatabase

EVENTS = """
CREATE TABLE events (id bigint PRIMARY KEY, kind text NOT NULL, created_at timestamptz NOT NULL,
                     seen_at timestamp NOT NULL, payload text NOT NULL);
INSERT INTO events
SELECT g, (ARRAY['signup', 'login', 'purchase'])[1 + g % 3],
       now() - g * interval '1 minute', LOCALTIMESTAMP - g * interval '1 minute', repeat('x', 80)
  FROM generate_series(1, 50000) g;
ANALYZE events;
"""
# one-at-a-time declaration fails for each: `$1 - $2` needs a timestamp and an interval, and each half of the
# BETWEEN is timestamptz >= interval until its own `$n` is an interval
SEEN_SINCE = "SELECT kind, count(*) FROM events WHERE seen_at >= $1 - $2 GROUP BY kind"
CREATED_BETWEEN = "SELECT id, kind FROM events WHERE created_at BETWEEN now() - $1 AND now() - $2"
# a parameter PostgreSQL types from its column, then a pair it cannot
KIND_SEEN_SINCE = "SELECT id FROM events WHERE kind = $1 AND seen_at >= $2 - $3"
# no declared types make `$1 - $2` comparable with a text column
NEVER_TYPED = "SELECT id FROM events WHERE kind > $1 - $2"
NEVER_TYPED_WIDE = "SELECT id FROM events WHERE kind > $1 - $2 - $3 - $4 - $5 - $6 - $7 - $8 - $9 - $10"


@contextlib.contextmanager
def planned_once(db: TestDatabase, query: str, param_count: int) -> Iterator[WhatIfSession]:
    """A what-if session that has planned (or failed to plan) `query` once."""
    with db.target.connect() as conn:
        session = WhatIfSession(conn, load_server_facts(conn).version_num)
        with contextlib.suppress(psycopg.Error):
            session.explain(query, param_count)
        yield session
        session.close()


@pytest.mark.catalog
@pytest.mark.hypopg
def test_two_parameters_typed_only_together_are_declared_together(db: TestDatabase) -> None:
    db.execute(EVENTS)
    advice = advise(db, [SEEN_SINCE])
    assert advice.skipped == []
    assert advice.queries == 1 and advice.cost_before > 0
    assert any(note.startswith("planned with $1 as timestamp, $2 as interval") for note in advice.notes)


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_between_of_two_untyped_intervals_is_costed_and_gets_its_index(db: TestDatabase) -> None:
    db.execute(EVENTS)
    advice = advise(db, [CREATED_BETWEEN])
    assert advice.skipped == []
    assert any(note.startswith("planned with $1 as interval, $2 as interval") for note in advice.notes)
    assert [(r.candidate.table, r.candidate.columns) for r in advice.recommendations] == [
        ("events", ("created_at",))
    ]


@pytest.mark.catalog
@pytest.mark.hypopg
def test_only_the_parameters_under_the_failing_operator_are_declared(db: TestDatabase) -> None:
    db.execute(EVENTS)
    with planned_once(db, KIND_SEEN_SINCE, 3) as session:
        assert session.types.found == {KIND_SEEN_SINCE: ("unknown", "timestamp", "interval")}
        assert session.types.attempts <= MAX_TYPE_ATTEMPTS


@pytest.mark.catalog
@pytest.mark.hypopg
def test_declarations_found_for_one_operator_are_kept_for_the_next(db: TestDatabase) -> None:
    db.execute(EVENTS)
    query = "SELECT id FROM events WHERE seen_at >= LOCALTIMESTAMP - $1 AND seen_at < LOCALTIMESTAMP - $2"
    with planned_once(db, query, 2) as session:
        assert session.types.found == {query: ("interval", "interval")}
        # one PREPARE to see where PostgreSQL fails, then $1 as interval moves the error on, $2 as interval prepares
        assert session.types.attempts == 3


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_pair_is_found_once_per_query(db: TestDatabase) -> None:
    db.execute(EVENTS)
    with planned_once(db, SEEN_SINCE, 2) as session:
        tried = session.types.attempts
        assert 0 < tried <= MAX_TYPE_ATTEMPTS
        assert session.explain(SEEN_SINCE, 2)["Plan"]["Total Cost"] > 0
        assert session.types.attempts == tried


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_query_no_declared_types_make_valid_stays_skipped_with_its_reason(db: TestDatabase) -> None:
    db.execute(EVENTS)
    advice = advise(db, [SEEN_SINCE, NEVER_TYPED])
    assert advice.skipped == [(NEVER_TYPED, "cannot EXPLAIN: operator is not unique: unknown - unknown")]
    assert advice.queries == 1


@pytest.mark.catalog
@pytest.mark.hypopg
def test_the_search_for_many_untyped_parameters_stops_at_max_type_attempts(db: TestDatabase) -> None:
    db.execute(EVENTS)
    with planned_once(db, NEVER_TYPED_WIDE, 10) as session:
        assert session.types.attempts <= MAX_TYPE_ATTEMPTS
        assert NEVER_TYPED_WIDE in session.types.untypable and NEVER_TYPED_WIDE not in session.types.found
        tried = session.types.attempts
        with pytest.raises(psycopg.errors.AmbiguousFunction):
            session.explain(NEVER_TYPED_WIDE, 10)
        assert session.types.attempts == tried  # an untypable query is not searched again
