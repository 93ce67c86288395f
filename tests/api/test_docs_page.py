"""/docs (Swagger UI) gets the Content-Security-Policy it needs; every other path keeps the strict one."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, Route

from tests.api.browser import CHROMIUM, headless_chromium
from tests.api.conftest import TOKEN, LiveDashboard

STRICT_POLICY = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"
CDN = "https://cdn.jsdelivr.net"


def directives(policy: str) -> dict[str, list[str]]:
    parsed = (part.split() for part in policy.split(";") if part.strip())
    return {name: sources for name, *sources in parsed}


def test_the_docs_page_allows_swagger_uis_cdn_and_its_own_inline_script_only(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and f"{CDN}/npm/swagger-ui-dist@5/swagger-ui-bundle.js" in page.text
    (inline,) = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    policy = directives(page.headers["content-security-policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == [CDN, f"'sha256-{digest}'"]
    assert policy["style-src"] == ["'self'", CDN]
    assert page.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", ["/openapi.json", "/api/v1/databases", "/", "/static/pgdba.css", "/nowhere"])
def test_every_other_path_keeps_the_strict_policy(client: TestClient, path: str) -> None:
    assert client.get(path).headers["content-security-policy"] == STRICT_POLICY


def test_redoc_and_the_oauth2_redirect_are_not_served(client: TestClient) -> None:
    # ReDoc was blank under the strict policy too; pgdba has no OAuth2 for the redirect page to serve
    assert client.get("/redoc").status_code == 404
    assert client.get("/docs/oauth2-redirect").status_code == 404


# Stand-ins for the two swagger-ui-dist files (the test machine has no Internet): the browser enforces the
# page's real policy on them and on the page's inline script, which is what this test is about.
STUB_BUNDLE = """
window.SwaggerUIBundle = function (config) {
  document.getElementById("swagger-ui").textContent = "loaded " + config.url;
};
window.SwaggerUIBundle.presets = { apis: {} };
"""
STUB_CSS = "#swagger-ui { border-top: 3px solid rgb(1, 2, 3); }"


@pytest.fixture
def page() -> Iterator[Page]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (system-deps)")
    with headless_chromium() as browser:
        context = browser.new_context(http_credentials={"username": "dba", "password": TOKEN})
        yield context.new_page()


def test_swagger_ui_starts_in_a_browser_under_the_docs_pages_policy(
    live_dashboard: LiveDashboard, page: Page
) -> None:
    def cdn(route: Route) -> None:
        if route.request.url.endswith(".js"):
            route.fulfill(body=STUB_BUNDLE, content_type="application/javascript")
        else:
            route.fulfill(body=STUB_CSS, content_type="text/css")

    page.route(f"{CDN}/**", cdn)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{live_dashboard.url}/docs")
    ui = page.locator("#swagger-ui")
    assert ui.inner_text() == "loaded /openapi.json"  # the CDN script and the inline bootstrap both ran
    assert ui.evaluate("e => getComputedStyle(e).borderTopColor") == "rgb(1, 2, 3)"  # the CDN stylesheet
    assert violations == []
