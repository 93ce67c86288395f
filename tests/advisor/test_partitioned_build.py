"""An advised index on a partitioned table is built without blocking writes: ON ONLY the table, CONCURRENTLY
on each partition, attached to the table's index (pgdba.advisor.partitioned_build)."""

from __future__ import annotations

import dataclasses
from typing import Any

import psycopg
import pytest

from pgdba.advisor.advise import Advice
from pgdba.advisor.apply import create_indexes
from tests.advisor.helpers import advise
from tests.conftest import TestDatabase

# a partition that is itself partitioned, and a partition in another schema
LOG = """
CREATE TABLE log (id bigint, course_id int NOT NULL, at timestamptz NOT NULL) PARTITION BY RANGE (at);
CREATE SCHEMA "Old";
CREATE TABLE "Old"."Log 2023" PARTITION OF log FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE log_2024 PARTITION OF log FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')
    PARTITION BY RANGE (at);
CREATE TABLE log_2024_h1 PARTITION OF log_2024 FOR VALUES FROM ('2024-01-01') TO ('2024-07-01');
CREATE TABLE log_2024_h2 PARTITION OF log_2024 FOR VALUES FROM ('2024-07-01') TO ('2025-01-01');
INSERT INTO log SELECT g, g % 700, timestamptz '2023-01-01' + g * interval '5 minutes'
  FROM generate_series(1, 200000) g;
ANALYZE log;
"""
QUERY = "SELECT count(*) FROM log WHERE course_id = $1"
LEAVES = ('"Old"."Log 2023"', "log_2024_h1", "log_2024_h2")

INDEX_TREE_SQL = """
SELECT t.relid::regclass::text, t.isleaf, i.indisvalid, c.relname
  FROM pg_partition_tree(%s::regclass) t
  JOIN pg_index i ON i.indexrelid = t.relid
  JOIN pg_class c ON c.oid = i.indrelid
 ORDER BY t.level, c.relname
"""


def advised(db: TestDatabase) -> Advice:
    advice = advise(db, [QUERY])
    assert [(r.candidate.table, r.candidate.columns) for r in advice.recommendations] == [
        ("log", ("course_id",))
    ]
    return advice


def applied(db: TestDatabase, advice: Advice) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    """create_indexes on the target (as --apply), which builds the one index; and its index tree."""
    with db.target.connect(apply=True) as conn:
        created, failed = create_indexes(conn, advice)
    assert failed == [] and [c["index"] for c in created] == ["log_course_id_idx"]
    with db.connect() as conn:
        return created, conn.execute(INDEX_TREE_SQL, ("log_course_id_idx",)).fetchall()


@pytest.mark.catalog
@pytest.mark.hypopg
def test_an_index_on_a_partitioned_table_is_built_concurrently_on_every_leaf_and_attached(
    db: TestDatabase,
) -> None:
    db.execute(LOG)
    advice = advised(db)
    (recommendation,) = advice.recommendations
    steps = recommendation.build_steps
    assert (
        steps[0]
        == 'CREATE INDEX IF NOT EXISTS "log_course_id_idx" ON ONLY "public"."log" USING btree ("course_id")'
    )
    builds = [s for s in steps if s.startswith("CREATE INDEX")]
    # every leaf (where the rows are) concurrently; the sub-partitioned log_2024 ON ONLY, as the table
    assert sorted(s.split(" ON ")[1].split(" USING")[0] for s in builds if "CONCURRENTLY" in s) == [
        '"Old"."Log 2023"',
        '"public"."log_2024_h1"',
        '"public"."log_2024_h2"',
    ]
    assert sum("ON ONLY" in s for s in builds) == 2 and len(builds) == 5
    assert sum(s.startswith("ALTER INDEX") for s in steps) == 4
    assert recommendation.to_dict()["build_steps"] == steps
    assert any("without blocking writes" in note for note in advice.notes)
    created, tree = applied(db, advice)
    with db.connect() as conn:
        row = conn.execute(
            "SELECT sum(pg_relation_size(relid)) FROM pg_partition_tree('log_course_id_idx') WHERE isleaf"
        ).fetchone()
    assert row is not None and created[0]["size_bytes"] == row[0] > 0  # its leaves' (it has no storage)
    # the table's index, log_2024's, and one per leaf: all attached and valid
    assert sorted((table, leaf, valid) for _index, leaf, valid, table in tree) == [
        ("Log 2023", True, True),
        ("log", False, True),
        ("log_2024", False, True),
        ("log_2024_h1", True, True),
        ("log_2024_h2", True, True),
    ]
    assert advise(db, [QUERY]).recommendations == []  # now served


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_failed_partition_step_drops_what_the_build_made_and_keeps_what_was_there(db: TestDatabase) -> None:
    db.execute(LOG)
    advice = advised(db)
    # an index of the name the build gives log_2024_h2's, on another column: CREATE … IF NOT EXISTS skips
    # it, and attaching it to the table's index fails
    db.execute('CREATE INDEX "log_2024_h2_course_id_idx" ON log_2024_h2 (at)')
    with db.target.connect(apply=True) as conn:
        created, failed = create_indexes(conn, advice)
    assert created == []
    assert len(failed) == 1 and failed[0].startswith("log_course_id_idx: ")
    assert "dropped what it had built" in failed[0]
    with db.connect() as conn:
        left = conn.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = ANY(%s::regclass[]) ORDER BY 1",
            (["log", "log_2024", *LEAVES],),
        ).fetchall()
    assert left == [("log_2024_h2_course_id_idx",)]


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_tree_with_a_foreign_partition_keeps_the_one_statement(db: TestDatabase) -> None:
    db.execute(LOG)
    try:
        db.execute("CREATE EXTENSION postgres_fdw")
    except (psycopg.errors.FeatureNotSupported, psycopg.errors.UndefinedFile):
        pytest.skip("postgres_fdw is not installed")
    db.execute(
        "CREATE SERVER elsewhere FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'none');"
        "CREATE FOREIGN TABLE log_2022 PARTITION OF log FOR VALUES FROM ('2022-01-01') TO ('2023-01-01') "
        "SERVER elsewhere"
    )
    advice = advised(db)
    (recommendation,) = advice.recommendations
    assert recommendation.build_steps == []
    assert recommendation.statements() == [recommendation.sql]
    assert any("a partition is a foreign table" in note for note in advice.notes)
    # the one statement builds it on every partition but the foreign one (HypoPG's what-if indexes too)
    _created, tree = applied(db, advice)
    assert len(tree) == 5 and all(valid for _index, _leaf, valid, _table in tree)


INDEX_PARENT_SQL = """
SELECT c.relname, p.relname
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  LEFT JOIN pg_inherits h ON h.inhrelid = i.indexrelid
  LEFT JOIN pg_class p ON p.oid = h.inhparent
 WHERE i.indrelid = ANY(%s::regclass[])
 ORDER BY 1
"""


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_partitions_own_index_of_the_same_definition_is_attached_not_built_twice(db: TestDatabase) -> None:
    db.execute(LOG)
    db.execute(
        "CREATE INDEX year_course ON log_2024 (course_id);"
        'CREATE INDEX old_course_desc ON "Old"."Log 2023" (course_id DESC);'
        'CREATE INDEX old_course_plain ON "Old"."Log 2023" (course_id);'
        "CREATE INDEX half_course_covering ON log_2024_h1 (course_id) INCLUDE (at);"
        "CREATE INDEX half_course_partial ON log_2024_h1 (course_id) WHERE at > '2024-03-01';"
        "CREATE TABLE log_2025 PARTITION OF log FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
        "INSERT INTO log SELECT g, g % 700, timestamptz '2025-01-01' + g * interval '1 minute'"
        "  FROM generate_series(1, 100000) g;"
        "ANALYZE log"
    )
    advice = advised(db)
    (recommendation,) = advice.recommendations
    assert recommendation.build_steps == [
        'CREATE INDEX IF NOT EXISTS "log_course_id_idx" ON ONLY "public"."log" USING btree ("course_id")',
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "log_2025_course_id_idx" ON "public"."log_2025" USING btree '
        '("course_id")',
        'ALTER INDEX "public"."log_course_id_idx" ATTACH PARTITION "public"."log_2025_course_id_idx"',
        # last: once a partition's own index is attached, dropping the table's would drop it too
        'ALTER INDEX "public"."log_course_id_idx" ATTACH PARTITION "Old"."old_course_plain"',
        'ALTER INDEX "public"."log_course_id_idx" ATTACH PARTITION "public"."year_course"',
    ]
    assert any("gets it attached, last, not a second one built" in note for note in advice.notes)
    with db.target.connect(apply=True) as conn:
        created, failed = create_indexes(conn, advice)
    assert failed == [] and [c["index"] for c in created] == ["log_course_id_idx"]
    with db.connect() as conn:
        parents = conn.execute(INDEX_PARENT_SQL, (["log", "log_2024", "log_2025", *LEAVES],)).fetchall()
        valid = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'log_course_id_idx'::regclass"
        )
        assert valid.fetchone() == (True,)
    assert parents == [
        ("half_course_covering", None),  # not the same definition: left alone
        ("half_course_partial", None),
        ("log_2024_h1_course_id_idx", "year_course"),  # year_course's own, made with it
        ("log_2024_h2_course_id_idx", "year_course"),
        ("log_2025_course_id_idx", "log_course_id_idx"),
        ("log_course_id_idx", None),
        ("old_course_desc", None),
        ("old_course_plain", "log_course_id_idx"),
        ("year_course", "log_course_id_idx"),
    ]


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_build_that_fails_after_attaching_a_partitions_own_index_drops_nothing_and_a_rerun_finishes(
    db: TestDatabase,
) -> None:
    db.execute(LOG)
    db.execute(
        "CREATE INDEX year_course ON log_2024 (course_id);"
        'CREATE INDEX old_course ON "Old"."Log 2023" (course_id);'
        "CREATE TABLE log_2025 PARTITION OF log FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
        "INSERT INTO log SELECT g, g % 700, timestamptz '2025-01-01' + g * interval '1 minute'"
        "  FROM generate_series(1, 100000) g;"
        "ANALYZE log"
    )
    advice = advised(db)
    impatient = dataclasses.replace(db.target, lock_timeout_ms=300)
    with db.connect(autocommit=False) as holder:  # a session holds year_course: its ATTACH waits
        holder.execute("COMMENT ON INDEX year_course IS 'in use'")  # its lock lets reads go on
        with impatient.connect(apply=True) as conn:
            created, failed = create_indexes(conn, advice)
        holder.rollback()
    assert created == [] and len(failed) == 1
    # old_course is attached by then: dropping the table's index would drop it too
    assert "lock timeout" in failed[0] and "left not valid yet" in failed[0] and "Old.old_course" in failed[0]
    with db.connect() as conn:
        parents = dict(conn.execute(INDEX_PARENT_SQL, (["log", "log_2024", "log_2025", *LEAVES],)).fetchall())
    assert parents["old_course"] == parents["log_2025_course_id_idx"] == "log_course_id_idx"
    assert parents["year_course"] is None
    with db.target.connect(apply=True) as conn:  # the same advice applied again finishes the build
        created, failed = create_indexes(conn, advice)
    assert failed == [] and [c["index"] for c in created] == ["log_course_id_idx"]
    with db.connect() as conn:
        parents = dict(conn.execute(INDEX_PARENT_SQL, (["log", "log_2024", "log_2025", *LEAVES],)).fetchall())
        valid = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'log_course_id_idx'::regclass"
        )
        assert valid.fetchone() == (True,)
    assert parents["year_course"] == parents["old_course"] == "log_course_id_idx"
    assert sorted(parents) == [  # nothing built twice
        "log_2024_h1_course_id_idx",
        "log_2024_h2_course_id_idx",
        "log_2025_course_id_idx",
        "log_course_id_idx",
        "old_course",
        "year_course",
    ]


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_partitions_index_an_interrupted_build_left_invalid_is_rebuilt_in_place(db: TestDatabase) -> None:
    db.execute(LOG)
    db.execute('CREATE INDEX old_course ON "Old"."Log 2023" (course_id)')
    advice = advised(db)
    # what an earlier --apply left when a long transaction writing log_2024_h1 made its CONCURRENTLY build
    # of that partition's index time out: the table's index, and the partition's, invalid
    db.execute('CREATE INDEX "log_course_id_idx" ON ONLY log (course_id)')
    with db.connect(autocommit=False) as writer, db.connect() as builder:
        writer.execute("INSERT INTO log_2024_h1 VALUES (0, 1, '2024-02-01')")
        builder.execute("SET lock_timeout = '300ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            builder.execute(
                'CREATE INDEX CONCURRENTLY "log_2024_h1_course_id_idx" ON log_2024_h1 (course_id)'
            )
        writer.rollback()
        state = builder.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'log_2024_h1_course_id_idx'::regclass"
        )
        assert state.fetchone() == (False,)
    with db.target.connect(apply=True) as conn:
        created, failed = create_indexes(conn, advice)
    assert failed == [] and [c["index"] for c in created] == ["log_course_id_idx"]
    with db.connect() as conn:
        parents = dict(conn.execute(INDEX_PARENT_SQL, (["log", "log_2024", *LEAVES],)).fetchall())
        invalid = conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()
    assert invalid == (0,)
    assert parents == {
        "log_2024_course_id_idx": "log_course_id_idx",
        "log_2024_h1_course_id_idx": "log_2024_course_id_idx",
        "log_2024_h2_course_id_idx": "log_2024_course_id_idx",
        "log_course_id_idx": None,
        "old_course": "log_course_id_idx",
    }


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_search_index_on_a_partitioned_table_is_built_lock_free_and_reuses_a_partitions_own(
    db: TestDatabase,
) -> None:
    db.execute(
        "CREATE EXTENSION IF NOT EXISTS pg_trgm;"
        "CREATE TABLE post (id bigint, at date NOT NULL, title text) PARTITION BY RANGE (at);"
        "CREATE TABLE post_2024 PARTITION OF post FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
        " PARTITION BY RANGE (at);"
        "CREATE TABLE post_2024_h1 PARTITION OF post_2024 FOR VALUES FROM ('2024-01-01') TO ('2024-07-01');"
        "CREATE TABLE post_2024_h2 PARTITION OF post_2024 FOR VALUES FROM ('2024-07-01') TO ('2025-01-01');"
        "CREATE TABLE post_2025 PARTITION OF post FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
        "INSERT INTO post SELECT g, date '2024-01-01' + g % 700, 'post ' || g || ' ' || md5(g::text)"
        "  FROM generate_series(1, 60000) g;"
        # 2025's own trigram index (another name), and a look-alike on the first half (another opclass)
        "CREATE INDEX own_title_trgm ON post_2025 USING gin (title gin_trgm_ops);"
        "CREATE INDEX half_title_bigm ON post_2024_h1 USING gist (title gist_trgm_ops);"
        "ANALYZE post"
    )
    advice = advise(db, ["SELECT id FROM post WHERE title ILIKE '%ab12%'"])
    (search,) = advice.search_indexes
    assert search.build_steps == [
        'CREATE INDEX IF NOT EXISTS "post_title_trgm_idx" ON ONLY "public"."post" USING gin ("title" '
        "gin_trgm_ops)",
        'CREATE INDEX IF NOT EXISTS "post_2024_title_trgm_idx" ON ONLY "public"."post_2024" USING gin ("title" '
        "gin_trgm_ops)",
        'ALTER INDEX "public"."post_title_trgm_idx" ATTACH PARTITION "public"."post_2024_title_trgm_idx"',
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "post_2024_h1_title_trgm_idx" ON "public"."post_2024_h1" '
        'USING gin ("title" gin_trgm_ops)',
        'ALTER INDEX "public"."post_2024_title_trgm_idx" ATTACH PARTITION "public"."post_2024_h1_title_trgm_idx"',
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "post_2024_h2_title_trgm_idx" ON "public"."post_2024_h2" '
        'USING gin ("title" gin_trgm_ops)',
        'ALTER INDEX "public"."post_2024_title_trgm_idx" ATTACH PARTITION "public"."post_2024_h2_title_trgm_idx"',
        'ALTER INDEX "public"."post_title_trgm_idx" ATTACH PARTITION "public"."own_title_trgm"',
    ]
    assert search.statements() == search.build_steps  # pg_trgm is installed
    assert search.to_dict()["build_steps"] == search.build_steps
    assert any(
        "trigram index ON ONLY the partitioned table" in finding.recommendation
        for finding in advice.findings()
    )
    with db.target.connect(apply=True) as conn:
        created, failed = create_indexes(conn, advice)
    assert failed == [] and [c["index"] for c in created] == ["post_title_trgm_idx"]
    with db.connect() as conn:
        parents = conn.execute(INDEX_PARENT_SQL, (["post_2024_h1", "post_2025"],)).fetchall()
        valid = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'post_title_trgm_idx'::regclass"
        )
        assert valid.fetchone() == (True,)
    assert parents == [
        ("half_title_bigm", None),  # GiST: not the index the search gets
        ("own_title_trgm", "post_title_trgm_idx"),
        ("post_2024_h1_title_trgm_idx", "post_2024_title_trgm_idx"),
    ]
