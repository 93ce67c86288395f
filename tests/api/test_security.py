"""Security of the API: no CORS, size limits, token checks, security headers, a non-local bind needs a token."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import TOKEN


def test_no_cors_headers_for_another_origin(client: TestClient) -> None:
    preflight = client.options(
        "/api/v1/databases",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    get = client.get("/api/v1/databases", headers={"Origin": "https://evil.example"})
    assert get.status_code == 200 and "access-control-allow-origin" not in get.headers


def test_request_body_over_the_limit_is_413(client: TestClient) -> None:
    response = client.post("/api/v1/databases", content=b"x" * (65 * 1024))
    assert response.status_code == 413


def test_security_headers_on_pages_and_api(client: TestClient) -> None:
    for path in ("/api/v1/databases", "/space"):
        headers = client.get(path).headers
        assert headers["x-frame-options"] == "DENY"
        assert headers["content-security-policy"].startswith("default-src 'self'")


def test_token_protects_the_v1_api_and_pages(token_client: TestClient) -> None:
    anonymous = TestClient(token_client.app)
    assert anonymous.get("/api/v1/databases").status_code == 401
    refused = anonymous.get("/space")
    assert refused.status_code == 401 and refused.headers["x-frame-options"] == "DENY"
    assert token_client.get("/api/v1/databases").status_code == 200
    assert TOKEN not in token_client.get("/space").text


def test_the_dashboard_accepts_the_token_as_a_basic_auth_password(token_client: TestClient) -> None:
    anonymous = TestClient(token_client.app)
    challenge = anonymous.get("/space")
    assert challenge.headers["www-authenticate"] == 'Basic realm="pgdba"'
    assert anonymous.get("/space", auth=("dba", TOKEN)).status_code == 200
    assert anonymous.get("/space", auth=("dba", TOKEN + "x")).status_code == 401
    assert anonymous.get("/api/v1/databases").headers["www-authenticate"] == "Bearer"
