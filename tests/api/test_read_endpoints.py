"""The read-only /api/v1 endpoints: same numbers as the library, normalised texts, no credentials."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from pgdba.api.app import create_app
from pgdba.api.query_text import WITHHELD, normalised
from pgdba.api.settings import ApiSettings
from pgdba.embedded import EmbeddedCluster
from pgdba.history.snapshot import take_snapshot
from pgdba.history.store import open_store
from pgdba.server import load_server_facts
from pgdba.target import resolve_target, session
from tests.api.conftest import run_lesson_workload
from tests.conftest import TestDatabase


def test_databases_lists_names_and_keys_never_the_password(db: TestDatabase) -> None:
    target = resolve_target(db.dsn.replace("postgresql://", "postgresql://postgres:Hunter2Secret@", 1))
    body = TestClient(create_app(ApiSettings(target))).get("/api/v1/databases").json()
    assert body["databases"] == [{"name": "default", "key": target.key}]
    assert "Hunter2Secret" not in str(body)


def test_queries_lists_the_n_plus_one_lookup_with_a_normalised_text(client: TestClient) -> None:
    body = client.get("/api/v1/queries", params={"threshold": 0}).json()
    lookup = next(r for r in body["recommendations"] if "FROM lesson WHERE course_id" in r["query"])
    assert "$1" in lookup["query"]
    assert lookup["metrics"]["calls"] == 5


def test_normalised_replaces_literals_and_drops_comments() -> None:
    assert normalised("ALTER ROLE app PASSWORD 'Hunter2Secret'") == "ALTER ROLE app PASSWORD $1"
    assert normalised("SELECT * FROM t WHERE email = $1 AND n = 3 /* user=a@b.c */") == (
        "SELECT * FROM t WHERE email = $1 AND n = $2"
    )
    # pg_stat_activity texts may be cut short: literals are still found, or the text is withheld
    assert normalised("SELECT * FROM t WHERE email = 'a@b.c' AND id IN (1, ") == (
        "SELECT * FROM t WHERE email = $1 AND id IN ($2,"
    )
    assert normalised("SELECT * FROM t WHERE email = 'a@b.c") == WITHHELD


def test_query_history_follows_one_statement_across_snapshots(
    seeded: TestDatabase, client: TestClient, store_path: str
) -> None:
    with open_store(store_path) as store:
        for _ in range(2):
            with session(seeded.target) as conn:
                take_snapshot(conn, load_server_facts(conn), store, seeded.target.key)
            run_lesson_workload(seeded, rounds=3)
    queries = client.get("/api/v1/queries", params={"threshold": 0}).json()["recommendations"]
    queryid = next(r["queryid"] for r in queries if "FROM lesson WHERE course_id" in r["query"])
    history = client.get("/api/v1/queries/history", params={"queryid": queryid}).json()
    assert [p["calls"] for p in history["points"]] == [5, 8]
    assert "$1" in history["query"]
    page = client.get("/queries")
    assert "2 snapshot(s) in the history store" in page.text
    # the application's statements only (lookup, insert, delete), each with a line over both snapshots
    assert page.text.count("<figure data-queryid=") == 3
    assert f"queryid {queryid}: total time (ms)</text>" in page.text


@pytest.mark.parametrize(
    ("path", "library_key"),
    # (unused indexes judged on the test cluster's statistics, which began when the suite started)
    [("/api/v1/indexes/usage", "indexes"), ("/api/v1/indexes/unused?minStatsAgeDays=0", "indexes")],
)
def test_index_endpoints_report_the_seeded_index(client: TestClient, path: str, library_key: str) -> None:
    body = client.get(path).json()
    assert "lesson_title_idx" in [ix["index"] for ix in body[library_key]]


def test_unused_indexes_are_not_judged_on_statistics_younger_than_asked(client: TestClient) -> None:
    body = client.get("/api/v1/indexes/unused").json()  # a week by default
    assert body["indexes"] == [] and body["tooYoungToJudge"]
    assert "too young to judge unused indexes (wait at least 7 days)" in body["notJudgedReason"]
    assert body["notes"] == [body["notJudgedReason"]]


def test_capacity_counts_live_and_dead_rows(client: TestClient, seeded: TestDatabase) -> None:
    with seeded.connect() as conn:
        conn.execute("ANALYZE lesson")
    lesson = next(t for t in client.get("/api/v1/capacity/tables").json()["tables"] if t["table"] == "lesson")
    assert lesson["rows"] == 1500


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/queries?threshold=-1",
        "/api/v1/queries?db=../../etc",
        "/api/v1/queries/history?queryid=abc",
        "/api/v1/queries/history?queryid=99999999999999999999",
        "/api/v1/indexes/unused?maxScans=-3",
        "/api/v1/indexes/unused?minStatsAgeDays=-1",
        "/api/v1/indexes/unused?minStatsAgeDays=nan",
        "/api/v1/indexes/unused?minStatsAgeDays=1e9",
    ],
)
def test_hostile_parameters_are_422(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 422


@pytest.mark.parametrize("path", ["/api/v1/capacity/tables", "/space", "/"])
def test_unknown_database_name_is_404_naming_the_configured_ones(client: TestClient, path: str) -> None:
    response = client.get(path, params={"db": "nope"})
    assert response.status_code == 404
    assert response.json() == {
        "error": "UnknownDatabase",
        "detail": "no monitored database named 'nope'; configured: default",
    }


def test_top_statements_are_the_applications_without_pgdbas_catalog_queries(client: TestClient) -> None:
    client.get("/api/v1/capacity/tables")  # pgdba's own catalog queries are in pg_stat_statements now
    body = client.get("/api/v1/queries/top", params={"order": "mean", "limit": 50}).json()
    texts = [s["query"] for s in body["statements"]]
    assert any("FROM lesson WHERE course_id = $1" in t for t in texts)
    assert not any("pg_stat_user_tables" in t or "pg_class" in t for t in texts)
    means = [s["meanMs"] for s in body["statements"]]
    assert means == sorted(means, reverse=True)


def test_each_monitored_database_is_selected_by_name(
    seeded: TestDatabase, pg_cluster: EmbeddedCluster
) -> None:
    other = resolve_target(pg_cluster.dsn("postgres"))
    settings = ApiSettings(seeded.target, databases={"app": seeded.target, "admin": other})
    client = TestClient(create_app(settings))
    names = [d["name"] for d in client.get("/api/v1/databases").json()["databases"]]
    assert names == ["app", "admin"]
    app_tables = [
        t["table"] for t in client.get("/api/v1/capacity/tables", params={"db": "app"}).json()["tables"]
    ]
    admin_tables = [
        t["table"] for t in client.get("/api/v1/capacity/tables", params={"db": "admin"}).json()["tables"]
    ]
    assert "lesson" in app_tables and "lesson" not in admin_tables
    assert '<option value="admin" selected>' in client.get("/space", params={"db": "admin"}).text


def test_the_queries_page_reads_the_statements_texts_once(seeded: TestDatabase, store_path: str) -> None:
    """Its top statements (by total and by mean) and its statements with issues come from one read: at
    5,000 ORM statements a read of their texts took half the page's time. (pgdba's sessions are tracked
    here, so that pg_stat_statements counts its reads.)"""
    tracked = dataclasses.replace(seeded.target, track_statements=True)
    client = TestClient(create_app(ApiSettings(tracked, history_store=store_path)))

    def reads() -> int:
        with seeded.connect() as conn:
            row = conn.execute(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements"
                " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND query ~ '^\\s*SELECT s\\.queryid,\\s+s\\.dbid,'"
            ).fetchone()
        assert row is not None
        return int(row[0])

    before = reads()
    page = client.get("/queries")
    assert page.status_code == 200 and "FROM lesson WHERE course_id" in page.text
    assert reads() - before == 1
