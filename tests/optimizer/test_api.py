"""The four /debug/query-optimizer endpoints: same JSON as the CLI, 422 on hostile input, token checks."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.cli import main
from tests.conftest import TestDatabase


def _seed(db: TestDatabase) -> None:
    with db.connect() as conn:
        # autovacuum off: an autoanalyze between the CLI's and the API's reading changes what they report
        conn.execute(
            "CREATE TABLE lesson (id serial PRIMARY KEY, course_id int, title text) WITH (autovacuum_enabled = off)"
        )
        conn.execute("CREATE INDEX lesson_title_idx ON lesson (title)")
        conn.execute(
            "INSERT INTO lesson (course_id, title) SELECT i % 20, 't' || i FROM generate_series(1, 2000) i"
        )
        conn.execute("ANALYZE lesson")
        for course in range(5):
            conn.execute("SELECT id, title FROM lesson WHERE course_id = %s", (course,))
        if conn.info.server_version >= 150000:
            conn.execute("SELECT pg_stat_force_next_flush()")


@pytest.fixture
def client(db: TestDatabase) -> TestClient:
    _seed(db)
    return TestClient(create_app(ApiSettings(db.target)))


@pytest.mark.parametrize(
    "path",
    [
        "/debug/query-optimizer/analyze?threshold=0",
        "/debug/query-optimizer/indexes/usage",
        "/debug/query-optimizer/indexes/unused",
        "/debug/query-optimizer/capacity/tables",
    ],
)
def test_endpoint_returns_same_json_as_cli(
    client: TestClient, db: TestDatabase, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    body = response.json()
    command = {
        "analyze": ["queries", "analyze", "--threshold", "0"],  # both: deltas since the last snapshot
        "usage": ["indexes", "usage"],
        "unused": ["indexes", "unused"],
        "tables": ["capacity", "tables"],
    }[path.split("?")[0].rsplit("/", 1)[-1]]
    if body.get("notJudgedReason"):  # unused indexes on the young test cluster: the CLI says why, exit 2
        assert body["indexes"] == [] and main([*command, "--dsn", db.dsn, "--format", "json"]) == 2
        assert capsys.readouterr().err == f"pgdba: error: {body['notJudgedReason']}\n"
        return
    assert main([*command, "--dsn", db.dsn, "--format", "json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    volatile = {"window", "generated_at", "statsNote"}
    assert {k: v for k, v in body.items() if k not in volatile} == {
        k: v for k, v in cli.items() if k not in volatile
    }
    assert body["schema_version"] == 1


def test_analyze_has_the_seed_shape(client: TestClient) -> None:
    body = client.get("/debug/query-optimizer/analyze", params={"threshold": 0}).json()
    assert body["threshold"] == "0ms"
    rec = next(r for r in body["recommendations"] if "FROM lesson WHERE course_id" in r["query"])
    assert set(rec["metrics"]) >= {"calls", "meanTime", "totalTime", "cacheHitRatio"}
    assert rec["metrics"]["calls"] == 5
    assert {"type", "severity", "message"} == set(rec["issues"][0])


def test_analyze_counts_since_the_last_snapshot_like_the_cli(
    client: TestClient, db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["snapshot", "--dsn", db.dsn]) == 0  # into the default store, which the API reads too
    capsys.readouterr()
    with db.connect() as conn:
        for course in range(3):
            conn.execute("SELECT id, title FROM lesson WHERE course_id = %s", (course,))
    body = client.get("/debug/query-optimizer/analyze", params={"threshold": 0}).json()
    rec = next(r for r in body["recommendations"] if "FROM lesson WHERE course_id" in r["query"])
    assert rec["metrics"]["calls"] == 3  # not the cumulative 8
    assert body["window"]["from"] is not None
    assert main(["queries", "analyze", "--threshold", "0", "--dsn", db.dsn, "--format", "json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    cli_rec = next(r for r in cli["recommendations"] if "FROM lesson WHERE course_id" in r["query"])
    assert cli_rec["metrics"]["calls"] == 3 and cli["window"]["source"] == body["window"]["source"]


@pytest.mark.parametrize("threshold", ["-1", "abc", "1e308", "nan", "inf", "", "100; DROP TABLE lesson"])
def test_hostile_threshold_is_422(client: TestClient, threshold: str) -> None:
    response = client.get("/debug/query-optimizer/analyze", params={"threshold": threshold})
    assert response.status_code == 422


def test_openapi_describes_the_four_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("analyze", "indexes/usage", "indexes/unused", "capacity/tables"):
        assert f"/debug/query-optimizer/{path}" in paths


def test_token_is_required_when_configured(db: TestDatabase) -> None:
    client = TestClient(create_app(ApiSettings(db.target, token="s3cr3t-token")))
    assert client.get("/debug/query-optimizer/capacity/tables").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.get("/debug/query-optimizer/capacity/tables", headers=wrong).status_code == 401
    ok = client.get(
        "/debug/query-optimizer/capacity/tables", headers={"Authorization": "Bearer s3cr3t-token"}
    )
    assert ok.status_code == 200
    assert ok.headers["x-content-type-options"] == "nosniff"


def test_unreachable_database_is_503_without_password(db: TestDatabase) -> None:
    from pgdba.target import resolve_target

    target = resolve_target("postgresql://app:Hunter2Secret@127.0.0.1:1/x?connect_timeout=2")
    client = TestClient(create_app(ApiSettings(target)))
    response = client.get("/debug/query-optimizer/indexes/usage")
    assert response.status_code == 503
    assert "Hunter2Secret" not in response.text


def test_serve_refuses_non_loopback_bind_without_token(
    db: TestDatabase, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGDBA_TOKEN", raising=False)
    assert main(["serve", "--dsn", db.dsn, "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "without a token" in capsys.readouterr().err
