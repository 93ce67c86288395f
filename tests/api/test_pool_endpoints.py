"""/api/v1/pool: advice from the server's real limits, the last load test from its JSON file."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.render import to_json
from pgdba.target import Target
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


def test_pool_advice_and_dashboard_name_the_roles_connection_limit(
    seeded: TestDatabase, store_path: str
) -> None:
    role = f"pool_api_{uuid.uuid4().hex[:8]}"
    seeded.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD 'api-pw' CONNECTION LIMIT 10")
    params = conninfo_to_dict(seeded.dsn)
    params.pop("passfile", None)
    params.update(user=role, password="api-pw")
    target = Target(make_conninfo(**params), source="--dsn")
    try:
        client = TestClient(create_app(ApiSettings(target, history_store=store_path)))
        body = client.get("/api/v1/pool/advice", params={"instances": 6, "currentPoolSize": 5}).json()
        page = client.get("/connections")
    finally:
        seeded.execute(f'DROP ROLE "{role}"')
    assert body["server"]["role_name"] == role and body["server"]["role_connection_limit"] == 10
    assert body["binding_limit"] == "role"
    assert body["available_connections"] == 10 and body["total"] <= 10
    oversubscribed = next(f for f in body["findings"] if f["code"] == "pool.oversubscribed")
    assert oversubscribed["severity"] == "critical" and oversubscribed["metrics"]["total"] == 30
    assert page.status_code == 200
    assert f"10 available within role {role}'s CONNECTION LIMIT 10)" in page.text


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
    assert [r["size_reached"] for r in body["results"]] == [True, True]  # each pool open at its size
    page = client.get("/connections")
    assert 'data-key="pool-per-instance"' in page.text and '<td class="num">4</td>' in page.text


def test_a_broken_bench_file_is_409_not_500(seeded: TestDatabase, tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    path.write_text('{"results": "nope"}')
    client = TestClient(create_app(ApiSettings(seeded.target, pool_bench=str(path))))
    assert client.get("/api/v1/pool/bench").status_code == 409


def test_a_bench_size_below_its_nominal_size_is_flagged_and_old_files_still_read(
    seeded: TestDatabase, tmp_path: Path
) -> None:
    data = small_pool_bench(seeded.target).to_dict()
    data["results"][1].update(peak_server_connections=3, size_reached=False)
    path = tmp_path / "bench.json"
    path.write_text(to_json(data))
    client = TestClient(create_app(ApiSettings(seeded.target, pool_bench=str(path))))
    assert [r["size_reached"] for r in client.get("/api/v1/pool/bench").json()["results"]] == [True, False]
    assert (
        '<td class="num">3 <span class="sev-warning">(below the size)</span></td>'
        in client.get("/connections").text
    )
    for result in data["results"]:  # a file written before pgdba recorded it
        del result["size_reached"]
    path.write_text(to_json(data))
    body = client.get("/api/v1/pool/bench").json()
    assert [r["size_reached"] for r in body["results"]] == [None, None]
