"""/api/v1/schema/check and the Schema page: a Prisma file compared with the live database."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from tests.conftest import TestDatabase

PRISMA = """
datasource db {
  provider = "postgresql"
  url      = env("DATABASE_URL")
}

model Lesson {
  id       Int     @id @default(autoincrement())
  courseId Int?    @map("course_id")
  title    String?
  summary  String?

  @@index([title], map: "lesson_title_idx")
  @@map("lesson")
}
"""


def test_schema_check_reports_the_column_only_the_prisma_file_has(
    seeded: TestDatabase, tmp_path: Path
) -> None:
    prisma = tmp_path / "schema.prisma"
    prisma.write_text(PRISMA)
    client = TestClient(create_app(ApiSettings(seeded.target, schema_sources=(f"prisma:{prisma}",))))
    body = client.get("/api/v1/schema/check").json()
    assert body["consistent"] is False
    (pair,) = body["pairs"]
    assert [f["object"] for f in pair["findings"]] == ["lesson.summary"]
    page = client.get("/schema").text
    assert 'data-key="schema-findings"' in page and 'data-value="1"' in page and "lesson.summary" in page


def test_schema_check_without_sources_is_409_saying_how(client: TestClient) -> None:
    response = client.get("/api/v1/schema/check")
    assert response.status_code == 409
    assert "--schema-source prisma:PATH" in response.json()["detail"]
    assert "not available: no schema sources" in client.get("/schema").text
