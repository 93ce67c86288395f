"""The FastAPI application: routers per area, pgdba errors as JSON 4xx/503 bodies, bearer-token access."""

from __future__ import annotations

import base64
import hmac
import ipaddress
import math
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from pgdba import __version__
from pgdba.api import (
    advisor_routes,
    alerts_routes,
    backup_routes,
    capacity_routes,
    checkup_routes,
    connections_routes,
    databases_routes,
    indexes_routes,
    maintenance_routes,
    optimizer_routes,
    pool_routes,
    queries_routes,
    schema_routes,
)
from pgdba.api.actions import ActionRefused, configure_action_log, log_refused_action, validation_summary
from pgdba.api.dashboard import dashboard_router
from pgdba.api.docs_page import add_docs_page
from pgdba.api.error_text import without_connection_strings
from pgdba.api.metrics import make_metrics_router
from pgdba.api.pages import PAGES
from pgdba.api.request_limits import RequestLimits
from pgdba.api.settings import ApiSettings, UnknownDatabase
from pgdba.errors import ConnectionFailed, InputError, NotAvailable, PgdbaError

_STATUS = {
    ActionRefused: 403,
    UnknownDatabase: 404,
    InputError: 422,
    NotAvailable: 409,
    ConnectionFailed: 503,
}
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def supplied_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer T` header, or the password of `Basic base64(user:T)`."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value, validate=True).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return ""
    return ""


def json_safe(value: Any) -> Any:
    """`value` with every NaN / ±Infinity float spelled as a string ("NaN", "Infinity", "-Infinity"):
    a JSON body may hold them (1e400 parses as inf) and a validation error echoes its input back."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def create_app(settings: ApiSettings) -> FastAPI:
    # FastAPI's own docs pages are off: /docs is added with the CSP it needs, ReDoc and the OAuth2 redirect
    # (pgdba has no OAuth2) are not served
    app = FastAPI(
        title="pgdba",
        version=__version__,
        description="PostgreSQL DBA and reliability toolkit API",
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.settings = settings
    configure_action_log()
    app.include_router(optimizer_routes.router)
    for area in (
        databases_routes,
        checkup_routes,
        queries_routes,
        indexes_routes,
        advisor_routes,
        capacity_routes,
        maintenance_routes,
        connections_routes,
        pool_routes,
        schema_routes,
        alerts_routes,
        backup_routes,
    ):
        app.include_router(area.router)
    app.include_router(dashboard_router(PAGES))
    app.include_router(
        make_metrics_router(settings.target, target_for=settings.target_for, store=settings.history_store)
    )
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    add_docs_page(app)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if settings.token and request.url.path not in ("/healthz",):
            supplied = supplied_token(request.headers.get("authorization", ""))
            if not hmac.compare_digest(supplied.encode(), settings.token.encode()):
                # Basic lets a browser ask for the token (as the password) on the dashboard pages
                challenge = (
                    "Bearer" if request.url.path.startswith(("/api/", "/debug/")) else 'Basic realm="pgdba"'
                )
                log_refused_action(request, 401, "no valid bearer token")
                response: Response = JSONResponse(
                    {"error": "unauthorized", "detail": "a valid bearer token is required"},
                    401,
                    headers={"WWW-Authenticate": challenge},
                )
            else:
                response = await call_next(request)
        else:
            response = await call_next(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    # Outermost: size and time limits apply before authentication and routing. No CORS middleware on
    # purpose: browsers on other origins cannot read the API.
    app.add_middleware(RequestLimits)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = json_safe(jsonable_encoder(exc.errors()))
        log_refused_action(request, 422, validation_summary(problems))
        return JSONResponse({"error": "RequestValidationError", "detail": problems}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # an unknown path (404) or method (405): the same {error, detail} body as every other error
        error = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
        return JSONResponse({"error": error, "detail": exc.detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(PgdbaError)
    async def pgdba_error(request: Request, exc: PgdbaError) -> JSONResponse:
        status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
        detail = without_connection_strings(str(exc))
        if not isinstance(exc, ActionRefused):  # require_action_allowed logged it
            log_refused_action(request, status, (detail.splitlines() or [""])[0])
        return JSONResponse({"error": type(exc).__name__, "detail": detail}, status)

    @app.exception_handler(psycopg.Error)
    async def database_error(_: Request, exc: psycopg.Error) -> JSONResponse:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return JSONResponse({"error": "database_error", "detail": without_connection_strings(first)}, 503)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
