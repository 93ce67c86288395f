"""Correctness review of the index advisor: advice a DBA would run on production must be right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgdba.advisor.advise import Advice
from pgdba.advisor.apply import create_indexes
from pgdba.advisor.verify import verify_advice
from pgdba.advisor.whatif import MAX_WHATIF_PARTITIONS
from pgdba.cli import main
from pgdba.server import ServerFacts, load_server_facts
from tests.advisor.helpers import advise
from tests.conftest import TestDatabase

FEED = """
CREATE TABLE feed (id int PRIMARY KEY, score int NOT NULL, posted_at timestamptz, author int NOT NULL);
INSERT INTO feed
SELECT g, g % 1000,
       CASE WHEN g % 10 = 0 THEN NULL ELSE timestamptz '2024-01-01' + g * interval '1 minute' END,
       g % 700
  FROM generate_series(1, 40000) g;
ANALYZE feed;
"""

EVENTS = """
CREATE TABLE ev (id bigint, account_id int NOT NULL, created_at timestamptz NOT NULL, payload text)
    PARTITION BY RANGE (created_at);
CREATE SCHEMA "Archive";
CREATE TABLE "Archive"."Ev_2024" PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE ev_2025 PARTITION OF ev FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO ev
SELECT g, g % 1000, timestamptz '2024-01-01' + g * interval '10 minutes', md5(g::text)
  FROM generate_series(1, 80000) g;
CREATE INDEX ev_payload ON ev (payload);
CREATE TABLE other (id int, x int);
INSERT INTO other SELECT g, g FROM generate_series(1, 10000) g;
ANALYZE;
"""


def dropped(advice: Advice) -> set[str]:
    return {d.index.name for d in advice.drops}


@pytest.mark.catalog
@pytest.mark.hypopg
def test_descending_nulls_last_index_is_not_redundant_to_an_ascending_one(db: TestDatabase) -> None:
    db.execute(FEED)
    db.execute("CREATE INDEX feed_posted_desc ON feed (posted_at DESC NULLS LAST)")
    db.execute("CREATE INDEX feed_posted_score ON feed (posted_at, score)")
    newest = "SELECT * FROM feed ORDER BY posted_at DESC NULLS LAST LIMIT 20"
    advice = advise(db, [newest, "SELECT * FROM feed WHERE posted_at = $1 AND score = $2"])
    # only the DESC NULLS LAST index returns the newest rows first without sorting the table
    assert "feed_posted_desc" in advice.workload_indexes
    assert "feed_posted_desc" not in dropped(advice)


@pytest.mark.catalog
@pytest.mark.hypopg
def test_mixed_direction_index_is_not_redundant_to_a_same_direction_one(db: TestDatabase) -> None:
    db.execute(FEED)
    db.execute("CREATE INDEX feed_score_posted_desc ON feed (score, posted_at DESC)")
    db.execute("CREATE INDEX feed_score_posted_id ON feed (score, posted_at, id)")
    advice = advise(
        db,
        [
            "SELECT * FROM feed ORDER BY score, posted_at DESC LIMIT 20",
            "SELECT id FROM feed WHERE score = $1 AND posted_at = $2",
        ],
    )
    assert "feed_score_posted_desc" in advice.workload_indexes
    assert "feed_score_posted_desc" not in dropped(advice)


@pytest.mark.catalog
@pytest.mark.hypopg
def test_reversed_index_is_still_redundant(db: TestDatabase) -> None:
    db.execute(FEED)
    db.execute("CREATE INDEX feed_author_desc ON feed (author DESC)")  # DESC NULLS FIRST: (author) backward
    db.execute("CREATE INDEX feed_author_score ON feed (author, score)")
    advice = advise(db, ["SELECT * FROM feed WHERE author = $1 AND score = $2"])
    reasons = {d.index.name: d.reason for d in advice.drops}
    assert reasons.get("feed_author_desc") == "redundant"


@pytest.mark.catalog
@pytest.mark.hypopg
def test_partition_indexes_of_a_partitioned_index_are_not_dropped_alone(db: TestDatabase) -> None:
    db.execute(EVENTS)
    advice = advise(db, ["SELECT * FROM other WHERE x = $1"])
    assert not {"Ev_2024_payload_idx", "ev_2025_payload_idx"} & dropped(advice)
    with db.connect() as conn:  # every DROP the advice emits runs
        for drop in advice.drops:
            conn.execute(drop.ddl())


@pytest.mark.catalog
@pytest.mark.hypopg
def test_query_on_a_partitioned_table_gets_an_index_on_the_parent_that_builds(db: TestDatabase) -> None:
    db.execute(EVENTS)
    db.execute('ALTER TABLE ev RENAME COLUMN account_id TO "accountId"')
    db.execute("ANALYZE ev")
    query = 'SELECT * FROM ev WHERE "accountId" = $1 ORDER BY created_at DESC LIMIT 5'
    advice = advise(db, [query])
    assert advice.skipped == []
    [recommendation] = advice.recommendations
    assert (recommendation.candidate.table, recommendation.candidate.columns) == (
        "ev",
        ("accountId", "created_at"),
    )
    assert recommendation.queries[0].cost_after < recommendation.queries[0].cost_before / 10
    # PostgreSQL refuses CREATE INDEX CONCURRENTLY on a partitioned table
    assert "CONCURRENTLY" not in recommendation.sql
    assert any("partitioned" in note for note in advice.notes)
    verification = verify_advice(db.target, load_facts(db), advice, on_target=False)
    assert verification["after_ms"] < verification["before_ms"]
    with db.target.connect(apply=True) as conn:
        created, failed = create_indexes(conn, advice)
    assert failed == [] and [c["index"] for c in created] == [recommendation.candidate.name()]
    with db.connect() as conn:
        rows = conn.execute(
            """SELECT c.relname
                 FROM pg_index i
                 JOIN pg_class c ON c.oid = i.indexrelid
                WHERE i.indrelid IN ('ev'::regclass, '"Archive"."Ev_2024"'::regclass, 'ev_2025'::regclass)
                  AND c.relname LIKE '%accountId%'"""
        ).fetchall()
    assert len(rows) == 3  # the parent's and one per partition
    assert advise(db, [query]).recommendations == []  # now served


def load_facts(db: TestDatabase) -> ServerFacts:
    with db.target.connect() as conn:
        return load_server_facts(conn)


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_table_with_too_many_partitions_is_noted_and_the_rest_still_advised(db: TestDatabase) -> None:
    partitions = MAX_WHATIF_PARTITIONS + 1
    db.execute(
        "CREATE TABLE big (id int, c int NOT NULL) PARTITION BY RANGE (id);"
        + "".join(
            f"CREATE TABLE big_{i} PARTITION OF big FOR VALUES FROM ({i * 100}) TO ({(i + 1) * 100});"
            for i in range(partitions)
        )
        + f"INSERT INTO big SELECT g, g % 97 FROM generate_series(0, {partitions * 100 - 1}) g;"
        + "CREATE TABLE plain (id int, v int);"
        + "INSERT INTO plain SELECT g, g FROM generate_series(1, 50000) g;"
        + "ANALYZE"
    )
    advice = advise(db, ["SELECT * FROM plain WHERE v = 42", "SELECT * FROM big WHERE c = 42"])
    assert [r.candidate.label() for r in advice.recommendations] == ["public.plain(v)"]
    assert any(
        "public.big: partitioned table not costed" in note and f"more than {MAX_WHATIF_PARTITIONS}" in note
        for note in advice.notes
    )


@pytest.mark.catalog
@pytest.mark.hypopg
def test_max_partitions_sets_how_many_partitions_a_costed_table_may_have(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(
        "CREATE TABLE log (id int, c int NOT NULL) PARTITION BY RANGE (id);"
        + "".join(
            f"CREATE TABLE log_{i} PARTITION OF log FOR VALUES FROM ({i * 10000}) TO ({(i + 1) * 10000});"
            for i in range(5)
        )
        + "INSERT INTO log SELECT g, g % 997 FROM generate_series(0, 49999) g;"
        + "ANALYZE log"
    )
    query = "SELECT * FROM log WHERE c = 42"
    advice = advise(db, [query], max_partitions=4)
    assert advice.recommendations == []
    assert any("more than 4 partitions; --max-partitions costs more" in note for note in advice.notes)
    workload = tmp_path / "q.sql"
    workload.write_text(query + ";\n")
    assert (
        main(
            [
                "advise",
                "indexes",
                "--dsn",
                db.dsn,
                "--queries",
                str(workload),
                "--max-partitions",
                "5",
                "-f",
                "json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["settings"]["max_partitions"] == 5
    assert [(r["table"], r["columns"]) for r in report["indexes"]] == [("log", ["c"])]
