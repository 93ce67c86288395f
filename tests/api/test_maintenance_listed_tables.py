"""POST vacuum-analyze with `tables`: a listed table runs even when the plan does not hold it (the caller
asked for it by name); a table that does not exist is a one-line 422 and nothing runs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import TestDatabase

VACUUM = "/api/v1/maintenance/vacuum-analyze"


def _vacuum_count(db: TestDatabase, table: str) -> int:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = %s", (table,)
        ).fetchone()
        assert row is not None
        return int(row[0])


def test_a_listed_table_outside_the_plan_is_vacuumed(token_client: TestClient, seeded: TestDatabase) -> None:
    with seeded.connect() as conn:
        conn.execute('CREATE TABLE "Notification" (id int PRIMARY KEY, body text)')
    planned = [t["table"] for t in token_client.get("/api/v1/maintenance").json()["tables"]]
    assert "public.Notification" not in planned
    response = token_client.post(VACUUM, json={"confirm": True, "tables": ["public.Notification"]})
    assert response.status_code == 200, response.text
    (done,) = response.json()["tables"]
    assert done["table"] == "public.Notification" and done["status"] == "done"
    assert done["sql"] == 'VACUUM (ANALYZE) "public"."Notification";'
    assert done["reasons"] == ["listed in the request (not in the maintenance plan)"]
    assert _vacuum_count(seeded, "Notification") == 1


def test_listed_tables_keep_the_plans_reasons(token_client: TestClient, seeded: TestDatabase) -> None:
    planned = {t["table"]: t["reasons"] for t in token_client.get("/api/v1/maintenance").json()["tables"]}
    assert "public.lesson" in planned
    response = token_client.post(VACUUM, json={"confirm": True, "tables": ["public.lesson"]})
    assert response.status_code == 200
    assert [(t["table"], t["reasons"]) for t in response.json()["tables"]] == [
        ("public.lesson", planned["public.lesson"])
    ]


def test_an_unknown_listed_table_is_a_one_line_422_and_nothing_runs(
    token_client: TestClient, seeded: TestDatabase
) -> None:
    before = _vacuum_count(seeded, "lesson")
    response = token_client.post(VACUUM, json={"confirm": True, "tables": ["public.lesson", "public.nope"]})
    assert response.status_code == 422
    assert response.json() == {"error": "InputError", "detail": "no such table: public.nope"}
    assert _vacuum_count(seeded, "lesson") == before
