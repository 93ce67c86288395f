"""The check-up as a whole: settings, capacity and backup checks, the score, least privilege, no blocking."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from pgdba.checks.capacity import growth
from pgdba.checks.index_health import low_index_hit_rate
from pgdba.checks.settings import settings_findings
from pgdba.checkup import CHECKS, parse_overrides, run_checkup, server_version_note
from pgdba.errors import InputError
from pgdba.findings import Severity
from pgdba.history.snapshot import TABLES, size_history, take_snapshot
from pgdba.report.score import health_score
from pgdba.server import load_server_facts
from pgdba.stats.database import DatabaseStats, database_stats
from pgdba.stats.settings import Setting, server_settings
from pgdba.stats.tables import table_stats
from pgdba.target import resolve_target
from tests.checkup.helpers import find, run, script, serious, store_at
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import eventually, publish_stats

HEALTHY = """
CREATE TABLE course (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title text NOT NULL);
CREATE TABLE lesson (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    course_id bigint NOT NULL REFERENCES course (id),
    position int NOT NULL
);
CREATE INDEX lesson_course_id_idx ON lesson (course_id, position);
INSERT INTO course (title) SELECT 'c' || g FROM generate_series(1, 100) g;
INSERT INTO lesson (course_id, position) SELECT 1 + g % 100, g FROM generate_series(1, 5000) g;
VACUUM ANALYZE course;
VACUUM ANALYZE lesson
"""


def test_whole_checkup_on_a_healthy_database_has_no_warning_and_scores_ten(
    db: TestDatabase, tmp_path: Path
) -> None:
    script(db, HEALTHY)
    store = store_at(tmp_path)
    store.add_record(db.target.key, "restore_test", {"passed": True})
    # (index.unused judges the test cluster's statistics, which began when the suite started)
    result = run_checkup(db.target, store=store, options={"index.unused": {"min_stats_age_days": 0}})
    assert serious(result) == []
    # what stays is advice on settings the test cluster keeps at PostgreSQL's defaults
    assert {f.code for f in result.report.findings} <= {
        "settings.shared_buffers",
        "settings.effective_cache_size",
        "settings.random_page_cost",
    }
    score = health_score(result)
    assert score.score == 10.0 and score.deductions == []
    assert {s.check for s in result.report.skipped} == {
        "query.regression",
        "capacity.table_growth",
        "capacity.forecast",
    }


@pytest.mark.catalog
def test_settings_are_judged_as_this_database_sees_them(db: TestDatabase) -> None:
    db.execute(f'ALTER DATABASE "{db.name}" SET random_page_cost = 1.1')
    db.execute(f"ALTER DATABASE \"{db.name}\" SET effective_cache_size = '8GB'")
    db.execute(f'ALTER DATABASE "{db.name}" SET track_io_timing = off')
    found = {f.code for f in run(db, "settings").report.findings}
    assert "settings.random_page_cost" not in found and "settings.effective_cache_size" not in found
    assert "settings.track_io_timing" in found
    db.execute(f"ALTER DATABASE \"{db.name}\" SET effective_cache_size = '64MB'")  # below shared_buffers
    effective = find(run(db, "settings"), "settings.effective_cache_size")
    assert [f.severity for f in effective] == [Severity.WARNING]


@pytest.mark.catalog
def test_temp_files_with_small_work_mem_are_a_settings_warning(db: TestDatabase) -> None:
    db.execute("CREATE TABLE t AS SELECT md5(g::text) AS v FROM generate_series(1, 30000) g")
    with db.connect() as conn:
        conn.execute("SET work_mem = '64kB'")
        conn.execute("SELECT v FROM t ORDER BY v").fetchall()
        publish_stats(conn)

    def collect() -> tuple[DatabaseStats, dict[str, Setting]]:
        with db.connect() as conn:
            return database_stats(conn), server_settings(conn)

    # the sort's temporary file must be visible in the database's counters
    stats, settings = eventually(collect, lambda both: both[0].temp_files >= 1)
    assert stats.temp_files >= 1
    work_mem = [
        f for f in settings_findings(settings, stats, min_temp_files=1) if f.code == "settings.work_mem"
    ]
    assert len(work_mem) == 1 and work_mem[0].severity is Severity.WARNING
    assert [
        f for f in settings_findings(settings, stats) if f.code == "settings.work_mem"
    ] == []  # < 100 files


def test_low_index_hit_rate_thresholds() -> None:
    from pgdba.stats.database import DatabaseStats

    def stats(hit: int, read: int) -> DatabaseStats:
        return DatabaseStats("app", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, read, hit, None)

    assert low_index_hit_rate(stats(99_500, 500)) == []
    assert [f.severity for f in low_index_hit_rate(stats(97_000, 3_000))] == [Severity.WARNING]
    assert [f.severity for f in low_index_hit_rate(stats(80_000, 20_000))] == [Severity.CRITICAL]
    assert low_index_hit_rate(stats(50, 50)) == []  # too few blocks to judge


@pytest.mark.catalog
def test_database_size_thresholds_are_the_users_alerts(db: TestDatabase) -> None:
    assert run(db, "capacity.database_size").report.findings == []  # far below 40 GB
    found = find(
        run(
            db,
            "capacity.database_size",
            capacity__database_size={"warning_bytes": 1, "critical_bytes": 10**12},
        ),
        "capacity.database_size",
    )
    assert [f.severity for f in found] == [Severity.WARNING] and found[0].object == db.name


@pytest.mark.catalog
def test_table_growth_and_forecast_from_history(db: TestDatabase, tmp_path: Path) -> None:
    db.execute("CREATE TABLE behavior_log (id bigint PRIMARY KEY, payload text)")
    store = store_at(tmp_path)
    with db.connect() as conn:
        take_snapshot(conn, load_server_facts(conn), store, db.target.key)
    db.execute("INSERT INTO behavior_log SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g")
    checks = ("capacity.table_growth", "capacity.forecast")
    quiet = run(db, *checks, store=store, capacity__forecast={"limit_bytes": 10**15})
    assert quiet.report.findings == []  # a few seconds of history is no trend (min_window_seconds=600)
    result = run(
        db,
        *checks,
        store=store,
        capacity__table_growth={"min_window_seconds": 0, "warning_bytes_per_hour": 1},
        capacity__forecast={"limit_bytes": 10**12, "min_window_seconds": 0},
    )
    growth = find(result, "capacity.table_growth")
    assert [f.object for f in growth] == ["public.behavior_log"]
    assert growth[0].metrics["bytes_now"] > growth[0].metrics["bytes_then"]
    forecast = find(result, "capacity.forecast")
    assert len(forecast) == 1 and forecast[0].metrics["days_until_limit"] < 7


@pytest.mark.catalog
def test_table_growth_is_the_present_rate_not_the_average_since_the_oldest_snapshot(
    db: TestDatabase, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE behavior_log (id bigint PRIMARY KEY, payload text)")
    db.execute("INSERT INTO behavior_log SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g")
    with db.connect() as conn:
        [now_bytes] = [t.total_bytes for t in table_stats(conn) if t.table == "behavior_log"]
    store = store_at(tmp_path)
    now = datetime.now(UTC)

    def sizes_at(ago: timedelta, total_bytes: int) -> None:
        row = {"schema": "public", "table": "behavior_log", "total_bytes": total_bytes}
        store.save_snapshot(db.target.key, TABLES, [row], taken_at=now - ago)

    # weeks of a flat table, then a loop that started two hours ago: 1 MB in the last hour
    sizes_at(timedelta(days=20), now_bytes - 2 * 2**20)
    sizes_at(timedelta(hours=2), now_bytes - 2 * 2**20)
    sizes_at(timedelta(hours=1), now_bytes - 2**20)
    sizes_at(timedelta(minutes=1), now_bytes - 2**10)  # too recent for the 10-minute window
    options = {"warning_bytes_per_hour": 2**20 // 2}
    found = find(
        run(db, "capacity.table_growth", store=store, capacity__table_growth=options), "capacity.table_growth"
    )
    assert [f.object for f in found] == ["public.behavior_log"]
    assert found[0].metrics["bytes_then"] == now_bytes - 2**20  # the newest snapshot ≥ 10 min old
    assert 3000 <= found[0].metrics["window_seconds"] <= 4200
    # the same history averaged since its oldest snapshot is ~4 kB/h: the loop would go unnoticed
    rates = growth(size_history(store, db.target.key, TABLES), {"public.behavior_log": now_bytes}, now)
    assert rates[0].bytes_per_day / 24 < 2**20 // 2


@pytest.mark.catalog
def test_restore_test_counts_once_backups_exist(db: TestDatabase, tmp_path: Path) -> None:
    store = store_at(tmp_path)
    unknown = run(db, "backup.restore_test", store=store)  # no backup known, WAL archiving off
    assert unknown.report.skipped == []
    assert [(f.code, f.severity) for f in unknown.report.findings] == [
        ("backup.none_known", Severity.WARNING)
    ]
    store.add_record(db.target.key, "restore_test", {"passed": False})
    failed = find(run(db, "backup.restore_test", store=store), "backup.restore_test")
    assert [(f.severity, f.title) for f in failed] == [
        (Severity.CRITICAL, "No successful restore test recorded")
    ]
    old = datetime.now(UTC) - timedelta(days=9)
    store.add_record(db.target.key, "restore_test", {"passed": True}, recorded_at=old)
    stale = find(run(db, "backup.restore_test", store=store), "backup.restore_test")
    assert stale[0].title == "Last successful restore test was 9 days ago"
    store.add_record(db.target.key, "restore_test", {"passed": True})
    assert run(db, "backup.restore_test", store=store).report.findings == []


@pytest.mark.catalog
def test_score_caps_and_deductions(db: TestDatabase, tmp_path: Path) -> None:
    db.execute("CREATE TABLE nopk (v int)")
    store = store_at(tmp_path)
    store.add_record(db.target.key, "restore_test", {"passed": True})  # backed up: nopk is the one warning
    warned = run_checkup(db.target, store=store)
    score = health_score(warned)
    assert score.cap == 7.0 and score.score == 7.0 and score.uncapped > 9
    assert [d.check for d in score.deductions] == ["table.no_primary_key"]
    total = sum(c.weight for c in warned.ran)
    assert score.deductions[0].points == pytest.approx(10 * 1 * 0.5 / total)
    db.execute("CREATE TABLE enrollment (id serial PRIMARY KEY)")
    db.execute("SELECT setval('enrollment_id_seq', 2100000000)")
    critical = health_score(run_checkup(db.target, store=store))
    assert critical.cap == 4.0 and critical.score == 4.0
    assert critical.deductions[0].check == "safety.sequence_exhaustion"


def test_every_check_has_a_unique_name_and_positive_weight() -> None:
    names = [c.name for c in CHECKS]
    assert len(names) == len(set(names)) and all(c.weight > 0 for c in CHECKS)


def test_threshold_overrides_are_validated(db: TestDatabase) -> None:
    assert parse_overrides(["query.slow.threshold_ms=250"]) == {"query.slow": {"threshold_ms": 250}}
    with pytest.raises(InputError, match=r"CHECK\.PARAM=VALUE"):
        parse_overrides(["query.sloow.threshold_ms=1"])
    with pytest.raises(InputError, match="not a number"):
        parse_overrides(["query.slow.threshold_ms=fast"])
    assert parse_overrides(["index.missing_fk.min_rows=0.5"]) == {"index.missing_fk": {"min_rows": 0.5}}
    for bad in ("-5", "nan", "inf", "-inf", "true"):
        with pytest.raises(InputError, match=f"{bad!r} (must be a finite number ≥ 0|is not a number)"):
            parse_overrides([f"query.slow.threshold_ms={bad}"])
    with pytest.raises(InputError, match=r"^query\.slow has no threshold named 'no_such_knob'"):
        run(db, "query.slow", query__slow={"no_such_knob": 1})


def test_checkup_under_a_pg_monitor_role_names_what_it_skipped(db: TestDatabase) -> None:
    script(db, HEALTHY)
    role, password = f"mon_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    db.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE pg_monitor")
    try:
        params = psycopg.conninfo.conninfo_to_dict(db.dsn)
        params.update(user=role, password=password)
        params.pop("passfile", None)
        target = resolve_target(psycopg.conninfo.make_conninfo(**params))  # type: ignore[arg-type]
        result = run_checkup(target)
        skipped = {s.check: s.reason for s in result.report.skipped}
        assert (
            "safety.sequence_exhaustion" in skipped
            and "not readable" in skipped["safety.sequence_exhaustion"]
        )
        assert "table.bloat" in skipped and "pg_stats" in skipped["table.bloat"]
        ran = {c.name for c in result.ran}
        assert {
            "query.slow",
            "safety.wraparound",
            "safety.blocked_sessions",
            "index.duplicate",
            "settings",
        } <= ran
        # no history store given and WAL archiving off: no backup known (pg_stat_archiver is readable)
        assert [f.code for f in serious(result)] == ["backup.none_known"]
    finally:
        db.execute(f"DROP ROLE {role}")


@pytest.mark.catalog
def test_checkup_never_blocks_a_concurrent_writer(db: TestDatabase) -> None:
    script(db, HEALTHY)
    writer = db.connect(autocommit=False)
    writer.execute("SET lock_timeout = '100ms'")  # a write queued behind pgdba for 100 ms would fail
    writer.execute("UPDATE lesson SET position = position + 1 WHERE id <= 100")
    errors: list[BaseException] = []

    def checkup() -> None:
        try:
            run_checkup(db.target)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=checkup)
    thread.start()
    writes = 0
    while thread.is_alive():  # the writer keeps writing (same open transaction) while the check-up runs
        writer.execute("UPDATE lesson SET position = position + 1 WHERE id = %s", (1 + writes % 100,))
        writer.execute("INSERT INTO course (title) VALUES ('during check')")
        writes += 1
    thread.join()
    writer.commit()
    writer.close()
    assert errors == [] and writes >= 1
    with db.connect() as conn:
        row = conn.execute("SELECT count(*) FROM course WHERE title = 'during check'").fetchone()
    assert row == (writes,)


@pytest.mark.catalog
def test_unused_indexes_are_not_judged_on_young_statistics(db: TestDatabase) -> None:
    script(db, HEALTHY)
    db.execute("CREATE INDEX lesson_position_idx ON lesson (position)")
    db.execute("SELECT pg_stat_reset()")  # counters restart now: a week has not passed

    def stats_reset() -> object:
        with db.connect() as conn:
            row = conn.execute("SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()")
            return row.fetchone()

    eventually(stats_reset, lambda row: row is not None and row[0] is not None)  # 14 resets asynchronously
    result = run(db, "index.unused", index__unused={"min_size_bytes": 0})
    assert result.report.findings == []
    assert [s.check for s in result.report.skipped] == ["index.unused"]
    assert "too young to judge" in result.report.skipped[0].reason


@pytest.mark.catalog
def test_untested_server_version_is_named_in_the_notes(db: TestDatabase) -> None:
    with db.connect() as conn:
        facts = load_server_facts(conn)
    assert server_version_note(facts) is None  # the test cluster runs a tested major
    facts.version_num = 120017
    note = server_version_note(facts)
    assert note is not None and "12" in note
