"""Error bodies of the API: `{"error", "detail"}` always, and a server named as host:port/dbname, never by
its connection string (user, password, passfile, sslpassword)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.target import resolve_target
from tests.api.conftest import free_port

# what a connection string carries and no response may show
LEAKS = ("reader_role", "Hunter2pw", "K3ySecret", ".pgpass", "postgresql://", "sslpassword", "user=")


@pytest.fixture(
    params=[
        "postgresql://reader_role:Hunter2pw@127.0.0.1:{port}/shop"
        "?passfile=/root/.pgpass&connect_timeout=2&sslpassword=K3ySecret",
        "host=127.0.0.1 port={port} dbname=shop user=reader_role password=Hunter2pw "
        "passfile=/root/.pgpass sslpassword='K3y Secret' connect_timeout=2",
    ],
    ids=["uri", "keywords"],
)
def unreachable(request: pytest.FixtureRequest) -> tuple[TestClient, str]:
    """A client of an API whose database nothing listens for, and that server's host:port/dbname."""
    port = free_port()
    target = resolve_target(request.param.format(port=port))
    return TestClient(create_app(ApiSettings(target))), f"127.0.0.1:{port}/shop"


def assert_no_connection_string(text: str) -> None:
    assert [leak for leak in LEAKS if leak in text] == []


def test_an_unreachable_database_is_a_503_naming_only_host_port_and_database(
    unreachable: tuple[TestClient, str],
) -> None:
    client, server = unreachable
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "ConnectionFailed"
    assert body["detail"].startswith(f"cannot connect to {server}: ")
    assert "refused" in body["detail"]
    assert_no_connection_string(response.text)


def test_dashboard_panels_and_metrics_name_an_unreachable_server_by_host_port_and_database(
    unreachable: tuple[TestClient, str],
) -> None:
    client, server = unreachable
    page = client.get("/space")
    assert page.status_code == 200 and f"cannot connect to {server}: " in page.text
    assert_no_connection_string(page.text)
    metrics = client.get("/metrics")
    assert f'pgdba_scrape_error{{error="cannot connect to {server}: ' in metrics.text
    assert_no_connection_string(metrics.text)


def test_a_validation_error_has_an_error_name_and_the_list_of_problems(client: TestClient) -> None:
    response = client.get("/api/v1/queries", params={"threshold": "abc"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "RequestValidationError"
    assert [problem["loc"] for problem in body["detail"]] == [["query", "threshold"]]


def test_an_unknown_path_and_a_wrong_method_have_an_error_name_too(client: TestClient) -> None:
    missing = client.get("/api/v1/no-such-endpoint")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "detail": "Not Found"}
    wrong = client.delete("/api/v1/databases")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"
    assert wrong.json() == {"error": "method_not_allowed", "detail": "Method Not Allowed"}
