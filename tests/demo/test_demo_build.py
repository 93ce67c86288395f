"""The demo database: built from schema.sql and the generator, with exactly the planted problems."""

from __future__ import annotations

import psycopg
import pytest

from pgdba.demo import queries
from pgdba.demo.build import build_demo_database, create_demo_database
from pgdba.demo.files import schema_sections
from pgdba.demo.planted import PLANTED_DUPLICATE_INDEXES, PLANTED_MISSING_INDEXES, PLANTED_UNUSED_INDEXES
from pgdba.demo.size import demo_size
from pgdba.embedded import EmbeddedCluster
from pgdba.errors import InputError
from pgdba.target import resolve_target
from tests.conftest import TestDatabase
from tests.demo.support import TINY_SCALE, BuiltDemo

ALL_TABLES = {
    "User",
    "Profile",
    "Category",
    "Course",
    "Module",
    "Lesson",
    "Enrollment",
    "LessonProgress",
    "Quiz",
    "Question",
    "QuizAttempt",
    "BehaviorLog",
    "Achievement",
    "UserAchievement",
    "Notification",
    "Transaction",
    "Certificate",
}

# every index of the public schema: table, name, key columns in order, unique, partial predicate
_INDEX_COLUMNS = """
SELECT t.relname,
       ic.relname,
       array_agg(a.attname ORDER BY k.ord),
       i.indisunique,
       pg_get_expr(i.indpred, i.indrelid)
FROM pg_index AS i
JOIN pg_class AS t
  ON t.oid = i.indrelid
JOIN pg_class AS ic
  ON ic.oid = i.indexrelid
JOIN pg_namespace AS n
  ON n.oid = t.relnamespace
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute AS a
  ON a.attrelid = t.oid
 AND a.attnum = k.attnum
WHERE n.nspname = 'public'
GROUP BY t.relname, ic.relname, i.indisunique, i.indpred, i.indrelid
"""

# foreign keys with their columns in order
_FOREIGN_KEYS = """
SELECT t.relname,
       c.conname,
       array_agg(a.attname ORDER BY k.ord)
FROM pg_constraint AS c
JOIN pg_class AS t
  ON t.oid = c.conrelid
CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute AS a
  ON a.attrelid = t.oid
 AND a.attnum = k.attnum
WHERE c.contype = 'f'
  AND c.connamespace = 'public'::regnamespace
GROUP BY t.relname, c.conname
"""


def _indexes(demo: BuiltDemo) -> list[tuple[str, str, list[str], bool, str | None]]:
    with demo.connect() as conn:
        return [tuple(row) for row in conn.execute(_INDEX_COLUMNS)]  # type: ignore[misc]


def _table_counts(demo: BuiltDemo) -> dict[str, int]:
    counts = {}
    with demo.connect() as conn:
        for table in ALL_TABLES:
            row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            assert row is not None
            counts[table] = row[0]
    return counts


def test_build_creates_every_table_and_reports_true_row_counts(tiny_demo: BuiltDemo) -> None:
    counts = _table_counts(tiny_demo)
    assert set(tiny_demo.result.row_counts) == ALL_TABLES
    assert counts == tiny_demo.result.row_counts
    assert all(n > 0 for n in counts.values()), counts
    size = demo_size(TINY_SCALE)
    assert counts["User"] == size.users
    assert counts["BehaviorLog"] == size.behavior_logs
    assert counts["Notification"] == size.notifications
    assert counts["Lesson"] == size.courses * size.lessons_per_course
    assert counts["Question"] == size.courses * size.modules_per_course * size.questions_per_quiz


def test_statistics_count_the_rows_the_tables_hold(tiny_demo: BuiltDemo) -> None:
    # The loads' row counts must reach the statistics before VACUUM sets them; flushed afterwards, they are
    # added on top, n_live_tup doubles until autovacuum corrects it, and the check-up's row thresholds (and
    # the dashboard's findings) change under a reader.
    with tiny_demo.connect() as conn:
        if conn.info.server_version < 150000:
            pytest.skip("pg_stat_force_next_flush() exists from PostgreSQL 15")
        live = dict(
            conn.execute(
                "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE schemaname = 'public'"
            ).fetchall()
        )
    assert live == tiny_demo.result.row_counts


def test_build_times_every_step_and_creates_the_extensions(tiny_demo: BuiltDemo) -> None:
    steps = tiny_demo.result.step_seconds
    assert {"tables", "indexes", "foreign keys", "analyze", "data BehaviorLog"} <= set(steps)
    assert all(seconds >= 0 for seconds in steps.values())
    assert tiny_demo.result.total_seconds >= sum(steps.values()) * 0.99
    assert "pg_stat_statements" in tiny_demo.result.extensions
    with tiny_demo.connect() as conn:
        installed = {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}
    assert set(tiny_demo.result.extensions) <= installed


def test_schema_sql_statements_all_land_in_the_catalog(tiny_demo: BuiltDemo) -> None:
    sections = schema_sections()
    with tiny_demo.connect() as conn:
        enums = conn.execute("SELECT count(*) FROM pg_type WHERE typtype = 'e'").fetchone()
        fks = conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f'").fetchone()
    assert len(sections.tables) == len(ALL_TABLES)
    assert enums == (len(sections.enums),)
    assert fks == (len(sections.foreign_keys),)
    non_pkey = [ix for ix in _indexes(tiny_demo) if not ix[1].endswith("_pkey")]
    assert len(non_pkey) == len(sections.indexes)


def test_planted_missing_indexes_are_absent(tiny_demo: BuiltDemo) -> None:
    indexes = _indexes(tiny_demo)
    assert len(PLANTED_MISSING_INDEXES) >= 4
    for planted in PLANTED_MISSING_INDEXES:
        leading = list(planted.columns)
        serving = [ix for ix in indexes if ix[0] == planted.table and ix[2][: len(leading)] == leading]
        assert serving == [], f"{planted.table}{planted.columns} is supposed to be missing"
        assert all(f'"{planted.table}"' in query for query in planted.queries)


def test_planted_unused_and_duplicate_indexes_are_present(tiny_demo: BuiltDemo) -> None:
    by_name = {ix[1]: ix for ix in _indexes(tiny_demo)}
    for unused in PLANTED_UNUSED_INDEXES:
        table, _, columns, unique, predicate = by_name[unused.name]
        assert (table, columns, unique, predicate) == (unused.table, list(unused.columns), False, None)
    for duplicate in PLANTED_DUPLICATE_INDEXES:
        table, _, columns, unique, _ = by_name[duplicate.name]
        assert (table, columns, unique) == (duplicate.table, list(duplicate.columns), False)
        covering = by_name[duplicate.covered_by]
        assert covering[0] == duplicate.table
        assert covering[2][: len(columns)] == columns


def test_every_foreign_key_has_an_index_except_the_planted_ones(tiny_demo: BuiltDemo) -> None:
    indexes = _indexes(tiny_demo)
    planted = {(m.table, m.columns[0]) for m in PLANTED_MISSING_INDEXES}
    with tiny_demo.connect() as conn:
        foreign_keys = conn.execute(_FOREIGN_KEYS).fetchall()
    unindexed = {
        (table, columns[0])
        for table, _, columns in foreign_keys
        if not any(ix[0] == table and ix[2][: len(columns)] == columns for ix in indexes)
    }
    assert unindexed == {p for p in planted if any(fk[0] == p[0] and fk[2] == [p[1]] for fk in foreign_keys)}
    assert ("Enrollment", "courseId") in unindexed


def test_row_counts_follow_the_scale(pg_cluster: EmbeddedCluster, tiny_demo: BuiltDemo) -> None:
    assert demo_size(1.0).behavior_logs >= 1_000_000
    doubled = create_demo_database(resolve_target(pg_cluster.dsn()), "demo_scale_double")
    try:
        result = build_demo_database(doubled, scale=TINY_SCALE * 2)
        small, big = tiny_demo.result.row_counts, result.row_counts
        for table in ("User", "BehaviorLog", "Notification"):
            assert big[table] == 2 * small[table], table
        derived = ("Enrollment", "LessonProgress", "QuizAttempt", "Transaction", "UserAchievement")
        assert all(big[table] > small[table] for table in derived), (small, big)
        # random draws make each table noisy at this size; together they follow the scale
        ratio = sum(big[t] for t in derived) / sum(small[t] for t in derived)
        assert 1.5 < ratio < 3.0, (small, big)
        assert big["Category"] == small["Category"]
    finally:
        with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "demo_scale_double" WITH (FORCE)')


def test_activity_is_skewed_towards_a_few_users(tiny_demo: BuiltDemo) -> None:
    with tiny_demo.connect() as conn:
        row = conn.execute(
            """
            SELECT max(n), percentile_cont(0.5) WITHIN GROUP (ORDER BY n)
            FROM (SELECT count(*) AS n FROM "BehaviorLog" GROUP BY "userId") AS per_user
            """
        ).fetchone()
        span = conn.execute('SELECT max("timestamp") - min("timestamp") FROM "BehaviorLog"').fetchone()
    assert row is not None and span is not None
    busiest, median = row
    assert busiest > 10 * median
    assert 80 <= span[0].days <= 90


def test_the_same_scale_builds_the_same_data(tiny_demo: BuiltDemo, db: TestDatabase) -> None:
    fingerprint = """
    SELECT md5(string_agg("userId"::text || ':' || "courseId" || ':' || "status" || ':' || "progress", ','
                          ORDER BY "id"))
    FROM "Enrollment"
    """
    build_demo_database(db.target, scale=TINY_SCALE)
    with db.connect() as conn:
        again = conn.execute(fingerprint).fetchone()
    with tiny_demo.connect() as conn:
        first = conn.execute(fingerprint).fetchone()
    assert again == first


def test_build_refuses_a_database_that_already_has_tables(db: TestDatabase) -> None:
    db.execute("CREATE TABLE keep_me (id int)")
    with pytest.raises(InputError, match="already has 1 tables"):
        build_demo_database(db.target, scale=TINY_SCALE)
    with db.connect() as conn:
        assert conn.execute("SELECT to_regclass('keep_me') IS NOT NULL").fetchone() == (True,)


def test_create_demo_database_starts_from_an_empty_database(pg_cluster: EmbeddedCluster) -> None:
    admin = resolve_target(pg_cluster.dsn())
    target = create_demo_database(admin, "demo_recreate")
    try:
        with psycopg.connect(pg_cluster.dsn("demo_recreate"), autocommit=True) as conn:
            conn.execute("CREATE TABLE leftover (id int)")
        again = create_demo_database(admin, "demo_recreate")
        assert again.database == target.database == "demo_recreate"
        with psycopg.connect(pg_cluster.dsn("demo_recreate")) as conn:
            assert conn.execute("SELECT to_regclass('leftover')").fetchone() == (None,)
    finally:
        with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "demo_recreate" WITH (FORCE)')


def test_create_demo_database_will_not_drop_the_database_it_connects_to(pg_cluster: EmbeddedCluster) -> None:
    with pytest.raises(InputError, match="refusing to drop"):
        create_demo_database(resolve_target(pg_cluster.dsn()), "postgres")


@pytest.mark.parametrize("scale", [0, -1.0, 1000.0])
def test_scale_out_of_range_is_an_input_error(scale: float) -> None:
    with pytest.raises(InputError, match="scale must be between"):
        demo_size(scale)


def test_creating_the_planted_indexes_gives_the_slow_query_its_index(db: TestDatabase) -> None:
    build_demo_database(db.target, scale=TINY_SCALE)
    with db.connect() as conn:
        for missing in PLANTED_MISSING_INDEXES:
            conn.execute(missing.create_statement())
        conn.execute("ANALYZE")
        definitions = dict(
            conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'").fetchall()
        )
        user = conn.execute('SELECT "userId" FROM "BehaviorLog" LIMIT 1').fetchone()
        assert user is not None
        plan = conn.execute("EXPLAIN " + queries.RECENT_ACTIVITY, (user[0], 20)).fetchall()
    for missing in PLANTED_MISSING_INDEXES:
        assert missing.index_name in definitions
    assert 'WHERE ("isRead" = false)' in definitions["Notification_userId_idx"]
    assert "BehaviorLog_userId_timestamp_idx" in "\n".join(row[0] for row in plan)
