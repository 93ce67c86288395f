"""/api/v1/alerts and the Alerts page: the rules in force and the state `pgdba alerts check` recorded."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from pgdba.alerts.check import check_alerts
from pgdba.alerts.rules import load_rules
from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.history.store import open_store
from tests.conftest import TestDatabase

# any database is over 1e-9 GB: the database_size rule fires at once
RULES = "[[rule]]\nname = 'database_size'\nwarn = 0.000000001\ncrit = 1000\nhysteresis = 0\n"


def test_alerts_show_the_rule_file_and_the_state_the_last_check_recorded(
    seeded: TestDatabase, tmp_path: Path, store_path: str
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    settings = ApiSettings(seeded.target, history_store=store_path, alert_rules=str(rules))
    client = TestClient(create_app(settings))
    assert client.get("/api/v1/alerts/state").json()["checkedAt"] is None
    assert "no alert check recorded" in client.get("/alerts").text

    with open_store(store_path) as store:
        check_alerts(seeded.target, store, load_rules(rules))
    rule = next(r for r in client.get("/api/v1/alerts/rules").json()["rules"] if r["name"] == "database_size")
    assert rule["warn"] == 0.000000001 and rule["source"] == f"default rules + {rules}"
    state = client.get("/api/v1/alerts/state").json()
    firing = state["states"][0]
    assert (firing["rule"], firing["object"], firing["level"]) == ("database_size", seeded.name, "warning")
    assert [(e["rule"], e["event"]) for e in state["events"]] == [("database_size", "firing")]
    page = client.get("/alerts").text
    assert 'data-key="alerts-firing" data-value="1"' in page and 'data-rule="database_size"' in page


def test_a_rule_the_last_check_could_not_measure_is_shown_as_unknown_not_ok(
    seeded: TestDatabase, store_path: str
) -> None:
    # no backup was ever recorded: backup_age cannot be measured, which must not read as "every rule is ok"
    client = TestClient(create_app(ApiSettings(seeded.target, history_store=store_path)))
    with open_store(store_path) as store:
        check_alerts(seeded.target, store, load_rules(None))
    states = {s["rule"]: s for s in client.get("/api/v1/alerts/state").json()["states"]}
    assert states["backup_age"]["level"] == "ok"
    assert states["backup_age"]["unknown"] == "unknown: no backup recorded in the history store"
    assert states["database_size"]["unknown"] is None  # measured
    page = client.get("/alerts").text
    assert 'data-key="alerts-unknown"' in page and "every rule is ok" not in page
    assert '<tr data-rule="backup_age"><td>backup_age</td>' in page
