"""Every refused action request is logged to stderr like the no-token refusal: bad token, unconfirmed
body, a refusal of the server (409), never with the token or the request body."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import TOKEN
from tests.conftest import TestDatabase

VACUUM = "/api/v1/maintenance/vacuum-analyze"
ACTIONS_LOGGER = "pgdba.api.actions"


def test_a_wrong_token_on_an_action_is_logged_without_the_token(
    token_client: TestClient, seeded: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    anonymous = TestClient(token_client.app)
    wrong = {"Authorization": "Bearer guess-123-secret"}
    with caplog.at_level(logging.WARNING, logger=ACTIONS_LOGGER):
        assert anonymous.post(VACUUM, json={"confirm": True}, headers=wrong).status_code == 401
    assert f"refused action {VACUUM} from testclient: 401" in caplog.text
    assert "guess-123-secret" not in caplog.text and TOKEN not in caplog.text


def test_a_missing_token_on_an_action_is_logged(
    token_client: TestClient, seeded: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=ACTIONS_LOGGER):
        assert TestClient(token_client.app).post(VACUUM, json={"confirm": True}).status_code == 401
    assert f"refused action {VACUUM} from testclient: 401" in caplog.text


@pytest.mark.parametrize("body", [{}, {"confirm": "yes"}])
def test_an_unconfirmed_action_is_logged_as_refused(
    token_client: TestClient, seeded: TestDatabase, caplog: pytest.LogCaptureFixture, body: dict[str, object]
) -> None:
    with caplog.at_level(logging.WARNING, logger=ACTIONS_LOGGER):
        assert token_client.post(VACUUM, json=body).status_code == 422
    (line,) = [r.getMessage() for r in caplog.records if "refused action" in r.getMessage()]
    assert line.startswith(f"refused action {VACUUM} from testclient: 422")
    assert "confirm" in line


def test_a_refused_action_never_logs_the_request_body(
    token_client: TestClient, seeded: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"confirm": True, "password": "hunter2-secret", "tables": "postgresql://u:pw-in-dsn@h/db"}
    with caplog.at_level(logging.WARNING, logger=ACTIONS_LOGGER):
        assert token_client.post(VACUUM, json=body).status_code == 422
    assert f"refused action {VACUUM} from testclient: 422" in caplog.text
    assert "hunter2-secret" not in caplog.text and "pw-in-dsn" not in caplog.text


def test_a_409_refusal_of_an_action_is_logged(
    token_client: TestClient, seeded: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=ACTIONS_LOGGER):
        response = token_client.post("/api/v1/backups/run", json={"confirm": True})
    assert response.status_code == 409
    assert "refused action /api/v1/backups/run from testclient: 409 no backup storage" in caplog.text


def test_the_no_token_refusal_is_logged_once(
    client: TestClient, seeded: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=ACTIONS_LOGGER):
        assert client.post(VACUUM, json={"confirm": True}).status_code == 403
    refusals = [r.getMessage() for r in caplog.records if "refused action" in r.getMessage()]
    assert len(refusals) == 1 and "no token configured" in refusals[0]


def test_a_refused_read_is_not_an_action(
    token_client: TestClient, seeded: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=ACTIONS_LOGGER):
        assert TestClient(token_client.app).get("/api/v1/maintenance").status_code == 401
        assert token_client.get("/api/v1/queries/top", params={"order": "x"}).status_code == 422
    assert "refused action" not in caplog.text


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
def test_an_action_refused_for_its_body_size_is_logged_without_the_body(
    token_client: TestClient, seeded: TestDatabase, caplog: pytest.LogCaptureFixture, declared: bool
) -> None:
    body = b'{"confirm": true, "x": "' + b"secret-filler " * 6000 + b'"}'

    def chunks() -> Iterator[bytes]:
        yield body

    with caplog.at_level(logging.WARNING, logger=ACTIONS_LOGGER):
        response = token_client.post(VACUUM, content=body if declared else chunks())
    assert response.status_code == 413
    assert f"refused action {VACUUM} from testclient: 413 request body is too large" in caplog.text
    assert "secret-filler" not in caplog.text
