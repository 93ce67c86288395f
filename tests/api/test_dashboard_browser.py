"""The dashboard in a real browser (Debian's chromium, headless): every page, its key numbers, the navigation.

Screenshots of every page go to test-artifacts/screenshots/ (gitignored; CI keeps them as artefacts).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

from tests.api.browser import NEEDS_CHROMIUM, headless_chromium
from tests.api.conftest import TOKEN, LiveDashboard

SCREENSHOTS = Path("test-artifacts/screenshots")

pytestmark = [NEEDS_CHROMIUM, pytest.mark.usefixtures("workload_recorded")]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium() as browser:
        yield browser


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # the server has a token: the dashboard takes it as the Basic-auth password, as a browser would send it
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, http_credentials={"username": "dba", "password": TOKEN}
    )
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"console errors: {errors}"


def _nav(page: Page) -> list[tuple[str, str]]:
    links = page.locator("header nav a")
    return [
        (links.nth(i).get_attribute("data-nav") or "", links.nth(i).inner_text())
        for i in range(links.count())
    ]


def test_every_page_loads_shows_its_panels_and_is_screenshotted(
    live_dashboard: LiveDashboard, page: Page
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # an application session sitting idle in a transaction, for the Connections page to show
    app_session = psycopg.connect(live_dashboard.target.dsn, application_name="elearning-app")
    app_session.execute('SELECT count(*) FROM "Course" WHERE id = 42')
    page.goto(live_dashboard.url + "/queries")
    nav = _nav(page)
    assert {"queries", "indexes", "space"} <= {slug for slug, _ in nav}
    for slug, title in nav:
        response = page.goto(f"{live_dashboard.url}/{'' if slug == 'overview' else slug}")
        assert response is not None and response.status == 200, slug
        assert page.locator("h1").inner_text() == title
        assert page.locator("section.panel").count() >= 1
        # a panel that cannot load says why; on the demo database every panel loads
        assert page.locator(".unavailable").all_inner_texts() == [], slug
        page.screenshot(path=str(SCREENSHOTS / f"{slug}.png"), full_page=True)
    page.goto(live_dashboard.url + "/connections")
    session_row = page.locator("#activity tr", has_text="elearning-app")
    assert "idle in transaction" in session_row.inner_text()
    assert "WHERE id = $1" in session_row.inner_text()  # the literal 42 never reaches the page
    app_session.close()


def test_navigation_clicks_through_every_page(live_dashboard: LiveDashboard, page: Page) -> None:
    page.goto(live_dashboard.url + "/space")
    for slug, title in _nav(page):
        page.locator(f'header nav a[data-nav="{slug}"]').click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == title
        assert page.locator(f'header nav a[data-nav="{slug}"]').get_attribute("class") == "active"


def test_key_numbers_match_the_api(live_dashboard: LiveDashboard, page: Page) -> None:
    api = live_dashboard.api()
    tables = api.get("/api/v1/capacity/tables").json()["tables"]
    page.goto(live_dashboard.url + "/space")
    assert int(page.locator('[data-key="table-count"]').get_attribute("data-value") or -1) == len(tables)
    largest = tables[0]
    row = page.locator(f'tr[data-table="{largest["schema"]}.{largest["table"]}"]')
    assert int(row.get_attribute("data-rows") or -1) == largest["rows"]

    top = api.get("/api/v1/queries/top", params={"limit": 15}).json()["statements"]
    page.goto(live_dashboard.url + "/queries")
    shown_top = page.locator('[data-key="top-total"] tr[data-queryid]')
    assert shown_top.first.get_attribute("data-queryid") == top[0]["queryid"]
    assert shown_top.count() == len(top) > 0

    health = api.get("/api/v1/health").json()
    page.goto(live_dashboard.url + "/")
    assert (
        float(page.locator('[data-key="health-score"]').get_attribute("data-value") or -1) == health["score"]
    )
    shown_deductions = page.locator("tr[data-check]").evaluate_all("rows => rows.map(r => r.dataset.check)")
    assert shown_deductions == [d["check"] for d in health["deductions"]]
    assert int(page.locator('[data-key="table-count"]').get_attribute("data-value") or -1) == len(tables)

    advice = api.get("/api/v1/advisor/indexes").json()
    page.goto(live_dashboard.url + "/indexes")
    shown_advice = page.locator("#index-advice [data-index]").evaluate_all("d => d.map(e => e.dataset.index)")
    assert shown_advice == [ix["name"] for ix in advice["indexes"]]
    assert page.locator('[data-key="patch-prisma"]').count() == 1  # the demo's Prisma file, patched

    unused = api.get("/api/v1/indexes/unused").json()
    page.goto(live_dashboard.url + "/indexes")
    shown = page.locator('[data-key="unused-count"]').get_attribute("data-value")
    assert int(shown or -1) == len(unused["indexes"])
    # the suite's statistics are younger than a week: no index is judged, and the page says why
    assert "too young to judge unused indexes" in unused["notJudgedReason"]
    assert page.locator("#unused-indexes").get_by_text("too young to judge unused indexes").count() == 1


def test_schema_page_matches_the_drift_report(live_dashboard: LiveDashboard, page: Page) -> None:
    report = live_dashboard.api().get("/api/v1/schema/check").json()
    page.goto(live_dashboard.url + "/schema")
    (pair,) = report["pairs"]
    shown = page.locator('[data-key="schema-findings"]').get_attribute("data-value")
    assert int(shown or -1) == len(pair["findings"])
    assert page.locator('[data-key="schema-consistent"]').get_attribute("data-value") == (
        "1" if report["consistent"] else "0"
    )


def test_alerts_page_matches_the_recorded_state(live_dashboard: LiveDashboard, page: Page) -> None:
    state = live_dashboard.api().get("/api/v1/alerts/state").json()
    rules = live_dashboard.api().get("/api/v1/alerts/rules").json()["rules"]
    page.goto(live_dashboard.url + "/alerts")
    firing = [s for s in state["states"] if s["level"] in ("warning", "critical") or s["pending"]]
    assert state["checkedAt"] is not None
    assert int(page.locator('[data-key="alerts-firing"]').get_attribute("data-value") or -1) == len(firing)
    assert page.locator("#alert-rules tr[data-rule]").count() == len(rules) > 0


def test_backups_page_matches_the_backup_list(live_dashboard: LiveDashboard, page: Page) -> None:
    listed = live_dashboard.api().get("/api/v1/backups").json()
    page.goto(live_dashboard.url + "/backups")
    assert int(page.locator('[data-key="backup-count"]').get_attribute("data-value") or -1) == len(
        listed["backups"]
    )
    last = listed["lastRestoreTest"]
    shown = page.locator('[data-key="restore-test-passed"]').get_attribute("data-value")
    assert shown == ("yes" if last["passed"] else "no")
