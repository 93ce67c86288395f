"""Normalised queries whose `$n` PostgreSQL cannot type on its own, and how a skipped query is shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdba.advisor.whatif import WhatIfSession
from pgdba.cli import main
from pgdba.server import load_server_facts
from tests.advisor.helpers import advise
from tests.conftest import TestDatabase

BEHAVIOR_LOG = """
CREATE TABLE "BehaviorLog" (id bigint PRIMARY KEY, "action" varchar(64) NOT NULL,
                            "timestamp" timestamp(3) NOT NULL);
INSERT INTO "BehaviorLog"
SELECT g, (ARRAY['page_view', 'lesson_view', 'click'])[1 + g % 3],
       LOCALTIMESTAMP - g * interval '1 minute'
  FROM generate_series(1, 20000) g;
ANALYZE "BehaviorLog";
"""
# the demo's ACTIVITY_BY_ACTION as pg_stat_statements keeps it: the application sends $1 as an interval
ACTIVITY_BY_ACTION = """SELECT "action", count(*)
FROM "BehaviorLog"
WHERE "timestamp" >= LOCALTIMESTAMP - $1
GROUP BY "action"
ORDER BY count(*) DESC"""
# two untyped parameters in one expression: no declared types make it comparable with a varchar
UNTYPABLE = (
    'SELECT "action", count(*) FROM "BehaviorLog" WHERE "action" > $1 - $2 AND "action" <> \'x\' '
    'GROUP BY "action"'
)


@pytest.mark.catalog
@pytest.mark.hypopg
def test_interval_parameter_subtracted_from_localtimestamp_is_costed(db: TestDatabase) -> None:
    db.execute(BEHAVIOR_LOG)
    advice = advise(db, [ACTIVITY_BY_ACTION])
    assert advice.skipped == []
    assert advice.queries == 1 and advice.cost_before > 0
    assert any("$1 as interval" in note for note in advice.notes)


@pytest.mark.catalog
@pytest.mark.hypopg
def test_declared_parameter_types_are_found_once_per_query(db: TestDatabase) -> None:
    db.execute(BEHAVIOR_LOG)
    with db.target.connect() as conn:
        session = WhatIfSession(conn, load_server_facts(conn).version_num)
        plan = session.explain(ACTIVITY_BY_ACTION, 1)
        assert plan["Plan"]["Total Cost"] > 0
        assert session.types.found == {ACTIVITY_BY_ACTION: ("interval",)}
        tried = session.types.attempts
        session.explain(ACTIVITY_BY_ACTION, 1)
        assert session.types.attempts == tried == 1
        session.close()


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_query_typed_neither_way_stays_skipped_with_the_original_error(db: TestDatabase) -> None:
    db.execute(BEHAVIOR_LOG)
    advice = advise(db, [ACTIVITY_BY_ACTION, UNTYPABLE])
    assert [q for q, _ in advice.skipped] == [UNTYPABLE]
    assert advice.skipped[0][1].startswith("cannot EXPLAIN: operator is not unique: unknown - unknown")


@pytest.mark.catalog
@pytest.mark.hypopg
@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_a_skipped_query_is_shown_whole(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    db.execute(BEHAVIOR_LOG)
    workload = tmp_path / "workload.sql"
    workload.write_text(f"{ACTIVITY_BY_ACTION};\n{UNTYPABLE};\n")
    code = main(["advise", "indexes", "--dsn", db.dsn, "--queries", str(workload), "--format", fmt])
    out = capsys.readouterr().out
    assert code == 0
    skipped = [line for line in out.splitlines() if "skipped" in line]
    assert len(skipped) == 1
    assert UNTYPABLE in skipped[0]
