"""Unused indexes judged on statistics that were never reset (pg_stat_database.stats_reset NULL, every new
database on 15+) say that the statistics' age is unknown, in the check-up and in the advisor."""

from __future__ import annotations

import pytest

from pgdba.advisor.advise import AdvisorOptions, advise_indexes
from pgdba.advisor.workload import WorkloadQuery
from pgdba.server import load_server_facts
from tests.checkup.helpers import find, run
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import NEEDS_UNSTAMPED_STATS

UNKNOWN_AGE = "statistics have never been reset; their age is unknown"


def _unused_index(db: TestDatabase) -> None:
    db.execute("CREATE TABLE lesson (id int PRIMARY KEY, position int NOT NULL)")
    db.execute("CREATE INDEX lesson_position_idx ON lesson (position)")


@pytest.mark.catalog
@NEEDS_UNSTAMPED_STATS
def test_checkup_judging_unused_indexes_notes_that_the_statistics_age_is_unknown(db: TestDatabase) -> None:
    _unused_index(db)
    result = run(db, "index.unused", index__unused={"min_size_bytes": 0})
    assert "public.lesson_position_idx" in {f.object for f in find(result, "index.unused")}
    assert f"index.unused: {UNKNOWN_AGE}" in result.report.notes


@pytest.mark.catalog
@NEEDS_UNSTAMPED_STATS
def test_checkup_without_unused_indexes_adds_no_age_note(db: TestDatabase) -> None:
    db.execute("CREATE TABLE lesson (id int PRIMARY KEY)")
    result = run(db, "index.unused", index__unused={"min_size_bytes": 0})
    assert find(result, "index.unused") == [] and result.report.notes == []


@pytest.mark.catalog
@pytest.mark.hypopg
@NEEDS_UNSTAMPED_STATS
def test_advisor_judging_drops_notes_that_the_statistics_age_is_unknown(db: TestDatabase) -> None:
    _unused_index(db)
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
        workload = [WorkloadQuery("SELECT * FROM lesson WHERE id = $1")]
        advice = advise_indexes(conn, facts, workload, AdvisorOptions())
    assert "lesson_position_idx" in {d.index.name for d in advice.drops}
    assert UNKNOWN_AGE in " ".join(advice.notes)
