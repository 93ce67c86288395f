"""The slow_queries alert names its statement's pg_stat_statements queryid as a string, as every other pgdba
JSON does (a 64-bit number loses its last digits in JavaScript)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pgdba.alerts.check import EVENT_KIND
from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.cli import main
from pgdba.history.store import open_store
from tests.conftest import TestDatabase

# every statement's mean time is over 1e-6 ms: slow_queries fires at once
RULES = "[[rule]]\nname = 'slow_queries'\nwarn = 0.000001\ncrit = 1000000\nhysteresis = 0\n"


def queryids_of(db: TestDatabase, query: str) -> set[str]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT queryid::text FROM pg_stat_statements WHERE query = %s", (query,)
        ).fetchall()
    return {row[0] for row in rows}


def test_the_slow_query_alert_gives_the_queryid_as_a_string_in_the_cli_json_and_the_api(
    seeded: TestDatabase, tmp_path: Path, store_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    code = main(
        ["alerts", "check", "--dsn", seeded.dsn, "--rules", str(rules), "--store", store_path, "-f", "json"]
    )
    assert code == 0
    checked = json.loads(capsys.readouterr().out)
    (slow,) = [a for a in checked["alerts"] if a["rule"] == "slow_queries"]
    assert slow["status"] == "warning"
    assert isinstance(slow["detail"]["queryid"], str)
    assert slow["detail"]["queryid"] in queryids_of(seeded, slow["detail"]["query"])

    client = TestClient(create_app(ApiSettings(seeded.target, history_store=store_path)))
    (event,) = [e for e in client.get("/api/v1/alerts/state").json()["events"] if e["rule"] == "slow_queries"]
    assert event["detail"]["queryid"] == slow["detail"]["queryid"]


def test_an_event_stored_with_a_numeric_queryid_is_served_with_a_string_one(
    seeded: TestDatabase, store_path: str
) -> None:
    earlier: dict[str, Any] = {  # what pgdba stored before the queryid became a string
        "rule": "slow_queries",
        "object": seeded.name,
        "event": "firing",
        "status": "warning",
        "level": "warning",
        "value": 1500.0,
        "unit": "ms",
        "summary": "Highest mean execution time (ms) of a statement since the last check (pg_stat_statements)",
        "detail": {"queryid": -6139691773363160371, "calls": 3, "query": "SELECT $1"},
    }
    with open_store(store_path) as store:
        store.add_record(seeded.target.key, EVENT_KIND, earlier, recorded_at=datetime.now(UTC))
    client = TestClient(create_app(ApiSettings(seeded.target, history_store=store_path)))
    (event,) = client.get("/api/v1/alerts/state").json()["events"]
    assert event["detail"] == {"queryid": "-6139691773363160371", "calls": 3, "query": "SELECT $1"}
