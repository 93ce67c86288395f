"""Copy buttons where `navigator.clipboard` is undefined (plain HTTP on another host is no secure context):
the fix's text is selected and copied with execCommand, or the button asks for Ctrl+C. Headless chromium
with the clipboard API removed by an init script, as on such an origin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.api.browser import NEEDS_CHROMIUM, headless_chromium
from tests.api.conftest import TOKEN, LiveDashboard

pytestmark = [NEEDS_CHROMIUM, pytest.mark.usefixtures("workload_recorded")]
NO_CLIPBOARD_API = "delete Navigator.prototype.clipboard;"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with headless_chromium() as browser:
        yield browser


@pytest.fixture
def page_without_clipboard_api(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(http_credentials={"username": "dba", "password": TOKEN})
    context.add_init_script(NO_CLIPBOARD_API)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"page errors: {errors}"


def test_copy_without_the_clipboard_api_selects_the_fix_and_copies_it(
    live_dashboard: LiveDashboard, page_without_clipboard_api: Page
) -> None:
    page = page_without_clipboard_api
    page.goto(live_dashboard.url + "/indexes")
    assert page.evaluate("typeof navigator.clipboard") == "undefined"
    block = page.locator("pre.fix").first
    button = page.locator("pre.fix + button.copy").first
    button.click()
    assert page.evaluate("window.getSelection().toString()") == block.text_content()
    assert button.inner_text() in ("copied", "press Ctrl+C")
