"""History: snapshot kinds, the PostgreSQL store, reset-robust deltas, retention, growth forecast."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from pgdba.cli import main
from pgdba.errors import InputError
from pgdba.history.deltas import reset_since, statements_since
from pgdba.history.pg_store import PostgresHistoryStore
from pgdba.history.snapshot import (
    KINDS,
    STATEMENTS,
    previous_statement_snapshot,
    snapshot_meta,
    take_snapshot,
)
from pgdba.history.store import HistoryStore, open_store
from pgdba.report.weekly import build_report
from pgdba.server import load_server_facts
from pgdba.stats.statements import StatementStats, statement_stats
from tests.checkup.helpers import find, run
from tests.conftest import TestDatabase


def _statement(stats: list[StatementStats], text: str) -> StatementStats:
    return next(s for s in stats if text in s.query)


@pytest.mark.catalog
def test_snapshot_stores_statements_tables_indexes_and_database(db: TestDatabase, tmp_path: Path) -> None:
    db.execute("CREATE TABLE course (id int PRIMARY KEY)")
    with open_store(str(tmp_path / "h.sqlite3")) as store, db.connect() as conn:
        summary = take_snapshot(conn, load_server_facts(conn), store, db.target.key)
        assert set(summary.kinds) == set(KINDS)
        tables = store.latest_snapshot(db.target.key, "tables")
        assert tables is not None and [r["table"] for r in tables.payload] == ["course"]
        indexes = store.latest_snapshot(db.target.key, "indexes")
        assert indexes is not None and [r["index"] for r in indexes.payload] == ["course_pkey"]
        database = store.latest_snapshot(db.target.key, "database")
        assert database is not None and database.payload[0]["database"] == db.name


@pytest.mark.catalog
def test_postgresql_store_keeps_history_in_a_pgdba_schema(db: TestDatabase) -> None:
    store = open_store(db.dsn)
    assert isinstance(store, PostgresHistoryStore)
    with store, db.connect() as conn:
        take_snapshot(conn, load_server_facts(conn), store, "app-db")
        store.add_record("app-db", "restore_test", {"passed": True, "at": datetime(2026, 1, 1, tzinfo=UTC)})
        store.add_record(
            "app-db", "restore_test", {"passed": False}, recorded_at=datetime.now(UTC) - timedelta(days=400)
        )
        assert [p["passed"] for _, p in store.records("app-db", "restore_test")] == [True, False]
        snap = store.latest_snapshot("app-db", "database")
        assert snap is not None and snap.payload[0]["database"] == db.name and "postmaster_start" in snap.meta
        assert store.prune(timedelta(days=365)) == 1
        row = conn.execute("SELECT count(*) FROM pgdba.snapshot WHERE target = 'app-db'").fetchone()
        assert row == (len(KINDS),)


@pytest.mark.catalog
def test_checkup_reads_its_history_from_the_postgresql_store(db: TestDatabase) -> None:
    db.execute("CREATE TABLE course (id int PRIMARY KEY, title text)")
    db.execute("INSERT INTO course VALUES (1, 'a')")
    assert main(["snapshot", "--dsn", db.dsn, "--store", db.dsn]) == 0
    with open_store(db.dsn) as store:
        result = run(db, "query.regression", "capacity.table_growth", store=store)
    assert {c.name for c in result.ran} == {"query.regression", "capacity.table_growth"}


@pytest.mark.catalog
def test_deltas_survive_a_statistics_reset_without_negative_numbers(db: TestDatabase, tmp_path: Path) -> None:
    db.execute("CREATE TABLE course (id int PRIMARY KEY)")
    db.execute("SELECT pg_stat_statements_reset()")
    query = "SELECT id FROM course WHERE id = %s"
    with db.connect() as conn:
        for i in range(30):
            conn.execute(query, (i,))
    with open_store(str(tmp_path / "h")) as store, db.connect() as conn:
        take_snapshot(conn, load_server_facts(conn), store, db.target.key)
        conn.execute("SELECT pg_stat_statements_reset()")
        for i in range(5):
            conn.execute(query, (i,))
        facts = load_server_facts(conn)
        current = statement_stats(conn, facts)
        found = previous_statement_snapshot(store, db.target.key)
    assert found is not None
    _, before, meta = found
    assert reset_since(meta, facts) == "pg_stat_statements was reset"
    since = statements_since(current, before, meta, facts)
    assert _statement(since, "FROM course").calls == 5  # the activity since the reset, not 5 − 30
    assert all(s.calls >= 0 and s.total_ms >= 0 for s in since)
    # where stats_reset is unknown (a snapshot without it), a restart counts as a reset
    restarted = {**meta, "statements_reset": None, "postmaster_start": "2000-01-01T00:00:00+00:00"}
    assert reset_since(restarted, facts) == "the server restarted"


@pytest.mark.catalog
def test_a_clean_restart_that_kept_the_counters_is_no_reset(db: TestDatabase, tmp_path: Path) -> None:
    # pg_stat_statements.save (the default) keeps counters and stats_reset across a clean restart: the
    # activity since the snapshot is then a subtraction, not the whole history since the statistics began
    db.execute("CREATE TABLE course (id int PRIMARY KEY)")
    query = "SELECT id FROM course WHERE id = %s"
    with db.connect() as conn:
        for i in range(30):
            conn.execute(query, (i,))
        facts = load_server_facts(conn)
        before = statement_stats(conn, facts)
        for i in range(4):
            conn.execute(query, (i,))
        now = load_server_facts(conn)
        current = statement_stats(conn, now)
    assert now.statements_reset is not None  # pg_stat_statements_info (14+) records it
    restarted = {**snapshot_meta(facts), "postmaster_start": "2000-01-01T00:00:00+00:00"}  # same stats_reset
    assert reset_since(restarted, now) is None
    assert _statement(statements_since(current, before, restarted, now), "FROM course").calls == 4


@pytest.mark.catalog
def test_snapshot_retention_prunes_old_entries(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "h.sqlite3")
    with open_store(path) as store:
        store.add_record(db.target.key, "report", {}, recorded_at=datetime.now(UTC) - timedelta(days=40))
        store.add_record(db.target.key, "report", {"kept": True})
    assert main(["snapshot", "--dsn", db.dsn, "--store", path, "--keep-days", "30"]) == 0
    assert "pruned 1 entries older than 30 days" in capsys.readouterr().out
    with open_store(path) as store:
        assert [p for _, p in store.records(db.target.key, "report")] == [{"kept": True}]


@pytest.mark.catalog
def test_capacity_forecast_from_snapshots(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "h.sqlite3")
    db.execute("CREATE TABLE behavior_log (id bigint PRIMARY KEY, payload text)")
    db.execute("CREATE TABLE course (id int PRIMARY KEY)")
    assert main(["snapshot", "--dsn", db.dsn, "--store", path]) == 0
    db.execute("INSERT INTO behavior_log SELECT g, repeat('x', 100) FROM generate_series(1, 10000) g")
    capsys.readouterr()
    # seconds of history are no trend: no rate yet, rather than a wild one
    assert (
        main(["capacity", "tables", "--dsn", db.dsn, "--store", path, "--forecast-days", "30", "-f", "json"])
        == 0
    )
    young = {r["table"]: r for r in json.loads(capsys.readouterr().out)["tables"]}["public.behavior_log"]
    assert young["bytesPerDay"] is None and young["forecastBytes"] is None
    with sqlite3.connect(path) as history:  # the first snapshot two hours back: a window worth a rate
        history.execute(
            "UPDATE snapshot SET taken_at = ?", ((datetime.now(UTC) - timedelta(hours=2)).isoformat(),)
        )
    assert (
        main(
            [
                "capacity",
                "tables",
                "--dsn",
                db.dsn,
                "--store",
                path,
                "--forecast-days",
                "30",
                "--format",
                "json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    rows = {r["table"]: r for r in data["tables"]}
    assert data["forecastDays"] == 30 and data["historySince"] is not None
    log = rows["public.behavior_log"]
    assert log["bytesPerDay"] > 0 and log["forecastBytes"] > log["totalBytes"]
    assert (
        rows["public.course"]["bytesPerDay"] == 0
        and rows["public.course"]["forecastBytes"] == rows["public.course"]["totalBytes"]
    )
    with open_store(path) as store:  # seconds of history are no trend for the 500 MB/hour alert
        assert find(run(db, "capacity.table_growth", store=store), "capacity.table_growth") == []


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("{tmp}/no-such-folder/h.sqlite3", "folder {tmp}/no-such-folder does not exist"),
        ("notadsn://x", "use a file path, sqlite:///absolute/path or postgresql://"),
        ("sqlite://relative.sqlite", "use a file path, sqlite:///absolute/path or postgresql://"),
        ("mysql://u:hunter2@h/db", "history store mysql://…: not a store pgdba knows"),
    ],
)
def test_a_mistyped_store_location_is_refused_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, location: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=re.escape(message.format(tmp=tmp_path))):
        open_store(location.format(tmp=tmp_path))
    assert list(tmp_path.iterdir()) == []  # no folder for the path, no `notadsn:` / `sqlite:` folder either


def test_an_existing_folder_store_and_sqlite_url_open(tmp_path: Path) -> None:
    with (
        open_store(str(tmp_path / "a.sqlite3")) as first,
        open_store(f"sqlite://{tmp_path}/b.sqlite3") as second,
    ):
        assert first.path.exists() and second.path == tmp_path / "b.sqlite3"


@pytest.mark.catalog
def test_a_table_locked_during_a_snapshot_fakes_no_growth(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "h.sqlite3")
    db.execute("CREATE TABLE busy (id bigint PRIMARY KEY, payload text)")
    db.execute("INSERT INTO busy SELECT g, repeat('x', 100) FROM generate_series(1, 10000) g")
    # never analysed: pg_class says 0 heap pages (1 for the new index), so a locked snapshot stores ~nothing
    with db.connect(autocommit=False) as migration:
        migration.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
        assert main(["snapshot", "--dsn", db.dsn, "--store", path]) == 0  # no wait for the lock
        migration.rollback()
    with open_store(path) as store:
        stored = {r["table"]: r for r in store.snapshots(db.target.key, "tables", limit=1)[0].payload}
        assert stored["busy"]["locked"] and stored["busy"]["total_bytes"] < 100_000
    capsys.readouterr()
    code = main(
        ["capacity", "tables", "--dsn", db.dsn, "--store", path, "--forecast-days", "30", "-f", "json"]
    )
    busy = {r["table"]: r for r in json.loads(capsys.readouterr().out)["tables"]}["public.busy"]
    assert code == 0 and busy["totalBytes"] > 1_000_000
    assert busy["bytesPerDay"] is None  # the only earlier sample was an estimate: no rate, not 0 → 1 MB


@pytest.mark.catalog
def test_a_password_in_a_utility_statement_never_reaches_the_store_or_the_output(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("DROP ROLE IF EXISTS history_leak")
    db.execute("CREATE ROLE history_leak")
    db.execute(
        "ALTER ROLE history_leak PASSWORD 'Sekrit-in-pgss-42'"
    )  # pg_stat_statements keeps utility text
    try:
        with db.connect() as conn:
            kept = conn.execute(
                "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%Sekrit-in-pgss-42%'"
            ).fetchone()
        assert kept == (1,)  # the leak this guards against is real on this server
        store = tmp_path / "h.sqlite3"
        assert main(["snapshot", "--dsn", db.dsn, "--store", str(store)]) == 0
        assert b"Sekrit-in-pgss-42" not in store.read_bytes()
        with open_store(str(store)) as history:
            texts = [
                row["query"] for row in history.snapshots(db.target.key, "statements", limit=1)[0].payload
            ]
        assert "ALTER ROLE history_leak PASSWORD $1" in texts
        assert main(["check", "--dsn", db.dsn, "-f", "json"]) in (0, 1)
        assert "Sekrit-in-pgss-42" not in capsys.readouterr().out
        assert (store.stat().st_mode & 0o777) == 0o600
    finally:
        db.execute("DROP ROLE history_leak")


def _snapshot_statements_at(conn: psycopg.Connection, store: HistoryStore, key: str, at: datetime) -> None:
    facts = load_server_facts(conn)
    payload = [s.to_dict() for s in statement_stats(conn, facts)]
    store.save_snapshot(key, STATEMENTS, payload, meta=snapshot_meta(facts), taken_at=at)


@pytest.mark.catalog
def test_weekly_report_top_queries_cover_the_week_not_the_last_hourly_snapshot(
    db: TestDatabase, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE course (id int PRIMARY KEY)")
    db.execute("SELECT pg_stat_statements_reset()")
    weekly = "SELECT id FROM course WHERE id = %s"
    early_in_week = "SELECT count(*) FROM course WHERE id > %s"
    now = datetime.now(UTC)
    with open_store(str(tmp_path / "h.sqlite3")) as store, db.connect() as conn:
        for i in range(10):
            conn.execute(weekly, (i,))
        _snapshot_statements_at(conn, store, db.target.key, now - timedelta(days=9))
        _snapshot_statements_at(conn, store, db.target.key, now - timedelta(days=8))  # the week's baseline
        for i in range(5):
            conn.execute(early_in_week, (i,))
        _snapshot_statements_at(conn, store, db.target.key, now - timedelta(days=6))
        for i in range(3):
            conn.execute(weekly, (i,))
        _snapshot_statements_at(conn, store, db.target.key, now - timedelta(minutes=30))  # the hourly one
        for i in range(2):
            conn.execute(weekly, (i,))
        report = build_report(db.target, store, save=False)
    assert report.queries_window == f"since the snapshot of {now - timedelta(days=8):%Y-%m-%d %H:%M} UTC"
    calls = {" ".join(q.query.split()): q.calls for q in report.top_queries}
    assert calls["SELECT id FROM course WHERE id = $1"] == 5  # 3 + 2 this week, not the 10 before it
    assert calls["SELECT count(*) FROM course WHERE id > $1"] == 5  # before the last hourly snapshot


@pytest.mark.catalog
def test_weekly_report_window_on_a_young_history_and_after_a_reset(db: TestDatabase, tmp_path: Path) -> None:
    db.execute("CREATE TABLE course (id int PRIMARY KEY)")
    db.execute("SELECT pg_stat_statements_reset()")
    query = "SELECT id FROM course WHERE id = %s"
    now = datetime.now(UTC)
    with open_store(str(tmp_path / "h.sqlite3")) as store, db.connect() as conn:
        for i in range(4):
            conn.execute(query, (i,))
        _snapshot_statements_at(conn, store, db.target.key, now - timedelta(days=2))  # the oldest there is
        _snapshot_statements_at(conn, store, db.target.key, now - timedelta(hours=1))
        for i in range(3):
            conn.execute(query, (i,))
        young = build_report(db.target, store, save=False)
        conn.execute("SELECT pg_stat_statements_reset()")
        conn.execute(query, (1,))
        reset = build_report(db.target, store, save=False)
    assert young.queries_window == f"since the snapshot of {now - timedelta(days=2):%Y-%m-%d %H:%M} UTC"
    assert [q.calls for q in young.top_queries if "FROM course WHERE id" in q.query] == [3]
    assert reset.queries_window.startswith("since pg_stat_statements was reset at ")
    assert [q.calls for q in reset.top_queries if "FROM course WHERE id" in q.query] == [1]


@pytest.mark.catalog
@pytest.mark.parametrize("kind_of_store", ["sqlite", "postgresql"])
def test_baseline_snapshot_is_the_newest_at_or_before_else_the_oldest(
    db: TestDatabase, tmp_path: Path, kind_of_store: str
) -> None:
    now = datetime.now(UTC)
    location = str(tmp_path / "h.sqlite3") if kind_of_store == "sqlite" else db.dsn
    with open_store(location) as store:
        for days in (9, 8, 2):
            store.save_snapshot("app", "statements", [{"days": days}], taken_at=now - timedelta(days=days))
        store.save_snapshot("other", "statements", [{"days": 30}], taken_at=now - timedelta(days=30))
        week = store.baseline_snapshot("app", "statements", now - timedelta(days=7))
        month = store.baseline_snapshot("app", "statements", now - timedelta(days=30))
        assert store.baseline_snapshot("app", "tables", now) is None
    assert week is not None and week.payload == [{"days": 8}]
    assert month is not None and month.payload == [{"days": 9}]  # nothing that old: the oldest there is
