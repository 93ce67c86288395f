"""last_analyze and last_autoanalyze are activity counters: `SELECT pg_stat_reset()` (or a crash) clears
them, while the statistics the last ANALYZE stored stay in pg_statistic. A table with statistics is never
called "never analysed"; after a reset it is judged by the changes counted since."""

from __future__ import annotations

import pytest

from pgdba.checks.statement_recommendations import stale_statistics
from pgdba.history.payload_shapes import SNAPSHOT_SHAPES
from pgdba.maintenance import maintenance_plan
from pgdba.stats.tables import TableStats, table_stats
from tests.checkup.helpers import find, run, script
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import eventually, publish_stats

ANALYSED = """
CREATE TABLE course (id int PRIMARY KEY, title text) WITH (autovacuum_enabled = off);
INSERT INTO course SELECT g, 'course ' || g FROM generate_series(1, 2000) AS g;
CREATE TABLE event (id int, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE event_2024 PARTITION OF event FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')
  WITH (autovacuum_enabled = off);
CREATE TABLE event_2025 PARTITION OF event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')
  WITH (autovacuum_enabled = off);
INSERT INTO event SELECT g, date '2024-01-01' + g % 700 FROM generate_series(1, 100000) AS g;
ANALYZE course;
ANALYZE event
"""
CREATED_AFTER_RESET = """
CREATE TABLE fresh (id int) WITH (autovacuum_enabled = off);
INSERT INTO fresh SELECT generate_series(1, 2000)
"""


def analyse_then_reset(db: TestDatabase, after_reset: str = "") -> None:
    """The tables analysed, their counters published, then `pg_stat_reset()`, then `after_reset`."""
    with db.connect() as conn:
        for statement in ANALYSED.split(";"):
            conn.execute(statement)  # type: ignore[call-overload]
        publish_stats(conn)  # the INSERTs' counts reach the shared statistics before the reset, not after
    db.execute("SELECT pg_stat_reset()")
    script(db, CREATED_AFTER_RESET + ";" + after_reset)


def _tables(db: TestDatabase) -> dict[str, TableStats]:
    with db.target.connect() as conn:
        return {t.table: t for t in table_stats(conn)}


@pytest.mark.catalog
def test_tables_analysed_before_a_statistics_reset_are_not_called_never_analysed(db: TestDatabase) -> None:
    analyse_then_reset(db)
    tables = eventually(lambda: _tables(db), lambda t: t["fresh"].modified_since_analyze == 2000)
    assert all(tables[name].last_analyzed is None for name in ("course", "event", "fresh"))
    assert (tables["course"].has_stats, tables["event"].has_stats, tables["fresh"].has_stats) == (
        True,
        True,  # the partitioned table's own statistics, over its partitions (stainherit)
        False,
    )
    found = find(run(db, "table.analyze_overdue"), "table.analyze_overdue")
    assert [(f.object, f.title) for f in found] == [("public.fresh", "Never analysed")]
    assert [item.table for item in maintenance_plan(db.target).items] == ["fresh"]
    # `queries analyze`'s advice on a statement reading each table
    assert stale_statistics(tables["course"]) is None and stale_statistics(tables["event"]) is None
    assert stale_statistics(tables["fresh"]) == "never analysed"


@pytest.mark.catalog
def test_changes_since_the_reset_still_make_statistics_stale(db: TestDatabase) -> None:
    analyse_then_reset(db, "UPDATE course SET title = title || '!' WHERE id <= 1000")
    eventually(lambda: _tables(db), lambda t: t["course"].modified_since_analyze == 1000)
    found = {f.object: f.title for f in find(run(db, "table.analyze_overdue"), "table.analyze_overdue")}
    assert found["public.course"] == (
        "Stale statistics: 1,000 rows changed since the statistics counters were reset (the last ANALYZE "
        "was before)"
    )


def test_table_rows_of_snapshots_without_the_statistics_flag_still_read() -> None:
    shape = SNAPSHOT_SHAPES["tables"]
    row = {"schema": "public", "table": "course", "last_analyze": None}
    assert shape.matches([row])  # written before has_stats was read
    assert shape.matches([{**row, "has_stats": None}]) and shape.matches([{**row, "has_stats": True}])
    assert not shape.matches([{**row, "has_stats": "yes"}])
