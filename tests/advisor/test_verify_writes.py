"""`--verify` on a scratch copy measures the workload's UPDATE, DELETE and SELECT … FOR UPDATE too, each run
in a transaction rolled back (the copy is pgdba's own); on the target only SELECTs run, read-only."""

from __future__ import annotations

import pytest

from pgdba.advisor.advise import Advice, AdvisorOptions, advise_indexes
from pgdba.advisor.verify import verify_advice
from pgdba.advisor.workload import WorkloadQuery
from pgdba.server import ServerFacts, load_server_facts
from tests.checkup.helpers import script
from tests.conftest import TestDatabase

PROGRESS = """
CREATE TABLE progress (id bigint PRIMARY KEY, user_id int NOT NULL, lesson_id int NOT NULL,
                       done boolean NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO progress
SELECT g, g % 5000, g % 97, g % 3 = 0, timestamptz '2026-11-01' + g * interval '1 second'
  FROM generate_series(1, 200000) g;
VACUUM ANALYZE progress;
"""
UPDATE = "UPDATE progress SET done = $1, updated_at = now() WHERE user_id = $2 AND lesson_id = $3"
DELETE = "DELETE FROM progress WHERE user_id = $1 AND lesson_id = $2 AND NOT done"
LOCK = "SELECT id FROM progress WHERE user_id = $1 AND lesson_id = $2 FOR UPDATE SKIP LOCKED"


def advised(db: TestDatabase, queries: tuple[str, ...]) -> tuple[ServerFacts, Advice]:
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
        return facts, advise_indexes(conn, facts, [WorkloadQuery(q) for q in queries], AdvisorOptions())


WRITE_ROWS = """
SELECT count(*), count(*) FILTER (WHERE done), max(updated_at), sum(hashtext(id::text || done::text))
  FROM progress
"""


@pytest.mark.catalog
@pytest.mark.hypopg
def test_writes_and_row_locks_are_measured_on_the_scratch_copy_and_rolled_back(db: TestDatabase) -> None:
    script(db, PROGRESS)
    facts, advice = advised(db, (UPDATE, DELETE, LOCK))
    assert ("user_id", "lesson_id") in [r.candidate.columns[:2] for r in advice.recommendations]
    with db.connect() as conn:
        rows_before = conn.execute(WRITE_ROWS).fetchone()
    verification = verify_advice(db.target, facts, advice, on_target=False)
    assert verification["where"] == "scratch copy"
    measured = {q["query"]: q for q in verification["queries"]}
    assert set(measured) == {UPDATE, DELETE, LOCK} and verification["notes"] == [], verification
    # a full scan of 200 000 rows before, an index probe after, for each
    assert all(q["verdict"] == "faster" for q in measured.values()), verification
    # the SET value is sampled from the column it is assigned to; the target's rows are untouched
    assert measured[UPDATE]["values"][0] == "f"  # two rows in three are not done
    with db.connect() as conn:
        assert conn.execute(WRITE_ROWS).fetchone() == rows_before
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'pgdba_verify_%'").fetchone()
    assert left == (0,)


@pytest.mark.catalog
@pytest.mark.hypopg
def test_on_the_target_only_selects_run(db: TestDatabase) -> None:
    script(db, PROGRESS)
    facts, advice = advised(db, (UPDATE, LOCK))
    assert advice.recommendations
    with db.connect() as conn:
        rows_before = conn.execute(WRITE_ROWS).fetchone()
    verification = verify_advice(db.target, facts, advice, on_target=True)
    assert verification["queries"] == []
    assert verification["notes"][0].startswith(
        "not measured (only SELECTs are executed on the target): UPDATE"
    )
    # the read-only session refuses the row lock: it is not taken on the target
    assert verification["notes"][1].startswith(
        "not measured (cannot execute SELECT FOR UPDATE in a read-only transaction): SELECT id"
    )
    with db.connect() as conn:
        assert conn.execute(WRITE_ROWS).fetchone() == rows_before


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_row_of_set_values_is_sampled_column_by_column(db: TestDatabase) -> None:
    """`SET (done, updated_at) = ($1, now())`: PostgreSQL hands the row over one column at a time, and each
    `$n` takes a value of the column at its position."""
    script(db, PROGRESS)
    row_update = "UPDATE progress SET (done, updated_at) = ($1, now()) WHERE user_id = $2 AND lesson_id = $3"
    facts, advice = advised(db, (row_update,))
    verification = verify_advice(db.target, facts, advice, on_target=False)
    [measured] = verification["queries"]
    assert (measured["query"], measured["verdict"], measured["values"][0]) == (row_update, "faster", "f")
