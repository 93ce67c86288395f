"""The interactive API docs at /docs: FastAPI's Swagger UI page with the one Content-Security-Policy it needs.

Swagger UI loads its script and stylesheet from cdn.jsdelivr.net and starts with an inline script; the
site-wide policy (`default-src 'self'`) blocks all three. This page alone allows that origin, and the inline
script by its SHA-256 hash (FastAPI's page has no way to carry a nonce), never 'unsafe-inline' scripts.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

DOCS_PATH = "/docs"
SWAGGER_UI_ORIGIN = "https://cdn.jsdelivr.net"  # where FastAPI's page loads swagger-ui-dist from
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
# no online validator: its badge would send the OpenAPI document's address to validator.swagger.io
_SWAGGER_UI_PARAMETERS = {"validatorUrl": None}


def inline_script_hashes(html: str) -> list[str]:
    """The CSP source expressions (`'sha256-…'`) of the page's inline scripts, as a browser hashes them."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html)
    ]


def docs_policy(html: str) -> str:
    """The Content-Security-Policy of the docs page `html`: Swagger UI's origin for scripts and styles, the
    page's own inline scripts, no inline styles (swagger-ui-dist 5 needs none)."""
    scripts = " ".join([SWAGGER_UI_ORIGIN, *inline_script_hashes(html)])
    return f"default-src 'self'; script-src {scripts}; style-src 'self' {SWAGGER_UI_ORIGIN}; img-src 'self' data:"


def swagger_ui_page(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    root = str(request.scope.get("root_path", "")).rstrip("/")
    page = get_swagger_ui_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} - Swagger UI",
        swagger_favicon_url=f"{root}/static/favicon.svg",
        swagger_ui_parameters=_SWAGGER_UI_PARAMETERS,
    )
    page.headers["Content-Security-Policy"] = docs_policy(bytes(page.body).decode())
    return page


def add_docs_page(app: FastAPI) -> None:
    """Serve /docs (the app is created with FastAPI's own docs pages off)."""
    app.add_route(DOCS_PATH, swagger_ui_page, include_in_schema=False)
