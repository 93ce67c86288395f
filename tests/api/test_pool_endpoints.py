"""/api/v1/pool: advice from the server's real limits, the last load test from its JSON file."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.render import to_json
from tests.api.conftest import small_pool_bench
from tests.conftest import TestDatabase


def test_pool_advice_reads_max_connections_and_shows_its_arithmetic(client: TestClient) -> None:
    body = client.get("/api/v1/pool/advice", params={"instances": 3}).json()
    assert body["server"]["max_connections"] == 120  # the test cluster's setting
    assert body["instances"] == 3
    assert body["total"] == body["per_instance"] * 3
    assert body["steps"] and all(step["formula"] for step in body["steps"])
    # the database's CONNECTION LIMIT (none here) and the other roles' hidden sessions reach the API too
    assert body["server"]["database_connection_limit"] == -1 and body["server"]["hidden_sessions"] == 0


def test_pool_advice_rejects_a_hostile_application_name(client: TestClient) -> None:
    response = client.get("/api/v1/pool/advice", params={"applicationName": "x'; DROP TABLE lesson; --"})
    assert response.status_code == 422


def test_pool_bench_without_a_results_file_is_409_saying_how(client: TestClient) -> None:
    response = client.get("/api/v1/pool/bench")
    assert response.status_code == 409
    assert "pgdba pool bench --out FILE" in response.json()["detail"]


def test_pool_bench_serves_the_load_test_results(seeded: TestDatabase, tmp_path: Path) -> None:
    report = small_pool_bench(seeded.target)
    path = tmp_path / "bench.json"
    path.write_text(to_json(report.to_dict()))
    client = TestClient(create_app(ApiSettings(seeded.target, pool_bench=str(path))))
    body = client.get("/api/v1/pool/bench").json()
    assert [r["pool_size"] for r in body["results"]] == [2, 4]
    assert sum(r["ok"] for r in body["results"]) == 80
    assert all("error_samples" not in r for r in body["results"])
    assert [r["pool_connection_errors"] for r in body["results"]] == [0, 0]
    page = client.get("/connections")
    assert 'data-key="pool-per-instance"' in page.text and '<td class="num">4</td>' in page.text


def test_a_broken_bench_file_is_409_not_500(seeded: TestDatabase, tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    path.write_text('{"results": "nope"}')
    client = TestClient(create_app(ApiSettings(seeded.target, pool_bench=str(path))))
    assert client.get("/api/v1/pool/bench").status_code == 409
