"""Action bodies: NaN / Infinity are a 422 with a JSON body (never a 500), `confirm` is JSON true only,
unknown fields are refused by name."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import TestDatabase

ACTION_ROUTES = (
    "/api/v1/advisor/verify",
    "/api/v1/advisor/apply",
    "/api/v1/maintenance/vacuum-analyze",
    "/api/v1/backups/run",
    "/api/v1/backups/restore-test",
)
JSON = {"Content-Type": "application/json"}


def _indexes_and_last_vacuum(db: TestDatabase) -> tuple[list[str], object]:
    with db.connect() as conn:
        indexes = [r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'lesson'")]
        row = conn.execute("SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'lesson'").fetchone()
    return sorted(indexes), row[0] if row else None


@pytest.mark.parametrize("route", ACTION_ROUTES)
@pytest.mark.parametrize(
    ("body", "echoed"), [('{"confirm": NaN}', "NaN"), ('{"confirm": 1e400}', "Infinity")]
)
def test_a_non_finite_confirm_is_422_json_on_every_action(
    token_client: TestClient, seeded: TestDatabase, route: str, body: str, echoed: str
) -> None:
    before = _indexes_and_last_vacuum(seeded)
    response = token_client.post(route, content=body, headers=JSON)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "confirm"] and error["input"] == echoed
    assert _indexes_and_last_vacuum(seeded) == before


@pytest.mark.parametrize(
    ("route", "field", "value", "echoed"),
    [
        ("/api/v1/advisor/verify", "budgetMb", "1e400", "Infinity"),
        ("/api/v1/advisor/apply", "budgetMb", "NaN", "NaN"),
        ("/api/v1/advisor/verify", "minImprovement", "-1e400", "-Infinity"),
        ("/api/v1/advisor/apply", "maxWidth", "1e400", "Infinity"),
        ("/api/v1/backups/restore-test", "backupId", "1e400", "Infinity"),
        ("/api/v1/maintenance/vacuum-analyze", "tables", "[NaN]", "NaN"),
    ],
)
def test_a_non_finite_field_is_422_json_echoing_it_as_a_string(
    token_client: TestClient, route: str, field: str, value: str, echoed: str
) -> None:
    response = token_client.post(route, content=f'{{"confirm": true, "{field}": {value}}}', headers=JSON)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert errors and all(e["loc"][:2] == ["body", field] for e in errors)
    assert errors[0]["input"] == echoed


@pytest.mark.parametrize("body", ["NaN", "[1e400]", '{"confirm": true, "tables": {"x": -1e400}}'])
def test_a_non_finite_value_anywhere_in_the_body_is_422_json(token_client: TestClient, body: str) -> None:
    response = token_client.post("/api/v1/maintenance/vacuum-analyze", content=body, headers=JSON)
    assert response.status_code == 422
    assert "Infinity" in response.text or "NaN" in response.text


def test_a_finite_budget_beyond_the_limit_is_refused_before_anything_runs(token_client: TestClient) -> None:
    response = token_client.post("/api/v1/advisor/verify", json={"confirm": True, "budgetMb": 1e308})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "budgetMb"]


@pytest.mark.parametrize("confirm", [1, 1.0, "true", "yes"])
@pytest.mark.parametrize("route", ["/api/v1/maintenance/vacuum-analyze", "/api/v1/advisor/verify"])
def test_only_json_true_confirms(
    token_client: TestClient, seeded: TestDatabase, route: str, confirm: object
) -> None:
    before = _indexes_and_last_vacuum(seeded)
    response = token_client.post(route, json={"confirm": confirm})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "confirm"]
    assert _indexes_and_last_vacuum(seeded) == before


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/api/v1/maintenance/vacuum-analyze", {"confirm": True, "tabels": ["public.lesson"]}),
        ("/api/v1/advisor/apply", {"confirm": True, "large_tables": True}),
        ("/api/v1/backups/run", {"confirm": True, "dryRun": True}),
        ("/api/v1/backups/restore-test", {"confirm": True, "backup": "x"}),
    ],
)
def test_an_unknown_body_field_is_422_naming_it(
    token_client: TestClient, seeded: TestDatabase, route: str, body: dict[str, object]
) -> None:
    before = _indexes_and_last_vacuum(seeded)
    response = token_client.post(route, json=body)
    assert response.status_code == 422
    (unknown,) = set(body) - {"confirm"}
    assert response.json()["detail"] == [
        {
            "type": "extra_forbidden",
            "loc": ["body", unknown],
            "msg": "Extra inputs are not permitted",
            "input": body[unknown],
        }
    ]
    assert _indexes_and_last_vacuum(seeded) == before


def test_large_tables_must_be_a_json_boolean(token_client: TestClient) -> None:
    response = token_client.post("/api/v1/advisor/apply", json={"confirm": True, "largeTables": "yes"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "largeTables"]


@pytest.mark.parametrize("skip", ["yes", "true", 1, None, []])
def test_skip_space_check_must_be_a_json_boolean(token_client: TestClient, skip: object) -> None:
    response = token_client.post(
        "/api/v1/backups/restore-test", json={"confirm": True, "skipSpaceCheck": skip}
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (["body", "skipSpaceCheck"], "Input should be a valid boolean")
