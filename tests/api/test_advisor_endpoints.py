"""/api/v1/advisor: index advice with before/after costs and its fixes, the proof, the confirmed apply."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from tests.api.conftest import TOKEN
from tests.conftest import TestDatabase

PRISMA = """
datasource db {
  provider = "postgresql"
  url      = env("DATABASE_URL")
}

model Attempt {
  id       Int  @id
  courseId Int  @map("course_id")
  score    Int

  @@map("attempt")
}
"""


@pytest.fixture
def attempts(db: TestDatabase) -> TestDatabase:
    """50,000 attempts and a lookup by course_id with no index on it: the advisor's obvious case."""
    with db.connect() as conn:
        # (no autovacuum: a visibility map set between two requests would turn the advice covering)
        conn.execute(
            "CREATE TABLE attempt (id int PRIMARY KEY, course_id int NOT NULL, score int NOT NULL)"
            " WITH (autovacuum_enabled = off)"
        )
        conn.execute("INSERT INTO attempt SELECT i, i % 500, i % 100 FROM generate_series(1, 50000) i")
        conn.execute("ANALYZE attempt")
        conn.execute("SELECT pg_stat_statements_reset()")  # the load's writes are not the workload
        for course in range(20):
            conn.execute("SELECT id, score FROM attempt WHERE course_id = %s", (course,))
        if conn.info.server_version >= 150000:
            conn.execute("SELECT pg_stat_force_next_flush()")
    return db


def _client(db: TestDatabase, tmp_path: Path, *, token: str | None = None) -> TestClient:
    prisma = tmp_path / "schema.prisma"
    prisma.write_text(PRISMA)
    settings = ApiSettings(db.target, token=token, schema_sources=(f"prisma:{prisma}",))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return TestClient(create_app(settings), headers=headers)


def _index_exists(db: TestDatabase) -> bool:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'attempt' AND indexdef LIKE '%(course_id)%'"
        ).fetchone()
        return bool(row and row[0])


@pytest.mark.hypopg
def test_advice_has_before_after_costs_and_sql_and_prisma_fixes(
    attempts: TestDatabase, tmp_path: Path
) -> None:
    client = _client(attempts, tmp_path)
    body = client.get("/api/v1/advisor/indexes").json()
    (index,) = [ix for ix in body["indexes"] if ix["table"] == "attempt"]
    assert index["columns"][0] == "course_id" and index["status"] == "estimated"
    lookup = next(q for q in index["queries"] if "WHERE course_id = $1" in q["query"])
    assert lookup["calls"] == 20 and lookup["cost_after"] < lookup["cost_before"]
    assert body["fixes"]["sql"] == [index["sql"] + ";"]
    (patch,) = body["fixes"]["patches"]
    assert patch["kind"] == "prisma" and "+  @@index([courseId" in patch["diff"]
    assert patch["notes"] == []  # a 2 MB table: Prisma Migrate's plain CREATE INDEX takes a moment there
    page = client.get("/indexes").text
    assert f'data-index="{index["name"]}"' in page and "CREATE INDEX CONCURRENTLY" in page
    assert not _index_exists(attempts)  # advice reads only (HypoPG indexes)
    default = client.get("/api/v1/advisor/indexes", params={"staticFillfactor": 90}).json()
    assert default["settings"]["static_fillfactor"] == 90
    assert all(ix["fillfactor"] == 90 and "fillfactor" not in ix["sql"] for ix in default["indexes"])
    assert client.get("/api/v1/advisor/indexes", params={"staticFillfactor": 5}).status_code == 422


def test_apply_is_refused_without_a_configured_token_or_confirmation(
    attempts: TestDatabase, tmp_path: Path
) -> None:
    assert (
        _client(attempts, tmp_path).post("/api/v1/advisor/apply", json={"confirm": True}).status_code == 403
    )
    with_token = _client(attempts, tmp_path, token=TOKEN)
    assert with_token.post("/api/v1/advisor/apply", json={}).status_code == 422
    assert TestClient(with_token.app).post("/api/v1/advisor/apply", json={"confirm": True}).status_code == 401
    assert not _index_exists(attempts)


@pytest.mark.hypopg
def test_confirmed_apply_creates_the_advised_index(attempts: TestDatabase, tmp_path: Path) -> None:
    client = _client(attempts, tmp_path, token=TOKEN)
    body = client.post("/api/v1/advisor/apply", json={"confirm": True}).json()
    created = [c["index"] for c in body["verification"]["created"]]
    assert created and body["verification"]["where"] == "target" and body["verification"]["failed"] == []
    assert _index_exists(attempts)


@pytest.mark.hypopg
def test_verify_measures_before_and_after_on_a_scratch_copy(attempts: TestDatabase, tmp_path: Path) -> None:
    client = _client(attempts, tmp_path, token=TOKEN)
    proof = client.post("/api/v1/advisor/verify", json={"confirm": True}).json()["verification"]
    assert proof["where"] == "scratch copy"
    assert proof["queries"] and all("values" not in q for q in proof["queries"])
    assert proof["after_ms"] < proof["before_ms"]
    assert not _index_exists(attempts)  # the target itself is only read


@pytest.mark.hypopg
def test_advice_names_the_unindexed_foreign_key_its_index_serves(
    attempts: TestDatabase, tmp_path: Path
) -> None:
    attempts.execute(
        "CREATE TABLE course (id int PRIMARY KEY); INSERT INTO course SELECT generate_series(0, 499);"
        " ALTER TABLE attempt ADD CONSTRAINT attempt_course_fk FOREIGN KEY (course_id) REFERENCES course (id)"
    )
    body = _client(attempts, tmp_path).get("/api/v1/advisor/indexes").json()
    (index,) = [ix for ix in body["indexes"] if ix["table"] == "attempt"]
    assert index["serves_foreign_keys"] == ["attempt_course_fk"]
    assert (index["opclasses"], index["functions"]) == ({}, {})  # plain keys
    (finding,) = [f for f in body["findings"] if f["code"] == "advisor.create_index"]
    assert "also indexes foreign key attempt_course_fk" in finding["recommendation"]
    page = _client(attempts, tmp_path).get("/indexes").text
    assert '<p data-key="serves-foreign-keys">It also indexes foreign key attempt_course_fk' in page


@pytest.mark.hypopg
def test_the_page_writes_an_expression_key_as_its_expression(db: TestDatabase, tmp_path: Path) -> None:
    with db.connect() as conn:
        conn.execute(
            "CREATE TABLE member (id int PRIMARY KEY, email text NOT NULL) WITH (autovacuum_enabled = off)"
        )
        conn.execute(
            "INSERT INTO member SELECT i, 'User' || i || '@Example.com' FROM generate_series(1, 50000) i"
        )
        conn.execute("ANALYZE member")
        conn.execute("SELECT pg_stat_statements_reset()")
        for i in range(20):
            conn.execute("SELECT id FROM member WHERE lower(email) = %s", (f"user{i}@example.com",))
        if conn.info.server_version >= 150000:
            conn.execute("SELECT pg_stat_force_next_flush()")
    client = _client(db, tmp_path)
    (index,) = client.get("/api/v1/advisor/indexes").json()["indexes"]
    assert index["functions"] == {"email": "lower"}
    # (with or without an INCLUDE of the other columns the query reads, as the estimates decide)
    assert f"<h3>{index['name']} on public.member (lower(email))" in client.get("/indexes").text


def test_without_hypopg_the_page_claims_no_estimated_cost(attempts: TestDatabase, tmp_path: Path) -> None:
    attempts.execute("DROP EXTENSION IF EXISTS hypopg")
    client = _client(attempts, tmp_path)
    (index,) = [
        ix for ix in client.get("/api/v1/advisor/indexes").json()["indexes"] if ix["table"] == "attempt"
    ]
    assert index["status"] == "unverified" and index["costed"] is False
    page = client.get("/indexes").text
    section = page[page.index(f'data-index="{index["name"]}"') :]
    assert "not costed (rule-based: no HypoPG this role can use, see the notes) (unverified)" in section
    assert "removes 0.0 %" not in section and "removes" not in section.split("</div>")[0]


@pytest.mark.hypopg
def test_max_partitions_sets_how_many_partitions_a_costed_table_may_have(
    db: TestDatabase, tmp_path: Path
) -> None:
    with db.connect() as conn:
        conn.execute("CREATE TABLE log (id int, c int NOT NULL) PARTITION BY RANGE (id)")
        for i in range(5):
            conn.execute(
                f"CREATE TABLE log_{i} PARTITION OF log FOR VALUES FROM ({i * 10000}) TO ({(i + 1) * 10000})"
            )
        conn.execute("INSERT INTO log SELECT g, g % 997 FROM generate_series(0, 49999) g")
        conn.execute("ANALYZE log")
        conn.execute("SELECT pg_stat_statements_reset()")
        for c in range(20):
            conn.execute("SELECT id FROM log WHERE c = %s", (c,))
        if conn.info.server_version >= 150000:
            conn.execute("SELECT pg_stat_force_next_flush()")
    client = _client(db, tmp_path, token=TOKEN)
    capped = client.get("/api/v1/advisor/indexes", params={"maxPartitions": 4}).json()
    assert capped["settings"]["max_partitions"] == 4 and capped["indexes"] == []
    assert any("more than 4 partitions" in note for note in capped["notes"])
    costed = client.get("/api/v1/advisor/indexes", params={"maxPartitions": 5}).json()
    assert [(ix["table"], ix["columns"][0]) for ix in costed["indexes"]] == [("log", "c")]
    proof = client.post("/api/v1/advisor/verify", json={"confirm": True, "maxPartitions": 4}).json()
    assert proof["settings"]["max_partitions"] == 4 and proof["indexes"] == []
    for hostile in (0, 1001, "many"):
        assert client.get("/api/v1/advisor/indexes", params={"maxPartitions": hostile}).status_code == 422
        response = client.post("/api/v1/advisor/verify", json={"confirm": True, "maxPartitions": hostile})
        assert response.status_code == 422
