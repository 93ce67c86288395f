"""Table and index checks, each provoked on the real cluster and each quiet on a healthy table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from pgdba.checkup import run_checkup
from pgdba.cli import main
from pgdba.findings import Severity
from pgdba.history.snapshot import INDEXES
from pgdba.history.store import open_store
from pgdba.maintenance import apply_maintenance, maintenance_plan
from pgdba.stats.foreign_keys import foreign_keys
from pgdba.stats.indexes import index_stats
from pgdba.stats.tables import table_stats
from pgdba.target import resolve_target
from tests.checkup.helpers import codes, find, run, script
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import eventually

HEALTHY = """
CREATE TABLE course (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title text NOT NULL);
CREATE TABLE lesson (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    course_id bigint NOT NULL REFERENCES course (id),
    position int NOT NULL
);
CREATE INDEX lesson_course_id_idx ON lesson (course_id, position);
INSERT INTO course (title) SELECT 'c' || g FROM generate_series(1, 100) g;
INSERT INTO lesson (course_id, position) SELECT 1 + g % 100, g FROM generate_series(1, 20000) g;
VACUUM ANALYZE course;
VACUUM ANALYZE lesson;
"""

# The test cluster's statistics began when the suite started: unused indexes are judged on them only when
# the check is told to accept counters of any age (`min_stats_age_days` 0; by default a week)
JUDGE_YOUNG_STATISTICS = {"min_size_bytes": 0, "min_stats_age_days": 0}
JUDGED_AT_ANY_AGE = ("--min-stats-age-days", "0")

TABLE_AND_INDEX_CHECKS = (
    "index.duplicate",
    "index.invalid",
    "index.missing_fk",
    "index.bloat",
    "index.unused",
    "table.bloat",
    "table.dead_tuples",
    "table.vacuum_overdue",
    "table.analyze_overdue",
    "table.seq_scan_heavy",
    "table.no_primary_key",
)


# stays >= 15, not for the statistics delay: 14 stamps a new database's pg_stat_database.stats_reset with
# its creation time (15+ leaves it NULL until a reset), so index.unused always skips a test database as
# "too young to judge" there (see test_unused_indexes_are_not_judged_on_young_statistics)
@pytest.mark.catalog
@pytest.mark.pg(">= 15")
def test_table_and_index_checks_are_quiet_on_a_healthy_schema(db: TestDatabase) -> None:
    script(db, HEALTHY)
    result = run(
        db,
        *TABLE_AND_INDEX_CHECKS,
        index__missing_fk={"min_rows": 0},
        index__unused={"min_stats_age_days": 0},
        index__bloat={"min_bytes": 0, "warning_ratio": 0.5},
        table__bloat={"min_bytes": 0},
    )
    assert {c.name for c in result.ran} == set(TABLE_AND_INDEX_CHECKS)
    assert result.report.findings == []


@pytest.mark.catalog
def test_duplicate_and_prefix_covered_indexes_are_found_never_the_unique_one(db: TestDatabase) -> None:
    script(db, HEALTHY)
    db.execute("CREATE INDEX lesson_course_again ON lesson (course_id, position)")
    db.execute("CREATE INDEX lesson_course_only ON lesson (course_id)")
    db.execute("CREATE INDEX lesson_course_partial ON lesson (course_id) WHERE position > 10")
    db.execute("CREATE UNIQUE INDEX lesson_id_unique ON lesson (id)")
    result = run(db, "index.duplicate")
    by_index = {f.object: f for f in result.report.findings}
    duplicates = [f.object for f in find(result, "index.duplicate")]
    assert len(duplicates) == 1  # one of the identical pair goes, the other stays
    assert duplicates[0] in {"public.lesson_course_again", "public.lesson_course_id_idx"}
    assert by_index["public.lesson_course_only"].code == "index.redundant"
    assert (
        by_index["public.lesson_course_only"].sql == 'DROP INDEX CONCURRENTLY "public"."lesson_course_only";'
    )
    # a different predicate is a different index; a unique index enforces something; pkey is protected
    assert set(by_index) == {duplicates[0], "public.lesson_course_only"}


@pytest.mark.catalog
def test_invalid_index_left_by_failed_concurrent_build_is_found(db: TestDatabase) -> None:
    db.execute("CREATE TABLE dup (v int)")
    db.execute("INSERT INTO dup VALUES (1), (1)")
    with pytest.raises(psycopg.errors.UniqueViolation):  # the failed build leaves the index invalid
        db.execute("CREATE UNIQUE INDEX CONCURRENTLY dup_v_key ON dup (v)")
    result = run(
        db, "index.invalid", "index.duplicate", "index.unused", index__unused={"min_stats_age_days": 0}
    )
    assert [f.object for f in find(result, "index.invalid")] == ["public.dup_v_key"]
    assert find(result, "index.unused") == []  # the invalid index is the invalid check's, not unused's


@pytest.mark.catalog
def test_foreign_key_without_index_is_found_only_on_a_large_enough_table(db: TestDatabase) -> None:
    script(db, HEALTHY)
    db.execute("DROP INDEX lesson_course_id_idx")
    assert codes(run(db, "index.missing_fk")) == ["index.missing_fk"]  # 20,000 rows ≥ 10,000
    found = find(run(db, "index.missing_fk"), "index.missing_fk")[0]
    assert found.object == "public.lesson" and found.metrics["columns"] == ["course_id"]
    assert found.sql == 'CREATE INDEX CONCURRENTLY "lesson_course_id_idx" ON "public"."lesson" ("course_id");'
    assert run(db, "index.missing_fk", index__missing_fk={"min_rows": 50_000}).report.findings == []


@pytest.mark.catalog
def test_mass_update_bloats_table_and_index_and_the_estimate_sees_it(db: TestDatabase) -> None:
    script(
        db,
        "CREATE TABLE event (id int PRIMARY KEY, hits int, pad text) WITH (autovacuum_enabled = false);"
        "INSERT INTO event SELECT g, 0, repeat('x', 50) FROM generate_series(1, 20000) g;",
    )
    for _ in range(3):
        db.execute("UPDATE event SET hits = hits + 1")
    db.execute("VACUUM ANALYZE event")
    result = run(
        db,
        "table.bloat",
        "index.bloat",
        table__bloat={"min_bytes": 0},
        index__bloat={"min_bytes": 0, "warning_ratio": 0.5},
    )
    table = find(result, "table.bloat")[0]
    assert table.object == "public.event" and table.metrics["bloat_ratio"] >= 0.7
    assert [f.object for f in find(result, "index.bloat")] == ["public.event_pkey"]
    # the defaults (100 MB tables, 10 MB indexes) keep small tables out of the report
    assert run(db, "table.bloat", "index.bloat").report.findings == []


@pytest.mark.catalog
def test_bloat_from_a_dropped_column_says_vacuum_will_not_reclaim_it(db: TestDatabase) -> None:
    script(
        db,
        "CREATE TABLE profile (id int PRIMARY KEY, bio text, avatar text);"
        "INSERT INTO profile SELECT g, 'b', repeat('x', 300) FROM generate_series(1, 20000) g;"
        "ALTER TABLE profile DROP COLUMN avatar;"  # its 300 bytes stay in every row until a rewrite
        "VACUUM ANALYZE profile",
    )
    [bloat] = find(run(db, "table.bloat", table__bloat={"min_bytes": 0}), "table.bloat")
    assert bloat.object == "public.profile" and bloat.metrics["dropped_columns"] == 1
    assert "1 dropped column(s)" in bloat.recommendation and "VACUUM never reclaims" in bloat.recommendation
    db.execute("VACUUM FULL profile")  # the rewrite: the dropped column's bytes are gone
    db.execute("ANALYZE profile")
    assert find(run(db, "table.bloat", table__bloat={"min_bytes": 0}), "table.bloat") == []


@pytest.mark.catalog
def test_dead_rows_make_vacuum_overdue_and_maintenance_apply_vacuums_exactly_that_table(
    db: TestDatabase,
) -> None:
    script(db, HEALTHY)
    script(
        db,
        "CREATE TABLE attempt (id int PRIMARY KEY, score int) WITH (autovacuum_enabled = false);"
        "INSERT INTO attempt SELECT g, g FROM generate_series(1, 30000) g;"
        "ANALYZE attempt;"
        "DELETE FROM attempt WHERE id % 2 = 0;",
    )
    result = eventually(  # the 15,000 deleted rows must be visible as dead rows
        lambda: run(db, "table.dead_tuples", "table.vacuum_overdue"),
        lambda r: any(
            f.object == "public.attempt" and f.metrics["dead_rows"] >= 15000
            for f in find(r, "table.vacuum_overdue")
        ),
    )
    assert [f.object for f in find(result, "table.dead_tuples")] == ["public.attempt"]
    overdue = find(result, "table.vacuum_overdue")[0]
    assert overdue.object == "public.attempt" and overdue.metrics["dead_rows"] == 15000
    assert "autovacuum is disabled" in overdue.recommendation

    plan = maintenance_plan(db.target)
    assert [f"{i.schema}.{i.table}" for i in plan.items] == ["public.attempt"]
    announced: list[str] = []
    apply_maintenance(db.target, plan, announce=announced.append)
    assert announced == ['VACUUM (ANALYZE) "public"."attempt";']
    assert plan.items[0].status == "done"
    after = eventually(  # the VACUUM must be visible: attempt has no dead rows left
        lambda: run(db, "table.dead_tuples", "table.vacuum_overdue"),
        lambda r: all(f.object != "public.attempt" for f in r.report.findings),
    )
    assert after.report.findings == []
    assert maintenance_plan(db.target).items == []


@pytest.mark.catalog
def test_never_analysed_table_is_found(db: TestDatabase) -> None:
    script(
        db,
        "CREATE TABLE quiz (id int PRIMARY KEY) WITH (autovacuum_enabled = false);"
        "INSERT INTO quiz SELECT generate_series(1, 5000);",
    )
    found = find(
        eventually(  # the 5,000 inserted rows must be visible: an empty table is not reported
            lambda: run(db, "table.analyze_overdue"),
            lambda r: any(f.object == "public.quiz" for f in find(r, "table.analyze_overdue")),
        ),
        "table.analyze_overdue",
    )
    assert [(f.object, f.title) for f in found] == [("public.quiz", "Never analysed")]
    db.execute("ANALYZE quiz")
    after = eventually(  # the ANALYZE must be visible
        lambda: run(db, "table.analyze_overdue"),
        lambda r: all(f.object != "public.quiz" for f in r.report.findings),
    )
    assert after.report.findings == []


def test_sequential_scans_of_a_large_table_are_found(db: TestDatabase) -> None:
    script(db, HEALTHY)
    with db.connect() as conn:  # closing the session flushes its scan counters
        for _ in range(60):
            # position + 0: no index serves it (18's skip scan would use (course_id, position) for position = 7)
            conn.execute("SELECT count(*) FROM lesson WHERE position + 0 = 7")
    found = find(run(db, "table.seq_scan_heavy"), "table.seq_scan_heavy")
    assert [f.object for f in found] == ["public.lesson"]
    assert found[0].metrics["seq_scans"] >= 60


@pytest.mark.catalog
def test_table_without_primary_key_is_found(db: TestDatabase) -> None:
    db.execute("CREATE TABLE behavior_log (user_id int, at timestamptz)")
    assert [f.object for f in find(run(db, "table.no_primary_key"), "table.no_primary_key")] == [
        "public.behavior_log"
    ]


# stays >= 15, not for the statistics delay: 14 stamps a new database's pg_stat_database.stats_reset with
# its creation time (15+ leaves it NULL until a reset), so index.unused always skips a test database as
# "too young to judge" there (see test_unused_indexes_are_not_judged_on_young_statistics)
@pytest.mark.catalog
@pytest.mark.pg(">= 15")
def test_unused_index_is_found_but_never_a_unique_or_primary_key_index(db: TestDatabase) -> None:
    script(db, HEALTHY)
    db.execute("CREATE INDEX lesson_position_idx ON lesson (position)")
    db.execute("CREATE UNIQUE INDEX course_title_key ON course (title)")
    found = find(run(db, "index.unused", index__unused=JUDGE_YOUNG_STATISTICS), "index.unused")
    names = {f.object for f in found}
    assert "public.lesson_position_idx" in names
    assert not names & {"public.course_title_key", "public.course_pkey", "public.lesson_pkey"}


# stays >= 15 (see above): on 14 index.unused skips the young test database before ages matter
@pytest.mark.catalog
@pytest.mark.pg(">= 15")
def test_an_index_created_after_the_week_old_snapshot_is_not_judged_unused(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script(db, HEALTHY)
    db.execute("CREATE INDEX lesson_position_idx ON lesson (position)")
    with open_store(str(tmp_path / "h.sqlite3")) as store:
        with db.connect() as conn:  # the history saw lesson_position_idx 8 days ago
            payload = [ix.to_dict() for ix in index_stats(conn)]
        store.save_snapshot(db.target.key, INDEXES, payload, taken_at=datetime.now(UTC) - timedelta(days=8))
        db.execute("CREATE INDEX course_title_idx ON course (title)")  # today, so it has counted no scans yet
        without_history = run(db, "index.unused", index__unused=JUDGE_YOUNG_STATISTICS)
        result = run(db, "index.unused", store=store, index__unused=JUDGE_YOUNG_STATISTICS)
    warned = {f.object for f in find(without_history, "index.unused") if f.severity is Severity.WARNING}
    assert warned == {"public.lesson_position_idx", "public.course_title_idx"}  # no history: both judged
    warned = {f.object for f in find(result, "index.unused") if f.severity is Severity.WARNING}
    assert warned == {"public.lesson_position_idx"}
    [note, age_note] = [n for n in result.report.notes if n.startswith("index.unused:")]
    assert age_note.startswith("index.unused: statistics never reset in this database: collected for ")
    assert "public.course_title_idx" in note and "less than 7 days" in note
    assert "lesson_position_idx" not in note and "lesson_course_id_idx" not in note  # FK-kept: not listed

    store_file = str(tmp_path / "h.sqlite3")
    assert (
        main(["indexes", "unused", *JUDGED_AT_ANY_AGE, "--dsn", db.dsn, "--store", store_file, "-f", "json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert [ix["index"] for ix in report["indexes"]] == ["lesson_position_idx"]
    assert [ix["index"] for ix in report["notJudged"]] == ["course_title_idx"]
    assert (
        main(
            [
                "indexes",
                "unused",
                *JUDGED_AT_ANY_AGE,
                "--dsn",
                db.dsn,
                "--store",
                store_file,
                "-f",
                "markdown",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| lesson_position_idx |" in out and "course_title_idx (created after the index snapshot" in out
    assert "statistics never reset in this database" in out  # the statistics-age note, in markdown too


# stays >= 15 (see above)
@pytest.mark.catalog
@pytest.mark.pg(">= 15")
def test_an_index_of_another_sessions_temp_table_is_not_judged(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    script(db, HEALTHY)
    db.execute("CREATE INDEX lesson_position_idx ON lesson (position)")
    with db.connect() as app:  # only this session could use or drop its temp table's index
        app.execute("CREATE TEMP TABLE scratch (id int)")
        app.execute("CREATE INDEX scratch_id_idx ON scratch (id)")
        names = {ix.index for ix in index_stats(app)}
        found = find(run(db, "index.unused", index__unused=JUDGE_YOUNG_STATISTICS), "index.unused")
        assert main(["indexes", "unused", *JUDGED_AT_ANY_AGE, "--dsn", db.dsn, "-f", "json"]) == 0
    assert "lesson_position_idx" in names and "scratch_id_idx" not in names
    assert "public.lesson_position_idx" in {f.object for f in found}
    assert not any("scratch" in f.object for f in found)
    assert [ix["index"] for ix in json.loads(capsys.readouterr().out)["indexes"]] == ["lesson_position_idx"]


@pytest.mark.catalog
def test_redundant_index_check_compares_sort_order(db: TestDatabase) -> None:
    script(
        db,
        "CREATE TABLE post (id int PRIMARY KEY, posted_at timestamptz, score int);"
        "CREATE INDEX post_recent ON post (posted_at DESC NULLS LAST);"  # ORDER BY posted_at DESC NULLS LAST
        "CREATE INDEX post_posted_score ON post (posted_at, score);"
        "CREATE INDEX post_score_recent ON post (score, posted_at DESC);"  # ORDER BY score, posted_at DESC
        "CREATE INDEX post_score_posted_id ON post (score, posted_at, id);"
        "CREATE INDEX post_score_desc ON post (score DESC);",  # a backward scan of (score, …) gives this order
    )
    found = find(run(db, "index.duplicate"), "index.redundant")
    assert {f.object: f.metrics["covered_by"] for f in found} == {
        "public.post_score_desc": "public.post_score_posted_id"
    }


# stays >= 15 (see above)
@pytest.mark.catalog
@pytest.mark.pg(">= 15")
def test_a_partitioned_index_is_judged_whole_and_never_one_partitions_part(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    script(
        db,
        "CREATE TABLE event (at date NOT NULL, kind text, source text) PARTITION BY RANGE (at);"
        "CREATE TABLE event_2025 PARTITION OF event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
        "CREATE TABLE event_2026 PARTITION OF event FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"
        "CREATE INDEX event_kind_idx ON event (kind);"  # one index per partition, attached to this one
        "CREATE INDEX event_kind_copy ON event (kind);"  # the same again: a duplicate partitioned index
        "CREATE INDEX event_source_idx ON event (source);"
        "CREATE INDEX event_2026_kind_at_idx ON event_2026 (kind, at);"  # covers event_2026's part
        "CREATE INDEX event_2025_at_idx ON event_2025 (at);"  # a plain index of one partition
        "INSERT INTO event SELECT '2025-01-01'::date + g % 700, 'k' || g % 9, 's' || g % 5"
        "  FROM generate_series(1, 20000) g;"
        "ANALYZE event",
    )
    with db.connect() as conn:
        by_name = {ix.index: ix for ix in index_stats(conn)}
        conn.execute("SET enable_seqscan = off")
        for _ in range(3):  # the source index is used, through its partitions' parts
            conn.execute("SELECT count(*) FROM event WHERE source = 's1'").fetchone()
    assert by_name["event_2026_kind_idx"].attached_to == "public.event_kind_idx"
    assert by_name["event_2025_at_idx"].attached_to is None
    kind = by_name["event_kind_idx"]  # not in pg_stat_user_indexes: summed over its two parts
    assert kind.partitioned and kind.table == "event" and kind.columns == ("kind",)
    assert (
        kind.size_bytes
        == by_name["event_2025_kind_idx"].size_bytes + by_name["event_2026_kind_idx"].size_bytes
    )
    result = eventually(  # the scans of event_source_idx's parts must be visible
        lambda: run(db, "index.unused", "index.duplicate", index__unused=JUDGE_YOUNG_STATISTICS),
        lambda r: "public.event_source_idx" not in {f.object for f in find(r, "index.unused")},
    )
    unused = {f.object: f.sql for f in find(result, "index.unused")}
    assert unused == {
        "public.event_2025_at_idx": 'DROP INDEX CONCURRENTLY "public"."event_2025_at_idx";',
        "public.event_2026_kind_at_idx": 'DROP INDEX CONCURRENTLY "public"."event_2026_kind_at_idx";',
        # one DROP for all its parts, without CONCURRENTLY, which PostgreSQL refuses on a partitioned index
        "public.event_kind_idx": 'DROP INDEX "public"."event_kind_idx";',
        "public.event_kind_copy": 'DROP INDEX "public"."event_kind_copy";',
    }
    duplicates = {f.object: f.metrics["covered_by"] for f in find(result, "index.duplicate")}
    assert duplicates == {"public.event_kind_idx": "public.event_kind_copy"} or duplicates == {
        "public.event_kind_copy": "public.event_kind_idx"
    }
    assert find(result, "index.redundant") == []  # event_2026_kind_idx is covered but cannot go alone
    assert main(["indexes", "unused", *JUDGED_AT_ANY_AGE, "--dsn", db.dsn, "-f", "json"]) == 0
    for statement in [ix["sql"] for ix in json.loads(capsys.readouterr().out)["indexes"]]:
        db.execute(statement.replace(" CONCURRENTLY", ""))  # every DROP it proposes runs
    with db.connect() as conn:
        left = {ix.index for ix in index_stats(conn)}
    assert left == {"event_source_idx", "event_2025_source_idx", "event_2026_source_idx"}


@pytest.mark.catalog
def test_maintenance_vacuum_is_not_cut_short_by_pgdbas_statement_timeout(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    script(
        db,
        "CREATE TABLE attempt (id int PRIMARY KEY, note text) WITH (autovacuum_enabled = false);"
        "INSERT INTO attempt SELECT g, repeat('x', 200) FROM generate_series(1, 400000) g;"
        "ANALYZE attempt;"
        "DELETE FROM attempt WHERE id % 2 = 0",
    )
    plan = eventually(lambda: maintenance_plan(db.target), lambda p: bool(p.items))
    # a session whose statement_timeout (100 ms here, pgdba's 30 s on a big table) is far below the VACUUM's
    # (0.22 s measured here, 2 cores); 1 ms cut pgdba's own catalog query before it once, in CI
    hurried = resolve_target(db.dsn, statement_timeout_ms=100)
    apply_maintenance(hurried, plan, announce=lambda _: None)
    assert [(i.table, i.status, i.error) for i in plan.items] == [("attempt", "done", None)]
    # the CLI's --vacuum-timeout bounds it when asked to, and says the VACUUM failed
    script(db, "DELETE FROM attempt WHERE id % 3 = 0")
    eventually(lambda: maintenance_plan(db.target), lambda p: bool(p.items))
    code = main(["maintenance", "--dsn", db.dsn, "--apply", "--vacuum-timeout", "1", "-f", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and "statement timeout" in report["tables"][0]["error"]


@pytest.mark.catalog
def test_a_partitioned_table_never_analysed_is_found_and_maintenance_analyses_it(db: TestDatabase) -> None:
    script(
        db,
        "CREATE TABLE event (at date NOT NULL, kind int) PARTITION BY RANGE (at);"
        "CREATE TABLE event_2025 PARTITION OF event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"
        " PARTITION BY RANGE (at);"  # a sub-partitioned partition: ANALYZE event covers it
        "CREATE TABLE event_2025_h1 PARTITION OF event_2025 FOR VALUES FROM ('2025-01-01') TO ('2025-07-01');"
        "CREATE TABLE event_2025_h2 PARTITION OF event_2025 FOR VALUES FROM ('2025-07-01') TO ('2026-01-01');"
        "INSERT INTO event SELECT '2025-01-01'::date + (g % 360), g FROM generate_series(1, 30000) g;"
        "ANALYZE event_2025_h1; ANALYZE event_2025_h2",  # what autovacuum does: the partitions only
    )
    with db.connect() as conn:  # without ANALYZE on the parent the planner guesses the whole table
        plan = conn.execute("EXPLAIN SELECT kind, count(*) FROM event GROUP BY kind").fetchone()
    assert plan is not None and "rows=200 " in plan[0]
    result = eventually(  # the partitions' ANALYZE must be visible (14's statistics collector lags)
        lambda: run(db, "table.analyze_overdue"),
        lambda r: all(f.object == "public.event" for f in find(r, "table.analyze_overdue")),
    )
    found = find(result, "table.analyze_overdue")
    assert [(f.object, f.sql) for f in found] == [("public.event", 'ANALYZE "public"."event";')]
    assert found[0].metrics["partition_rows"] == 30000
    plan_items = maintenance_plan(db.target)
    assert [i.sql_text for i in plan_items.items] == ['ANALYZE "public"."event";']
    apply_maintenance(db.target, plan_items, announce=lambda _: None)
    assert plan_items.items[0].status == "done"
    after = eventually(
        lambda: run(db, "table.analyze_overdue"), lambda r: find(r, "table.analyze_overdue") == []
    )
    assert find(after, "table.analyze_overdue") == []


@pytest.mark.catalog
def test_maintenance_skips_a_table_locked_by_ddl_and_goes_on_with_the_next(db: TestDatabase) -> None:
    for name in ("attempt", "progress"):
        script(
            db,
            f"CREATE TABLE {name} (id int PRIMARY KEY) WITH (autovacuum_enabled = false);"
            f"INSERT INTO {name} SELECT generate_series(1, 20000);"
            f"ANALYZE {name};"
            f"DELETE FROM {name} WHERE id > 5000",
        )
    plan = eventually(  # both tables' 15,000 deleted rows must be visible as dead rows
        lambda: maintenance_plan(db.target),
        lambda p: (
            {i.table for i in p.items if any("dead rows" in r for r in i.reasons)} >= {"attempt", "progress"}
        ),
    )
    assert [i.table for i in plan.items] == ["attempt", "progress"]
    ddl = db.connect(autocommit=False)
    ddl.execute("LOCK TABLE attempt IN ACCESS EXCLUSIVE MODE")
    try:
        apply_maintenance(resolve_target(db.dsn, lock_timeout_ms=100), plan, announce=lambda _: None)
    finally:
        ddl.rollback()
        ddl.close()
    assert [(i.table, i.status) for i in plan.items] == [("attempt", "failed"), ("progress", "done")]
    assert plan.items[0].error is not None and "lock timeout" in plan.items[0].error


@pytest.mark.catalog
def test_a_table_held_access_exclusive_gets_estimated_sizes_and_the_checkup_still_runs(
    db: TestDatabase,
) -> None:
    script(db, HEALTHY)
    quick = resolve_target(db.dsn, lock_timeout_ms=100)  # waiting for any lock would fail within 0.1 s
    with db.connect(autocommit=False) as holder:
        # a migration in flight: ACCESS EXCLUSIVE on the table and on the index it drops
        holder.execute("DROP INDEX lesson_course_id_idx")
        with quick.connect() as conn:
            tables = {t.table: t for t in table_stats(conn)}
            indexes = {i.index: i for i in index_stats(conn)}
            keys = {k.table: k for k in foreign_keys(conn)}
        result = run_checkup(quick)
        holder.rollback()
    lesson, course = tables["lesson"], tables["course"]
    assert lesson.locked and not course.locked
    # pg_class's page counts as of the VACUUM ANALYZE above: the heap and both indexes are there
    assert lesson.table_bytes > 0 and lesson.index_bytes > 0 and lesson.total_bytes >= lesson.table_bytes
    assert course.total_bytes > 0
    dropped = indexes["lesson_course_id_idx"]
    assert dropped.locked and dropped.size_bytes > 0 and dropped.columns == ("course_id", "position")
    assert not indexes["course_pkey"].locked and indexes["course_pkey"].definition.startswith("CREATE UNIQUE")
    assert keys["lesson"].table_bytes == lesson.table_bytes
    # no collector gave up on the lock: every check that could run ran
    assert not [s for s in result.report.skipped if "lock" in s.reason], result.report.skipped
    assert "table.vacuum_overdue" in {c.name for c in result.ran}
    assert any(n.startswith("not judged: public.lesson_course_id_idx") for n in result.report.notes)


SAME_COLUMN_OTHER_OPCLASS = """
CREATE TABLE dd (id int PRIMARY KEY, t text);
INSERT INTO dd SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
ANALYZE dd;
CREATE INDEX dd_t ON dd (t);
CREATE INDEX dd_t_pattern ON dd (t text_pattern_ops);
CREATE INDEX dd_t_c ON dd (t COLLATE "C");
"""


@pytest.mark.catalog
def test_same_column_under_another_opclass_or_collation_is_no_duplicate_but_a_plain_copy_is(
    db: TestDatabase,
) -> None:
    script(db, SAME_COLUMN_OTHER_OPCLASS)
    db.execute("CREATE INDEX dd_t_again ON dd (t)")
    found = run(db, "index.duplicate").report.findings
    assert [(f.code, f.object) for f in found] == [("index.duplicate", "public.dd_t_again")]


@pytest.mark.catalog
def test_a_prefix_is_redundant_only_under_the_longer_indexs_opclass_and_collation(db: TestDatabase) -> None:
    script(db, SAME_COLUMN_OTHER_OPCLASS)
    db.execute('CREATE INDEX dd_t_c_id ON dd (t COLLATE "C", id)')
    found = run(db, "index.duplicate").report.findings
    assert [(f.code, f.object, f.metrics["covered_by"]) for f in found] == [
        ("index.redundant", "public.dd_t_c", "public.dd_t_c_id")
    ]


FOREIGN_KEY_INDEX = """
CREATE TABLE parent (id int PRIMARY KEY);
INSERT INTO parent SELECT generate_series(1, 100);
CREATE TABLE child (id int PRIMARY KEY, ref int NOT NULL REFERENCES parent (id), note int);
INSERT INTO child SELECT g, 1 + g % 100, g FROM generate_series(1, 30000) g;
CREATE INDEX fk_ref_idx ON child (ref);
CREATE INDEX child_note_idx ON child (note);
ANALYZE parent;
ANALYZE child;
"""


# >= 15 for the statistics age, as test_unused_index_is_found_but_never_a_unique_or_primary_key_index
@pytest.mark.catalog
@pytest.mark.pg(">= 15")
def test_unused_index_serving_a_foreign_key_is_kept_while_another_unused_one_is_dropped(
    db: TestDatabase,
) -> None:
    script(db, FOREIGN_KEY_INDEX)
    result = run(db, "index.unused", "index.missing_fk", index__unused=JUDGE_YOUNG_STATISTICS)
    by_index = {f.object: f for f in find(result, "index.unused")}
    assert by_index["public.child_note_idx"].sql == 'DROP INDEX CONCURRENTLY "public"."child_note_idx";'
    kept = by_index["public.fk_ref_idx"]
    assert kept.severity is Severity.INFO and kept.sql is None
    assert kept.metrics["serves_foreign_key"] == "child_ref_fkey"
    assert "child_ref_fkey" in kept.title
    assert not any(f.sql and "fk_ref_idx" in f.sql for f in result.report.findings)
    assert find(result, "index.missing_fk") == []


@pytest.mark.catalog
def test_a_half_built_partitioned_index_is_completed_not_dropped(db: TestDatabase) -> None:
    script(
        db,
        "CREATE TABLE event (at date NOT NULL, kind text) PARTITION BY RANGE (at);"
        "CREATE TABLE event_2025 PARTITION OF event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
        "CREATE TABLE event_2026 PARTITION OF event FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"
        # the lock-free route, half done: the parent's index ON ONLY, one partition's built and attached
        "CREATE INDEX event_kind_idx ON ONLY event (kind);"
        "CREATE INDEX event_2025_kind_idx ON event_2025 (kind);"
        "ALTER INDEX event_kind_idx ATTACH PARTITION event_2025_kind_idx;",
    )
    [finding] = find(run(db, "index.invalid"), "index.invalid")
    assert finding.object == "public.event_kind_idx"
    assert finding.sql is not None and "DROP" not in finding.sql  # no DROP of the work so far
    assert finding.sql.splitlines() == [
        'CREATE INDEX CONCURRENTLY "event_2026_kind_idx" ON "public"."event_2026" USING btree (kind);',
        'ALTER INDEX "public"."event_kind_idx" ATTACH PARTITION "public"."event_2026_kind_idx";',
    ]
    for statement in finding.sql.splitlines():  # as psql runs them: one at a time, CONCURRENTLY outside BEGIN
        db.execute(statement)
    assert find(run(db, "index.invalid"), "index.invalid") == []


@pytest.mark.catalog
def test_the_steps_that_complete_a_half_built_partitioned_index_reuse_and_rebuild_what_is_there(
    db: TestDatabase,
) -> None:
    script(
        db,
        'CREATE TABLE event (at date NOT NULL, kind text COLLATE "C", n int) PARTITION BY RANGE (at);'
        "CREATE TABLE event_2025 PARTITION OF event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
        "CREATE TABLE event_2026 PARTITION OF event FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"
        "CREATE TABLE event_2027 PARTITION OF event FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')"
        " PARTITION BY RANGE (at);"
        "CREATE TABLE event_2027_h1 PARTITION OF event_2027 FOR VALUES FROM ('2027-01-01') TO ('2027-07-01');"
        "CREATE TABLE event_2028 PARTITION OF event FOR VALUES FROM ('2028-01-01') TO ('2029-01-01');"
        "CREATE TABLE event_2029 PARTITION OF event FOR VALUES FROM ('2029-01-01') TO ('2030-01-01');"
        "INSERT INTO event SELECT '2025-01-01'::date + g % 1400, 'k' || g % 10, g FROM generate_series(1, 5000) g"
        " WHERE g % 1400 NOT BETWEEN 911 AND 1094;"  # event_2027 has no second half
        "CREATE INDEX event_kind_idx ON ONLY event (kind) INCLUDE (n);"
        # 2025: its own index of the same definition, not attached yet; another that differs in order only
        "CREATE INDEX own_desc ON event_2025 (kind DESC) INCLUDE (n);"
        "CREATE INDEX own_same ON event_2025 (kind) INCLUDE (n);"
        # 2026: none, but a name the new one would take is in use
        "CREATE INDEX event_2026_kind_idx ON event_2026 (n);",
    )
    # 2028 attached but invalid, 2029 invalid and not attached: what a CONCURRENTLY build leaves when a long
    # transaction writing the partition makes it time out
    with db.connect() as conn:
        conn.execute("SET lock_timeout = '300ms'")
        with db.connect(autocommit=False) as writer:  # a long transaction writing event_2028 and event_2029
            writer.execute("INSERT INTO event VALUES ('2028-02-01', 'x', 0), ('2029-02-01', 'x', 0)")
            for year in (2028, 2029):
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    conn.execute(
                        f"CREATE INDEX CONCURRENTLY event_{year}_kind_idx ON event_{year} (kind) INCLUDE (n)"
                    )
        conn.execute("ALTER INDEX event_kind_idx ATTACH PARTITION event_2028_kind_idx")
    # one finding: 2029's invalid index is rebuilt and attached by its steps, not a DROP of its own
    [finding] = find(run(db, "index.invalid"), "index.invalid")
    assert finding.sql is not None
    assert finding.sql.splitlines() == [
        'ALTER INDEX "public"."event_kind_idx" ATTACH PARTITION "public"."own_same";',
        'CREATE INDEX CONCURRENTLY "event_2026_kind_idx1" ON "public"."event_2026" USING btree (kind) INCLUDE (n);',
        'ALTER INDEX "public"."event_kind_idx" ATTACH PARTITION "public"."event_2026_kind_idx1";',
        'CREATE INDEX "event_2027_kind_idx" ON ONLY "public"."event_2027" USING btree (kind) INCLUDE (n);',
        'CREATE INDEX CONCURRENTLY "event_2027_h1_kind_idx" ON "public"."event_2027_h1" USING btree (kind) '
        "INCLUDE (n);",
        'ALTER INDEX "public"."event_2027_kind_idx" ATTACH PARTITION "public"."event_2027_h1_kind_idx";',
        'ALTER INDEX "public"."event_kind_idx" ATTACH PARTITION "public"."event_2027_kind_idx";',
        'REINDEX INDEX CONCURRENTLY "public"."event_2028_kind_idx";',
        # again: PostgreSQL checks whether event_kind_idx is complete on an ATTACH, not on a REINDEX
        'ALTER INDEX "public"."event_kind_idx" ATTACH PARTITION "public"."event_2028_kind_idx";',
        'REINDEX INDEX CONCURRENTLY "public"."event_2029_kind_idx";',
        'ALTER INDEX "public"."event_kind_idx" ATTACH PARTITION "public"."event_2029_kind_idx";',
    ]
    for statement in finding.sql.splitlines():
        db.execute(statement)
    assert find(run(db, "index.invalid"), "index.invalid") == []
    with db.connect() as conn:
        valid = conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'event_kind_idx'::regclass")
        assert valid.fetchone() == (True,)


@pytest.mark.catalog
def test_a_sub_partitioned_partitions_attached_index_is_completed_below_it_not_created_again(
    db: TestDatabase,
) -> None:
    script(
        db,
        "CREATE TABLE event (at date NOT NULL, kind int) PARTITION BY RANGE (at);"
        "CREATE TABLE event_2025 PARTITION OF event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"
        " PARTITION BY RANGE (at);"
        "CREATE TABLE event_2025_h1 PARTITION OF event_2025 FOR VALUES FROM ('2025-01-01') TO ('2025-07-01');"
        "CREATE TABLE event_2025_h2 PARTITION OF event_2025 FOR VALUES FROM ('2025-07-01') TO ('2026-01-01');"
        "CREATE INDEX event_kind_idx ON ONLY event (kind);"
        # 2025's index made ON ONLY it and attached at once, its first half's built: the second half's is not
        "CREATE INDEX event_2025_kind_idx ON ONLY event_2025 (kind);"
        "ALTER INDEX event_kind_idx ATTACH PARTITION event_2025_kind_idx;"
        "CREATE INDEX event_2025_h1_kind_idx ON event_2025_h1 (kind);"
        "ALTER INDEX event_2025_kind_idx ATTACH PARTITION event_2025_h1_kind_idx;",
    )
    [finding] = find(run(db, "index.invalid"), "index.invalid")
    assert finding.object == "public.event_kind_idx"
    assert finding.sql is not None
    assert finding.sql.splitlines() == [
        'CREATE INDEX CONCURRENTLY "event_2025_h2_kind_idx" ON "public"."event_2025_h2" USING btree (kind);',
        'ALTER INDEX "public"."event_2025_kind_idx" ATTACH PARTITION "public"."event_2025_h2_kind_idx";',
        'ALTER INDEX "public"."event_kind_idx" ATTACH PARTITION "public"."event_2025_kind_idx";',
    ]
    for statement in finding.sql.splitlines():
        db.execute(statement)
    assert find(run(db, "index.invalid"), "index.invalid") == []


@pytest.mark.catalog
def test_a_half_built_primary_key_is_completed_with_each_partitions_own_constraint(db: TestDatabase) -> None:
    script(
        db,
        "CREATE TABLE event (id bigint NOT NULL, at date NOT NULL, n int) PARTITION BY RANGE (at);"
        "CREATE TABLE event_2025 PARTITION OF event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
        "CREATE TABLE event_2026 PARTITION OF event FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"
        "CREATE TABLE event_2027 PARTITION OF event FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');"
        "CREATE TABLE event_2028 PARTITION OF event FOR VALUES FROM ('2028-01-01') TO ('2029-01-01')"
        " PARTITION BY RANGE (at);"
        "CREATE TABLE event_2028_h1 PARTITION OF event_2028 FOR VALUES FROM ('2028-01-01') TO ('2028-07-01');"
        "CREATE TABLE event_2029 PARTITION OF event FOR VALUES FROM ('2029-01-01') TO ('2030-01-01');"
        "INSERT INTO event SELECT g, '2025-01-01'::date + g % 1600, g FROM generate_series(1, 5000) g"
        " WHERE g % 1600 NOT BETWEEN 1277 AND 1460;"  # event_2028 has no second half
        # the lock-free route to a primary key, half done
        "ALTER TABLE ONLY event ADD CONSTRAINT event_pkey PRIMARY KEY (id, at);"
        # 2025: its own primary key of the same definition, not attached yet
        "ALTER TABLE event_2025 ADD CONSTRAINT event_2025_pkey PRIMARY KEY (id, at);"
        # 2026: a unique index of the same definition that is no constraint; and a taken name
        "CREATE UNIQUE INDEX own_unique ON event_2026 (id, at);"
        "CREATE INDEX event_2027_pkey ON event_2027 (n);",
    )
    # 2029: a unique build that timed out behind a long transaction writing the partition, left invalid
    with db.connect() as conn:
        conn.execute("SET lock_timeout = '300ms'")
        with db.connect(autocommit=False) as writer:
            writer.execute("INSERT INTO event VALUES (-1, '2029-02-01', 0)")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                conn.execute("CREATE UNIQUE INDEX CONCURRENTLY event_2029_pkey ON event_2029 (id, at)")
    # one finding: 2029's invalid index is one of its steps, not a DROP of its own
    [finding] = find(run(db, "index.invalid"), "index.invalid")
    assert finding.object == "public.event_pkey"
    assert finding.sql is not None
    assert finding.sql.splitlines() == [
        'ALTER INDEX "public"."event_pkey" ATTACH PARTITION "public"."event_2025_pkey";',
        'ALTER TABLE "public"."event_2026" ADD CONSTRAINT "own_unique" PRIMARY KEY USING INDEX "own_unique";',
        'ALTER INDEX "public"."event_pkey" ATTACH PARTITION "public"."own_unique";',
        'CREATE UNIQUE INDEX CONCURRENTLY "event_2027_pkey1" ON "public"."event_2027" USING btree (id, at);',
        'ALTER TABLE "public"."event_2027" ADD CONSTRAINT "event_2027_pkey1" PRIMARY KEY USING INDEX '
        '"event_2027_pkey1";',
        'ALTER INDEX "public"."event_pkey" ATTACH PARTITION "public"."event_2027_pkey1";',
        'ALTER TABLE ONLY "public"."event_2028" ADD CONSTRAINT "event_2028_pkey" PRIMARY KEY (id, at);',
        'CREATE UNIQUE INDEX CONCURRENTLY "event_2028_h1_pkey" ON "public"."event_2028_h1" USING btree (id, at);',
        'ALTER TABLE "public"."event_2028_h1" ADD CONSTRAINT "event_2028_h1_pkey" PRIMARY KEY USING INDEX '
        '"event_2028_h1_pkey";',
        'ALTER INDEX "public"."event_2028_pkey" ATTACH PARTITION "public"."event_2028_h1_pkey";',
        'ALTER INDEX "public"."event_pkey" ATTACH PARTITION "public"."event_2028_pkey";',
        'REINDEX INDEX CONCURRENTLY "public"."event_2029_pkey";',
        'ALTER TABLE "public"."event_2029" ADD CONSTRAINT "event_2029_pkey" PRIMARY KEY USING INDEX '
        '"event_2029_pkey";',
        'ALTER INDEX "public"."event_pkey" ATTACH PARTITION "public"."event_2029_pkey";',
    ]
    for statement in finding.sql.splitlines():
        db.execute(statement)
    assert find(run(db, "index.invalid"), "index.invalid") == []
    with db.connect() as conn:
        primary = conn.execute(
            "SELECT i.indisvalid, count(*) FILTER (WHERE c.conparentid <> 0)"
            "  FROM pg_index i, pg_constraint c"
            " WHERE i.indexrelid = 'event_pkey'::regclass AND c.contype = 'p'"
            "   AND c.conrelid IN (SELECT relid FROM pg_partition_tree('event'))"
            " GROUP BY i.indisvalid"
        )
        assert primary.fetchall() == [(True, 6)]  # five partitions' and 2028's half's, each the table's


@pytest.mark.catalog
def test_a_half_built_unique_constraint_keeps_its_deferrability_and_a_foreign_primary_key_gets_no_steps(
    db: TestDatabase,
) -> None:
    script(
        db,
        "CREATE TABLE event (id bigint NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);"
        "CREATE TABLE event_2025 PARTITION OF event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
        "ALTER TABLE ONLY event ADD CONSTRAINT event_id_at UNIQUE (id, at) DEFERRABLE INITIALLY DEFERRED;"
        "CREATE TABLE other (id bigint NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);"
        "CREATE TABLE other_2025 PARTITION OF other FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
        "ALTER TABLE other_2025 ADD PRIMARY KEY (id);"  # a primary key of its own: the table's cannot be added
        "ALTER TABLE ONLY other ADD CONSTRAINT other_pkey PRIMARY KEY (id, at);",
    )
    findings = {f.object: f for f in find(run(db, "index.invalid"), "index.invalid")}
    assert findings["public.other_pkey"].sql is None
    assert "ATTACH PARTITION" in findings["public.other_pkey"].recommendation
    unique = findings["public.event_id_at"].sql
    assert unique is not None
    assert unique.splitlines() == [
        'CREATE UNIQUE INDEX CONCURRENTLY "event_2025_id_at" ON "public"."event_2025" USING btree (id, at);',
        'ALTER TABLE "public"."event_2025" ADD CONSTRAINT "event_2025_id_at" UNIQUE USING INDEX '
        '"event_2025_id_at" DEFERRABLE INITIALLY DEFERRED;',
        'ALTER INDEX "public"."event_id_at" ATTACH PARTITION "public"."event_2025_id_at";',
    ]
    for statement in unique.splitlines():
        db.execute(statement)
    assert [f.object for f in find(run(db, "index.invalid"), "index.invalid")] == ["public.other_pkey"]


@pytest.mark.catalog
def test_a_partitioned_index_whose_invalid_part_was_rebuilt_is_completed_by_attaching_it_again(
    db: TestDatabase,
) -> None:
    script(
        db,
        "CREATE TABLE event (at date NOT NULL, kind int) PARTITION BY RANGE (at);"
        "CREATE TABLE event_2025 PARTITION OF event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
        "CREATE TABLE event_2026 PARTITION OF event FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"
        "INSERT INTO event SELECT '2025-01-01'::date + g % 700, g % 10 FROM generate_series(1, 5000) g;"
        "CREATE INDEX event_kind_idx ON ONLY event (kind);"
        "CREATE INDEX event_2025_kind_idx ON event_2025 (kind);"
        "ALTER INDEX event_kind_idx ATTACH PARTITION event_2025_kind_idx;",
    )
    with db.connect() as conn:  # 2026's build times out behind a long transaction writing it; attached anyway
        conn.execute("SET lock_timeout = '300ms'")
        with db.connect(autocommit=False) as writer:
            writer.execute("INSERT INTO event VALUES ('2026-02-01', 1)")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                conn.execute("CREATE INDEX CONCURRENTLY event_2026_kind_idx ON event_2026 (kind)")
        conn.execute("ALTER INDEX event_kind_idx ATTACH PARTITION event_2026_kind_idx")
        conn.execute("REINDEX INDEX CONCURRENTLY event_2026_kind_idx")  # rebuilt: valid, its parent not
    [finding] = find(run(db, "index.invalid"), "index.invalid")
    assert (
        finding.sql
        == 'ALTER INDEX "public"."event_kind_idx" ATTACH PARTITION "public"."event_2025_kind_idx";'
    )
    db.execute(finding.sql)
    assert find(run(db, "index.invalid"), "index.invalid") == []


def test_indexes_unused_without_a_usable_default_store_judges_by_the_counters(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db.execute("CREATE TABLE course (id int PRIMARY KEY, title text)")
    db.execute("CREATE INDEX course_title_idx ON course (title)")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.delenv("PGDBA_HISTORY", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker / "data"))  # the default store's folder cannot be made
    assert main(["indexes", "unused", *JUDGED_AT_ANY_AGE, "--dsn", db.dsn, "-f", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "course_title_idx" in [ix["index"] for ix in report["indexes"]]
    assert any("cannot open history store" in note and "last week" in note for note in report["notes"])
    # a store the user names must open
    assert (
        main(
            ["indexes", "unused", *JUDGED_AT_ANY_AGE, "--dsn", db.dsn, "--store", str(blocker / "h.sqlite3")]
        )
        == 2
    )
    assert "cannot open history store" in capsys.readouterr().err


INCLUDE_COLUMNS = """
CREATE TABLE inc (id serial PRIMARY KEY, a int, b int, c int, d text);
INSERT INTO inc (a, b, c, d) SELECT g % 5000, g % 13, g, md5(g::text) FROM generate_series(1, 20000) g;
CREATE INDEX inc_a_b ON inc (a, b);
CREATE INDEX inc_a_incl_c ON inc (a) INCLUDE (c);
CREATE INDEX inc_a_incl_b ON inc (a) INCLUDE (b);
CREATE INDEX inc_a_incl_c_d ON inc (a) INCLUDE (d, c);
"""


@pytest.mark.catalog
def test_an_index_covers_another_only_if_it_holds_its_include_columns(db: TestDatabase) -> None:
    script(db, INCLUDE_COLUMNS)
    found = run(db, "index.duplicate").report.findings
    assert sorted((f.code, f.object, f.metrics["covered_by"]) for f in found) == [
        ("index.redundant", "public.inc_a_incl_b", "public.inc_a_b"),  # b is one of its keys
        ("index.redundant", "public.inc_a_incl_c", "public.inc_a_incl_c_d"),  # c is one of its INCLUDEs
    ]  # inc_a_b holds no c: an index-only scan of inc_a_incl_c (sum(c) WHERE a …) needs c
    db.execute("CREATE INDEX inc_a_incl_c_again ON inc (a) INCLUDE (c)")
    db.execute("DROP INDEX inc_a_incl_c_d")
    assert [(f.code, f.object) for f in find(run(db, "index.duplicate"), "index.duplicate")] == [
        ("index.duplicate", "public.inc_a_incl_c_again")
    ]
    assert {f.object for f in find(run(db, "index.duplicate"), "index.redundant")} == {"public.inc_a_incl_b"}


FOREIGN_KEY_PROBES = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE TABLE owner (id int PRIMARY KEY);
INSERT INTO owner SELECT generate_series(1, 100);
CREATE TABLE pet (id int PRIMARY KEY, owner_id int NOT NULL REFERENCES owner (id), note int);
INSERT INTO pet SELECT g, 1 + g % 100, g FROM generate_series(1, 20000) g;
CREATE TABLE big_owner (id bigint PRIMARY KEY);
INSERT INTO big_owner SELECT generate_series(1, 100);
CREATE TABLE big_pet (id int PRIMARY KEY, owner_id int NOT NULL REFERENCES big_owner (id));
INSERT INTO big_pet SELECT g, 1 + g % 100 FROM generate_series(1, 20000) g;
ANALYZE pet;
ANALYZE big_pet
"""


@pytest.mark.catalog
@pytest.mark.parametrize(
    ("index", "serves"),
    [
        ("pet (owner_id)", True),
        ("pet (owner_id, note)", True),
        ("pet (note, owner_id)", False),  # not leading: the lookup reads the whole index
        ("pet USING hash (owner_id)", True),
        ("pet USING gist (owner_id)", True),  # btree_gist's operator class holds int4 =
        ("pet USING brin (owner_id)", False),  # reads every block range the ids' spread leaves open
        ("big_pet (owner_id)", True),  # btree's integer family compares int8 = int4 too
        ("big_pet USING gist (owner_id)", False),  # btree_gist's holds no int8 = int4: a full scan
    ],
)
def test_only_an_index_the_foreign_keys_lookup_can_probe_serves_it(
    db: TestDatabase, index: str, serves: bool
) -> None:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'btree_gist'"
        ).fetchone()
    if row != (1,):
        pytest.skip("btree_gist is not available for this PostgreSQL build")
    script(db, FOREIGN_KEY_PROBES)
    db.execute(f"CREATE INDEX probe ON {index}")
    table = index.split(" ", 1)[0]
    missing = {f.object for f in find(run(db, "index.missing_fk"), "index.missing_fk")}
    assert (f"public.{table}" not in missing) is serves
    with db.connect() as conn:
        [fk] = [k for k in foreign_keys(conn) if k.table == table]
        [ix] = [i for i in index_stats(conn) if i.index == "probe"]
    assert fk.has_index is serves
    assert (ix.serves_foreign_key is not None) is serves  # the unused-index check keeps it only then
