"""POST actions: refused without a configured token, refused without the token or confirmation, logged."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from pgdba.api.actions import ACTION_RECORD
from pgdba.history.store import open_store
from tests.api.conftest import TOKEN
from tests.conftest import TestDatabase

VACUUM = "/api/v1/maintenance/vacuum-analyze"


def _last_vacuum(db: TestDatabase) -> object:
    with db.connect() as conn:
        row = conn.execute("SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'lesson'").fetchone()
        return row[0] if row else None


def test_actions_are_refused_when_no_token_is_configured(client: TestClient, seeded: TestDatabase) -> None:
    response = client.post(VACUUM, json={"confirm": True})
    assert response.status_code == 403
    assert "--token" in response.json()["detail"]
    assert _last_vacuum(seeded) is None


def test_unauthenticated_post_is_refused(token_client: TestClient, seeded: TestDatabase) -> None:
    anonymous = TestClient(token_client.app)
    assert anonymous.post(VACUUM, json={"confirm": True}).status_code == 401
    wrong = {"Authorization": f"Bearer {TOKEN}x"}
    assert anonymous.post(VACUUM, json={"confirm": True}, headers=wrong).status_code == 401
    assert _last_vacuum(seeded) is None


@pytest.mark.parametrize("body", [{}, {"confirm": False}, {"confirm": "yes"}, {"tables": ["public.lesson"]}])
def test_post_without_confirmation_changes_nothing(
    token_client: TestClient, seeded: TestDatabase, body: dict[str, object]
) -> None:
    assert token_client.post(VACUUM, json=body).status_code == 422
    assert _last_vacuum(seeded) is None


def test_confirmed_vacuum_analyze_runs_and_is_logged(
    token_client: TestClient, seeded: TestDatabase, store_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pgdba.api.actions"):
        response = token_client.post(VACUUM, json={"confirm": True, "tables": ["public.lesson"]})
    assert response.status_code == 200
    assert response.json()["tables"] == [
        {
            "table": "public.lesson",
            "reasons": response.json()["tables"][0]["reasons"],
            "sql": 'VACUUM (ANALYZE) "public"."lesson";',
            "status": "done",
            "seconds": response.json()["tables"][0]["seconds"],
            "error": None,
        }
    ]
    assert _last_vacuum(seeded) is not None
    assert "action vacuum-analyze" in caplog.text and "public.lesson: done" in caplog.text
    with open_store(store_path) as store:
        (_, record), *_ = store.records(seeded.target.key, ACTION_RECORD)
    assert record["action"] == "vacuum-analyze" and record["subject"] == "public.lesson: done"


def test_a_table_that_does_not_exist_is_refused(token_client: TestClient) -> None:
    response = token_client.post(VACUUM, json={"confirm": True, "tables": ["public.nope"]})
    assert response.status_code == 422
    assert response.json()["detail"] == "no such table: public.nope"
