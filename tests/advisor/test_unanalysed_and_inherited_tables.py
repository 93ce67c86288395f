"""A table never analysed (just loaded or restored, before autovacuum reaches it) has no statistics:
pg_class.reltuples is -1. The advisor took that as 0 rows, so every index on it was estimated at 16 kB, and
said nothing about the plans resting on the planner's guesses (advised again after ANALYZE, the choice
changed: `(user_id, expires_at)` became `(user_id)`)."""

from __future__ import annotations

import pytest

from tests.advisor.helpers import advise, table_info
from tests.conftest import TestDatabase

LOADED_SQL = """
CREATE TABLE loaded (id bigint, account int, amount numeric, at timestamptz)
  WITH (autovacuum_enabled = off);  -- stays never analysed while the test runs
INSERT INTO loaded
SELECT g, g % 5000, g % 97, now() - g * interval '1 minute' FROM generate_series(1, 100000) g;
CREATE TABLE created_empty (id bigint, account int) WITH (autovacuum_enabled = off);
"""


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_never_analysed_tables_size_is_the_planners_estimate_and_a_note_names_it(db: TestDatabase) -> None:
    db.execute(LOADED_SQL)
    queries = [
        "SELECT sum(amount) FROM loaded WHERE account = $1",
        "SELECT id FROM created_empty WHERE account = $1",
    ]
    advice = advise(db, queries)

    [chosen] = [r for r in advice.recommendations if r.candidate.table == "loaded"]
    assert chosen.candidate.columns[0] == "account"
    [note] = [n for n in advice.notes if n.startswith("never analysed")]
    assert "public.loaded" in note and "created_empty" not in note  # no pages: nothing to guess about
    with db.connect() as conn:
        conn.execute("CREATE INDEX built ON loaded (account)")
        row = conn.execute("SELECT pg_relation_size('built')").fetchone()
        assert row is not None
        built = int(row[0])
    assert built / 3 < chosen.size_bytes < built * 3  # was 16 kB: an empty table's index

    db.execute("DROP INDEX built; ANALYZE loaded")
    again = advise(db, queries)
    assert not [n for n in again.notes if n.startswith("never analysed")]


@pytest.mark.catalog
def test_a_never_analysed_table_holds_the_rows_the_planner_expects(db: TestDatabase) -> None:
    db.execute(LOADED_SQL)
    with db.target.connect() as conn:
        info = table_info(conn, "loaded")
        assert info.never_analysed and 50_000 < info.rows < 200_000  # was 0 (reltuples -1)
        assert not table_info(conn, "created_empty").never_analysed
    db.execute("ANALYZE loaded")
    with db.target.connect() as conn:
        info = table_info(conn, "loaded")
        assert not info.never_analysed and info.rows == 100_000


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_table_with_inheritance_children_is_named_in_a_note(db: TestDatabase) -> None:
    """Legacy partitioning by table inheritance: the query names the parent, which holds no rows; its
    children hold them all. Before, the advice was silent (no index, no note) while the check-up pointed
    each child's sequential scans at `pgdba advise indexes`."""
    db.execute(
        """
        CREATE TABLE readings (device int NOT NULL, at timestamptz NOT NULL, v float8);
        CREATE TABLE readings_2025 () INHERITS (readings);
        CREATE TABLE readings_2026 () INHERITS (readings);
        INSERT INTO readings_2026 SELECT g % 1000, now() - g * interval '1 minute', g FROM generate_series(1, 50000) g;
        ANALYZE readings, readings_2025, readings_2026;
        """
    )
    advice = advise(db, ["SELECT avg(v) FROM readings WHERE device = $1 AND at >= $2"])

    [note] = [n for n in advice.notes if n.startswith("table inheritance")]
    assert "public.readings (public.readings_2025, public.readings_2026)" in note
    assert not [r for r in advice.recommendations if r.candidate.table == "readings"]
    with db.target.connect() as conn:
        assert table_info(conn, "readings_2026").inheritance_children == ()
