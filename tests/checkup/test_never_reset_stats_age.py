"""Unused indexes judged on statistics never reset (pg_stat_database.stats_reset NULL, every database on 15+
until its first reset) say how old they are: as old as the server's statistics, in the check-up and in the
advisor. (The test cluster's began when the suite started, so the tests accept counters of any age.)"""

from __future__ import annotations

import pytest

from pgdba.advisor.advise import AdvisorOptions, advise_indexes
from pgdba.advisor.workload import WorkloadQuery
from pgdba.server import load_server_facts
from tests.checkup.helpers import find, run
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import NEEDS_UNSTAMPED_STATS

NEVER_RESET = "statistics never reset in this database: collected for "
SINCE_THE_SERVER = "since the server's statistics began"
ANY_AGE = {"min_size_bytes": 0, "min_stats_age_days": 0}


def _unused_index(db: TestDatabase) -> None:
    db.execute("CREATE TABLE lesson (id int PRIMARY KEY, position int NOT NULL)")
    db.execute("CREATE INDEX lesson_position_idx ON lesson (position)")


@pytest.mark.catalog
@NEEDS_UNSTAMPED_STATS
def test_checkup_judging_unused_indexes_notes_the_age_of_the_servers_statistics(db: TestDatabase) -> None:
    _unused_index(db)
    result = run(db, "index.unused", index__unused=ANY_AGE)
    assert "public.lesson_position_idx" in {f.object for f in find(result, "index.unused")}
    [note] = [n for n in result.report.notes if n.startswith("index.unused:")]
    assert note.startswith(f"index.unused: {NEVER_RESET}") and SINCE_THE_SERVER in note


@pytest.mark.catalog
@NEEDS_UNSTAMPED_STATS
def test_checkup_without_unused_indexes_adds_no_age_note(db: TestDatabase) -> None:
    db.execute("CREATE TABLE lesson (id int PRIMARY KEY)")
    result = run(db, "index.unused", index__unused=ANY_AGE)
    assert find(result, "index.unused") == [] and result.report.notes == []


@pytest.mark.catalog
@pytest.mark.hypopg
@NEEDS_UNSTAMPED_STATS
def test_advisor_judging_drops_notes_the_age_of_the_servers_statistics(db: TestDatabase) -> None:
    _unused_index(db)
    with db.target.connect() as conn:
        facts = load_server_facts(conn)
        workload = [WorkloadQuery("SELECT * FROM lesson WHERE id = $1")]
        advice = advise_indexes(conn, facts, workload, AdvisorOptions(min_stats_age_days=0))
        young = advise_indexes(conn, facts, workload, AdvisorOptions())
    assert "lesson_position_idx" in {d.index.name for d in advice.drops}
    assert f"unused indexes judged, but {NEVER_RESET}" in " ".join(advice.notes)
    # by default the week the suite's statistics have not counted yet
    assert "lesson_position_idx" not in {d.index.name for d in young.drops}
    assert any(n.startswith(f"unused indexes are not judged: {NEVER_RESET}") for n in young.notes)
