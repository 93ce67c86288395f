"""Review of the API and the dashboard: each panel shows what the matching endpoint reports."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from pgdba.api.actions import ACTION_RECORD
from pgdba.api.app import create_app
from pgdba.api.panels import indexes as index_panels
from pgdba.api.settings import ApiSettings
from pgdba.embedded import EmbeddedCluster
from pgdba.history.snapshot import DATABASE, INDEXES, TABLES, take_snapshot
from pgdba.history.store import open_store
from pgdba.optimizer import unused_index_report
from pgdba.server import load_server_facts
from pgdba.stats.indexes import index_stats
from pgdba.stats.tables import table_stats
from pgdba.target import Target, resolve_target, session
from tests.conftest import TestDatabase

VACUUM = "/api/v1/maintenance/vacuum-analyze"


def _panel(page: str, slug: str) -> str:
    """The HTML of one dashboard panel (its <section>)."""
    found = re.search(rf'<section class="panel" id="{slug}">(.*?)</section>', page, re.S)
    assert found, f"no panel {slug}"
    return found.group(1)


def test_unused_index_panel_does_not_offer_to_drop_an_index_younger_than_the_judging_window(
    seeded: TestDatabase, store_path: str, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the suite's statistics began when it started: the panel, like the API here, judges them at any age
    any_age = partial(unused_index_report, min_stats_age=timedelta(0))
    monkeypatch.setattr(index_panels, "unused_index_report", any_age)
    # a week-old index snapshot that predates lesson_course_idx: the API lists it as not judged yet
    with session(seeded.target) as conn:
        before = [ix.to_dict() for ix in index_stats(conn)]
    with open_store(store_path) as store:
        store.save_snapshot(
            seeded.target.key, INDEXES, before, taken_at=datetime.now(UTC) - timedelta(days=8)
        )
    seeded.execute("CREATE INDEX lesson_course_idx ON lesson (course_id, title)")
    api = client.get("/api/v1/indexes/unused", params={"minStatsAgeDays": 0}).json()
    assert [ix["index"] for ix in api["notJudged"]] == ["lesson_course_idx"]
    assert "lesson_course_idx" not in [ix["index"] for ix in api["indexes"]]
    panel = _panel(client.get("/indexes").text, "unused-indexes")
    assert "lesson_course_idx&#34;;" not in panel  # no DROP INDEX offered for it
    assert "unused but not judged: public.lesson_course_idx" in panel
    assert f'data-key="unused-count" data-value="{len(api["indexes"])}"' in panel


def test_vacuum_analyze_that_failed_is_not_recorded_as_done(
    token_client: TestClient, seeded: TestDatabase, store_path: str
) -> None:
    with seeded.connect(autocommit=False) as holder:
        holder.execute("LOCK TABLE lesson IN ACCESS EXCLUSIVE MODE")  # VACUUM's lock is not granted
        response = token_client.post(VACUUM, json={"confirm": True, "tables": ["public.lesson"]})
        holder.rollback()
    assert response.status_code == 200
    assert [t["status"] for t in response.json()["tables"]] == ["failed"]
    with open_store(store_path) as store:
        (_, record), *_ = store.records(seeded.target.key, ACTION_RECORD)
    assert record["subject"] == "public.lesson: failed"
    assert record["status"] == "failed"


def _monitor_target(db: TestDatabase, role: str, password: str) -> Target:
    """db as a pg_monitor role that may not SELECT the tables (pg_stats hides their columns)."""
    db.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE pg_monitor")
    params = psycopg.conninfo.conninfo_to_dict(db.dsn)
    params.update(user=role, password=password)
    params.pop("passfile", None)
    return resolve_target(psycopg.conninfo.make_conninfo(**params))  # type: ignore[arg-type]


def test_finding_panels_say_which_checks_could_not_run_instead_of_no_finding(db: TestDatabase) -> None:
    db.execute("CREATE TABLE course (id int PRIMARY KEY, title text)")
    db.execute("INSERT INTO course SELECT i, 't' || i FROM generate_series(1, 500) i")
    db.execute("ANALYZE course")
    role = f"mon_{uuid.uuid4().hex[:8]}"
    try:
        client = TestClient(create_app(ApiSettings(_monitor_target(db, role, uuid.uuid4().hex))))
        skipped = {s["check"] for s in client.get("/api/v1/checkup").json()["skipped"]}
        assert {"table.bloat", "index.bloat"} <= skipped
        table_findings = _panel(client.get("/maintenance").text, "table-findings")
        assert "table.bloat" in table_findings and "could not run" in table_findings
        index_health = _panel(client.get("/indexes").text, "index-health")
        assert "index.bloat" in index_health and "could not run" in index_health
    finally:
        db.execute(f"DROP ROLE {role}")


def test_database_size_history_is_found_when_the_dsn_names_no_database(
    db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # libpq connects to the database named like the user when the DSN names none (a common app DSN)
    monkeypatch.delenv("PGDATABASE", raising=False)
    password = uuid.uuid4().hex
    db.execute(f"CREATE ROLE \"{db.name}\" LOGIN SUPERUSER PASSWORD '{password}'")
    try:
        params = psycopg.conninfo.conninfo_to_dict(db.dsn)
        params.update(user=db.name, password=password)
        params.pop("passfile", None)
        params.pop("dbname", None)
        target = resolve_target(psycopg.conninfo.make_conninfo(**params))  # type: ignore[arg-type]
        store_path = str(tmp_path / "history.sqlite3")
        with open_store(store_path) as store, session(target) as conn:
            for _ in range(2):
                take_snapshot(conn, load_server_facts(conn), store, target.key, kinds=(DATABASE,))
        client = TestClient(create_app(ApiSettings(target, history_store=store_path)))
        history = client.get("/api/v1/capacity/history").json()
        assert history["object"] == db.name
        assert len(history["points"]) == 2
        growth = _panel(client.get("/space").text, "growth")
        assert "<svg" in growth and "run <code>pgdba snapshot</code>" not in growth
    finally:
        db.execute(f'DROP ROLE "{db.name}"')


def test_top_findings_link_to_the_checkup_of_the_database_shown(
    seeded: TestDatabase, pg_cluster: EmbeddedCluster
) -> None:
    for number in range(12):  # twelve warnings: more than the overview's ten
        seeded.execute(f"CREATE TABLE no_key_{number} (id int)")
    admin = resolve_target(pg_cluster.dsn("postgres"))
    client = TestClient(create_app(ApiSettings(admin, databases={"admin": admin, "app": seeded.target})))
    panel = _panel(client.get("/", params={"db": "app"}).text, "top-findings")
    assert 'href="/api/v1/checkup?db=app"' in panel


def test_growth_panel_tells_measured_zero_growth_from_missing_history(
    seeded: TestDatabase, store_path: str, client: TestClient
) -> None:
    # vacuumed first: an autovacuum between the two readings would add the free-space and visibility maps
    # to the table's size, which is growth to the forecast
    seeded.execute("VACUUM public.lesson")
    with session(seeded.target) as conn:
        tables = [t.to_dict() for t in table_stats(conn)]
    with open_store(store_path) as store:  # yesterday's sizes, the same as now: measured, not growing
        store.save_snapshot(seeded.target.key, TABLES, tables, taken_at=datetime.now(UTC) - timedelta(days=1))
    forecast = client.get("/api/v1/capacity/forecast").json()
    assert {t["table"]: t["bytesPerDay"] for t in forecast["tables"]} == {"public.lesson": 0}
    growth = _panel(client.get("/space").text, "growth")
    assert "no growth measured yet" not in growth
    assert "no table grew" in growth
