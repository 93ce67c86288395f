"""Check-up, health, report, maintenance, capacity history and live activity over /api/v1."""

from __future__ import annotations

import threading
import time

import psycopg
from fastapi.testclient import TestClient

from pgdba.history.snapshot import take_snapshot
from pgdba.history.store import open_store
from pgdba.server import load_server_facts
from pgdba.target import session
from tests.conftest import TestDatabase


def test_checkup_and_health_agree_and_name_the_duplicate_index(
    client: TestClient, seeded: TestDatabase
) -> None:
    seeded.execute("CREATE INDEX lesson_title_copy_idx ON lesson (title)")
    checkup = client.get("/api/v1/checkup").json()
    duplicate = [f for f in checkup["findings"] if f["code"] == "index.duplicate"]
    assert duplicate and duplicate[0]["sql"].startswith("DROP INDEX CONCURRENTLY")
    health = client.get("/api/v1/health").json()
    assert health["score"] == checkup["score"]["score"] < 10
    assert "index.duplicate" in [d["check"] for d in health["deductions"]]
    page = client.get("/")
    assert f'data-value="{health["score"]}"' in page.text and 'data-code="index.duplicate"' in page.text


def test_report_has_score_findings_and_normalised_top_queries(client: TestClient) -> None:
    body = client.get("/api/v1/report").json()
    assert body["score"]["score"] <= 10 and body["diff"]["previous_at"] is None
    lookup = next(q for q in body["top_queries"] if "FROM lesson WHERE course_id" in q["query"])
    assert "$1" in lookup["query"] and lookup["calls"] == 5


def test_maintenance_plan_lists_the_table_with_dead_rows(client: TestClient) -> None:
    plan = client.get("/api/v1/maintenance").json()
    lesson = next(t for t in plan["tables"] if t["table"] == "public.lesson")
    assert lesson["sql"] == 'VACUUM (ANALYZE) "public"."lesson";' and lesson["status"] == "planned"
    assert "public.lesson" in client.get("/maintenance").text


def test_capacity_history_and_forecast_read_the_snapshots(
    client: TestClient, seeded: TestDatabase, store_path: str
) -> None:
    with open_store(store_path) as store, session(seeded.target) as conn:
        facts = load_server_facts(conn)
        take_snapshot(conn, facts, store, seeded.target.key)
        seeded.execute(
            "INSERT INTO lesson (course_id, title) SELECT 1, repeat('x', 500) FROM generate_series(1, 3000)"
        )
        take_snapshot(conn, facts, store, seeded.target.key)
    database = client.get("/api/v1/capacity/history").json()
    assert len(database["points"]) == 2 and database["points"][1]["bytes"] > database["points"][0]["bytes"]
    table = client.get("/api/v1/capacity/history", params={"table": "public.lesson"}).json()
    assert table["points"][1]["bytes"] > table["points"][0]["bytes"]
    forecast = client.get("/api/v1/capacity/forecast", params={"days": 7}).json()
    assert forecast["forecastDays"] == 7 and "public.lesson" in [t["table"] for t in forecast["tables"]]
    # two snapshots a moment apart: no growth yet, and the answer says why
    assert any("less than 1 h old" in note for note in forecast["notes"])


def test_activity_shows_a_blocked_chain_with_normalised_statements(
    client: TestClient, seeded: TestDatabase
) -> None:
    blocker = seeded.connect(autocommit=False)
    blocker.execute("UPDATE lesson SET title = 'BlockerSecret' WHERE id = 1")
    errors: list[BaseException] = []

    def blocked_update() -> None:
        try:
            with psycopg.connect(seeded.dsn, autocommit=True, application_name="waiter") as conn:
                conn.execute("UPDATE lesson SET title = 'WaiterSecret' WHERE id = 1")
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    waiter = threading.Thread(target=blocked_update)
    waiter.start()
    try:
        deadline = time.monotonic() + 30
        with seeded.connect() as watcher:
            while time.monotonic() < deadline:
                row = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'waiter' AND wait_event_type = 'Lock'"
                ).fetchone()
                if row and row[0] == 1:
                    break
        body = client.get("/api/v1/connections/activity").json()
        page = client.get("/connections").text
    finally:
        blocker.rollback()
        blocker.close()
        waiter.join(30)
    assert errors == []
    waiting = next(s for s in body["sessions"] if s["application"] == "waiter")
    assert waiting["blocked_by"] and waiting["query"] == "UPDATE lesson SET title = $1 WHERE id = $2"
    assert [c["metrics"]["blocked_pids"] for c in body["blockedChains"]] == [[waiting["pid"]]]
    for text in (str(body), page):
        assert "WaiterSecret" not in text and "BlockerSecret" not in text


def test_index_health_lists_the_unindexed_foreign_key_with_its_create_index(
    client: TestClient, seeded: TestDatabase
) -> None:
    with seeded.connect() as conn:
        conn.execute("CREATE TABLE course (id int PRIMARY KEY)")
        conn.execute("INSERT INTO course SELECT generate_series(0, 19)")
        # the check skips referencing tables under 10,000 rows
        conn.execute("CREATE TABLE attempt (id int PRIMARY KEY, course_id int REFERENCES course (id))")
        conn.execute("INSERT INTO attempt SELECT i, i % 20 FROM generate_series(1, 12000) i")
        conn.execute("ANALYZE attempt")
    body = client.get("/api/v1/indexes/health").json()
    missing = next(f for f in body["findings"] if f["code"] == "index.missing_fk")
    assert missing["object"] == "public.attempt" and "CREATE INDEX CONCURRENTLY" in missing["sql"]
    assert 'data-code="index.missing_fk"' in client.get("/indexes").text
