"""A seeded database with a little workload, and clients of the API over it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from tests.conftest import TestDatabase

TOKEN = "test-token-5f0c2a"


def run_lesson_workload(db: TestDatabase, rounds: int = 5) -> None:
    with db.connect() as conn:
        for course in range(rounds):
            conn.execute("SELECT id, title FROM lesson WHERE course_id = %s", (course,))
        if conn.info.server_version >= 150000:
            conn.execute("SELECT pg_stat_force_next_flush()")


@pytest.fixture
def seeded(db: TestDatabase) -> TestDatabase:
    with db.connect() as conn:
        conn.execute("CREATE TABLE lesson (id serial PRIMARY KEY, course_id int, title text)")
        conn.execute("CREATE INDEX lesson_title_idx ON lesson (title)")
        conn.execute(
            "INSERT INTO lesson (course_id, title) SELECT i % 20, 't' || i FROM generate_series(1, 2000) i"
        )
        conn.execute("DELETE FROM lesson WHERE id % 4 = 0")
    run_lesson_workload(db)
    return db


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    return str(tmp_path / "history.sqlite3")


@pytest.fixture
def client(seeded: TestDatabase, store_path: str) -> TestClient:
    return TestClient(create_app(ApiSettings(seeded.target, history_store=store_path)))


@pytest.fixture
def token_client(seeded: TestDatabase, store_path: str) -> TestClient:
    app = create_app(ApiSettings(seeded.target, token=TOKEN, history_store=store_path))
    return TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})
