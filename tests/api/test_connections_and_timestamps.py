"""The Connections page counts the sessions it lists (pgdba's own left out of both); the pages' timestamps
say UTC."""

from __future__ import annotations

import re

import httpx
import psycopg
from fastapi.testclient import TestClient

from pgdba.api.dashboard import utc_minute
from tests.api.conftest import LiveDashboard
from tests.conftest import TestDatabase

UTC_MINUTE = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"


def test_activity_counts_the_sessions_it_lists(client: TestClient, seeded: TestDatabase) -> None:
    with psycopg.connect(seeded.target.dsn, application_name="counted-app"):
        body = client.get("/api/v1/connections/activity").json()
    assert "counted-app" in [s["application"] for s in body["sessions"]]
    assert body["connections"] == len(body["sessions"])


def test_connections_page_counts_the_listed_sessions_and_says_pgdba_is_left_out(
    client: TestClient, seeded: TestDatabase
) -> None:
    with psycopg.connect(seeded.target.dsn, application_name="counted-app"):
        html = client.get("/connections").text
    shown = re.search(r'data-key="connections" data-value="(\d+)"', html)
    assert shown is not None
    rows = re.findall(r"<tr data-pid=", html)
    assert int(shown.group(1)) == len(rows) >= 1
    assert "pgdba's own session is not counted" in html


def test_utc_minute_converts_to_utc_and_says_so() -> None:
    assert utc_minute("2026-11-29T12:58:31.123+01:00") == "2026-11-29 11:58 UTC"
    assert utc_minute("2026-11-29T11:58:31+00:00") == "2026-11-29 11:58 UTC"
    assert utc_minute("2026-11-29T11:58:31") == "2026-11-29 11:58 UTC"  # stored naive: pgdba writes UTC
    assert utc_minute(None) == ""


def _page(live_dashboard: LiveDashboard, path: str) -> str:
    with live_dashboard.api() as api:
        response = api.get(path)
    assert isinstance(response, httpx.Response) and response.status_code == 200
    return response.text


def test_backups_taken_column_says_utc(live_dashboard: LiveDashboard) -> None:
    html = _page(live_dashboard, "/backups")
    row = re.search(r"<tr data-backup=.*?</tr>", html)
    assert row is not None and re.search(rf"<td>{UTC_MINUTE}</td>", row.group(0)), row


def test_queries_window_start_says_utc(live_dashboard: LiveDashboard) -> None:
    html = _page(live_dashboard, "/queries")
    assert re.search(rf", since {UTC_MINUTE}\)", html), re.findall(r"statements analysed[^<]*", html)
