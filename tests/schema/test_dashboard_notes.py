"""The dashboard's Schema page and /api/v1/schema/check while a migration holds a table: the live source's
note naming the table it could not read is shown, not a bare "consistent", and each finding shows its fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from tests.locks import locked

PRISMA = """
datasource db {
  provider = "postgresql"
}

model Course {
  id    Int    @id(map: "Course_pkey")
  title String
}

model Lesson {
  id    Int     @id(map: "Lesson_pkey")
  title String?
}
"""
LIVE_DDL = (
    'CREATE TABLE "Course" (id int CONSTRAINT "Course_pkey" PRIMARY KEY, title text NOT NULL);'
    'CREATE TABLE "Lesson" (id int CONSTRAINT "Lesson_pkey" PRIMARY KEY, title text NOT NULL);'
)


@pytest.fixture
def client(db: Any, tmp_path: Path) -> TestClient:
    prisma = tmp_path / "schema.prisma"
    prisma.write_text(PRISMA)
    db.execute(LIVE_DDL)
    return TestClient(create_app(ApiSettings(db.target, schema_sources=(f"prisma:{prisma}",))))


@pytest.mark.catalog
def test_schema_page_names_the_table_a_migration_keeps_it_from_reading(db: Any, client: TestClient) -> None:
    db.execute('ALTER TABLE "Lesson" ALTER COLUMN title DROP NOT NULL')  # no drift: only the lock matters
    with locked(db, '"Course"'):
        body = client.get("/api/v1/schema/check").json()
        page = client.get("/schema").text
    live = next(s for s in body["sources"] if s["kind"] == "live")
    [note] = live["notes"]
    assert note.startswith("public.Course: not read") and "ACCESS EXCLUSIVE" in note
    assert body["consistent"] is True
    assert 'data-key="schema-not-read"' in page and "public.Course: not read" in page
    assert "consistent</strong> except what is listed" in page


@pytest.mark.catalog
def test_schema_page_shows_each_finding_with_its_fix(client: TestClient) -> None:
    body = client.get("/api/v1/schema/check").json()
    [finding] = body["pairs"][0]["findings"]
    assert finding["code"] == "schema.column.nullable"
    assert "make the field required: `title String`" in finding["recommendation"]
    assert finding["sql"] == 'ALTER TABLE "Lesson" ALTER COLUMN "title" DROP NOT NULL;'
    page = client.get("/schema").text
    assert "make the field required: `title String`" in page
    assert "ALTER TABLE &#34;Lesson&#34; ALTER COLUMN &#34;title&#34; DROP NOT NULL;" in page
