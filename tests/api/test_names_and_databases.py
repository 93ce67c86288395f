"""Names from the request: a control character in a table or index name is a 422 (not a 503 from the
database), and what the server logs of a request is escaped; `db=` is honoured by every route; the API's
JSON holds what the CLI's `-f json` holds, timestamps written the same way."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.embedded import EmbeddedCluster
from pgdba.target import resolve_target
from tests.api.conftest import TOKEN
from tests.conftest import TestDatabase

CONTROL_NAMES = ["public.\u0000lesson", "public.les\nson", "public.lesson\u001b[31m", "public.\u007flesson"]
OPTIMIZER_PATHS = [
    "/debug/query-optimizer/analyze",
    "/debug/query-optimizer/indexes/usage",
    "/debug/query-optimizer/indexes/unused",
    "/debug/query-optimizer/capacity/tables",
]
UNKNOWN_DB = {"error": "UnknownDatabase", "detail": "no monitored database named 'nope'; configured: default"}


def pgdba_json(*args: str) -> Any:
    run = subprocess.run([sys.executable, "-m", "pgdba", *args, "-f", "json"], capture_output=True, text=True)
    assert run.returncode in (0, 1), run.stderr  # 1: findings at the failing severity
    return json.loads(run.stdout)


def last_vacuum(db: TestDatabase) -> object:
    with db.connect() as conn:
        row = conn.execute("SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'lesson'").fetchone()
    assert row is not None
    return row[0]


@pytest.mark.parametrize("name", CONTROL_NAMES)
def test_a_table_name_with_a_control_character_is_422_and_nothing_is_vacuumed(
    token_client: TestClient, seeded: TestDatabase, name: str
) -> None:
    response = token_client.post(
        "/api/v1/maintenance/vacuum-analyze", json={"confirm": True, "tables": ["public.lesson", name]}
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "RequestValidationError"
    assert [problem["loc"] for problem in body["detail"]] == [["body", "tables", 1]]
    assert last_vacuum(seeded) is None


@pytest.mark.parametrize("route", ["/api/v1/advisor/apply", "/api/v1/advisor/verify"])
def test_an_index_name_with_a_control_character_is_422(token_client: TestClient, route: str) -> None:
    response = token_client.post(route, json={"confirm": True, "indexes": ["lesson_\u0000title_idx"]})
    assert response.status_code == 422, response.text
    assert [problem["loc"] for problem in response.json()["detail"]] == [["body", "indexes", 0]]


def test_a_capacity_history_table_with_a_control_character_is_422(client: TestClient) -> None:
    response = client.get("/api/v1/capacity/history", params={"table": "public.\u0000lesson"})
    assert response.status_code == 422
    assert [problem["loc"] for problem in response.json()["detail"]] == [["query", "table"]]


def test_names_without_control_characters_still_reach_the_database(token_client: TestClient) -> None:
    # unicode, blanks and quotes are legal in a quoted PostgreSQL identifier: the answer is "no such table"
    response = token_client.post(
        "/api/v1/maintenance/vacuum-analyze", json={"confirm": True, "tables": ['public."Lé ç\'on"']}
    )
    assert response.status_code == 422
    assert response.json() == {"error": "InputError", "detail": 'no such table: public."Lé ç\'on"'}


def refused_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused action")]


def test_a_refused_actions_log_line_escapes_control_characters_of_the_body(
    token_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pgdba.api.actions")
    # an unknown field is named in the validation problem (its loc), so the request's text reaches the log
    response = token_client.post(
        "/api/v1/advisor/apply", json={"confirm": True, "in\u0000dexes\nfake line": ["x"]}
    )
    assert response.status_code == 422
    [line] = refused_lines(caplog)
    assert line.startswith(
        "refused action /api/v1/advisor/apply from testclient: 422 body.in\\x00dexes\\nfake"
    )
    assert "\x00" not in line and "\n" not in line


def test_a_refused_actions_log_line_escapes_control_characters_of_the_path(
    seeded: TestDatabase, store_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pgdba.api.actions")
    client = TestClient(create_app(ApiSettings(seeded.target, token=TOKEN, history_store=store_path)))
    # NUL would make the log binary, ESC [2J clears the terminal reading it
    response = client.post("/api/v1/maintenance%00%1B[2J", json={"confirm": True})
    assert response.status_code == 401
    [line] = refused_lines(caplog)
    assert (
        line == "refused action /api/v1/maintenance\\x00\\x1b[2J from testclient: 401 no valid bearer token"
    )


@pytest.mark.parametrize("path", [*OPTIMIZER_PATHS, "/api/v1/pool/bench", "/api/v1/alerts/rules"])
def test_an_unknown_database_is_404_on_every_route(client: TestClient, path: str) -> None:
    response = client.get(path, params={"db": "nope"})
    assert response.status_code == 404
    assert response.json() == UNKNOWN_DB


@pytest.mark.parametrize("page", ["/", "/space"])
def test_a_dashboard_page_refuses_a_hostile_database_name_as_the_api_does(
    client: TestClient, page: str
) -> None:
    response = client.get(page, params={"db": "../../etc"})
    assert response.status_code == 422
    assert [problem["loc"] for problem in response.json()["detail"]] == [["query", "db"]]


def test_the_optimizer_endpoints_answer_about_the_named_database(
    seeded: TestDatabase, pg_cluster: EmbeddedCluster
) -> None:
    other = resolve_target(pg_cluster.dsn("postgres"))
    client = TestClient(
        create_app(ApiSettings(seeded.target, databases={"app": seeded.target, "admin": other}))
    )

    def tables(db: str) -> list[str]:
        response = client.get("/debug/query-optimizer/capacity/tables", params={"db": db})
        assert response.status_code == 200
        return [t["table"] for t in response.json()["tables"]]

    def indexes(db: str) -> list[str]:
        response = client.get("/debug/query-optimizer/indexes/usage", params={"db": db})
        assert response.status_code == 200
        return [i["index"] for i in response.json()["indexes"]]

    assert "lesson" in tables("app") and "lesson" not in tables("admin")
    assert "lesson_title_idx" in indexes("app") and "lesson_title_idx" not in indexes("admin")
    assert client.get("/debug/query-optimizer/indexes/unused", params={"db": "admin"}).status_code == 200
    # threshold 0: every statement is slow, the lesson workload's among them; the admin database has its
    # own statements (or no pg_stat_statements: 409), never the app's
    analyze = "/debug/query-optimizer/analyze"
    app = client.get(analyze, params={"db": "app", "threshold": 0})
    assert app.status_code == 200 and "FROM lesson" in app.text
    admin = client.get(analyze, params={"db": "admin", "threshold": 0})
    assert admin.status_code in (200, 409) and "FROM lesson" not in admin.text


def test_pool_advice_has_the_clis_server_fields_with_connections_to_this_database(
    client: TestClient, seeded: TestDatabase
) -> None:
    with (
        psycopg.connect(seeded.dsn, application_name="sized-app"),
        psycopg.connect(seeded.dsn, application_name="sized-app"),
    ):
        api = client.get("/api/v1/pool/advice").json()["server"]
        cli = pgdba_json("pool", "advise", "--dsn", seeded.dsn)["server"]
    assert sorted(api) == sorted(cli)
    assert api["database_connections_by_application"]["sized-app"] == 2
    assert cli["database_connections_by_application"]["sized-app"] == 2


def stats_resets(body: dict[str, Any]) -> dict[str, str]:
    return {f["code"]: f["metrics"]["stats_reset"] for f in body["findings"] if "stats_reset" in f["metrics"]}


def test_checkup_timestamps_in_finding_metrics_are_written_as_the_cli_writes_them(
    seeded: TestDatabase, store_path: str
) -> None:
    seeded.execute("DROP EXTENSION pg_stat_statements")
    client = TestClient(create_app(ApiSettings(seeded.target, history_store=store_path)))
    api = stats_resets(client.get("/api/v1/checkup").json())
    assert api, "no finding carries stats_reset: the test no longer covers a timestamp in metrics"
    assert api == stats_resets(pgdba_json("check", "--dsn", seeded.dsn))
    assert all(value.endswith("+00:00") for value in api.values()), api
