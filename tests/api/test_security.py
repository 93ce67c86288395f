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
    assert anonymous.get("/space").status_code == 401
    assert token_client.get("/api/v1/databases").status_code == 200
    assert TOKEN not in token_client.get("/space").text
