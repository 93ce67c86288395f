"""Security of the API: no CORS, size limits, token checks, security headers, a non-local bind needs a token."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pgdba.api.request_limits import RequestLimits
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


def test_a_request_over_the_time_limit_is_504() -> None:
    async def stuck(_: Request) -> JSONResponse:
        await asyncio.Event().wait()  # never set: only the limit can end this request
        return JSONResponse({})

    app = RequestLimits(Starlette(routes=[Route("/stuck", stuck, methods=["GET", "POST"])]), max_seconds=0.2)
    response = TestClient(app).get("/stuck")
    assert response.status_code == 504 and response.json()["error"] == "timeout"
    assert "keeps running" not in response.json()["detail"]
    # an action cannot be stopped halfway: the answer says it goes on
    action = TestClient(app).post("/stuck", json={})
    assert action.status_code == 504 and "keeps running on the server" in action.json()["detail"]


def test_a_streamed_body_over_the_limit_is_413_even_without_content_length(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 8192

    response = client.post("/api/v1/maintenance/vacuum-analyze", content=chunks())
    assert response.status_code == 413
