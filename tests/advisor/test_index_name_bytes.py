"""Index names fit PostgreSQL's 63 BYTES: a non-ASCII table's names are cut on a character boundary (with a
hash where the advisor shortens), so the index PostgreSQL builds has exactly the advised name, and the names
HypoPG cuts inside a character do not break the advisor. ASCII names are unchanged."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from pgdba.advisor.apply import create_indexes
from pgdba.advisor.candidates import Candidate, identifier_prefix
from pgdba.advisor.trigram import SearchIndexAdvice, TrigramExtension
from pgdba.advisor.whatif import WhatIfSession
from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.checks.index_health import missing_fk_indexes
from pgdba.cli import main
from pgdba.optimizer import analyze_queries
from pgdba.stats.foreign_keys import foreign_keys
from tests.advisor.helpers import advise
from tests.api.conftest import TOKEN
from tests.conftest import TestDatabase

TABLE = "ünïcødé_täble_ääääääääää"  # 39 bytes
COLUMN = "wert_öööööööööö"  # 25 bytes: table_column_idx is 69 bytes
TEXT_COLUMN = "beschreibung_ääääääääääää"
LOOKUP = f'SELECT * FROM "{TABLE}" WHERE "{COLUMN}" = 1'
SEARCH = f'SELECT id FROM "{TABLE}" WHERE "{TEXT_COLUMN}" ILIKE \'%abc%\''


@pytest.fixture
def unicode_db(db: TestDatabase) -> TestDatabase:
    """The report's table, its lookup run ten times since a pg_stat_statements reset (the load's writes are
    not the workload)."""
    with db.connect() as conn:
        conn.execute(
            f'CREATE TABLE "{TABLE}" (id int PRIMARY KEY, "{COLUMN}" int, "{TEXT_COLUMN}" text)'
            " WITH (autovacuum_enabled = off)"
        )
        conn.execute(
            f"INSERT INTO \"{TABLE}\" SELECT g, g, 'text ' || md5(g::text) FROM generate_series(1, 50000) g"
        )
        conn.execute(f'ANALYZE "{TABLE}"')
        conn.execute("SELECT pg_stat_statements_reset()")
        for _ in range(10):
            conn.execute(LOOKUP)
        if conn.info.server_version >= 150000:
            conn.execute("SELECT pg_stat_force_next_flush()")
    return db


def index_names(db: TestDatabase, table: str) -> set[str]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = %s::regclass AND NOT i.indisprimary",
            (f'"{table}"',),
        ).fetchall()
    return {name for (name,) in rows}


def assert_fits(name: str) -> None:
    assert len(name.encode()) <= 63, name
    assert "\ufffd" not in name  # a whole character at the cut, nothing undecodable


def test_identifier_prefix_cuts_bytes_on_a_character_boundary() -> None:
    assert identifier_prefix("ä" * 40) == "ä" * 31  # 62 bytes: half an ä does not fit the 63rd byte
    assert identifier_prefix("a" * 70) == "a" * 63
    assert identifier_prefix("ä" * 3, 4) == "ää"


PINNED_ASCII = [
    (Candidate("public", "users", ("org_id", "created_at")), "users_org_id_created_at_idx"),
    (
        Candidate("public", "a_really_long_table_name_for_testing_purposes", ("some_long_column_name", "c")),
        "a_really_long_table_name_for_testing_purposes_some_9424dbd8_idx",
    ),
    (
        Candidate("public", "orders", ("total",), where_column="status", where_value="new york"),
        "orders_total_where_status_new_york_806cabc8_idx",
    ),
    (Candidate("public", "x" * 55, ("y",)), "x" * 55 + "_y_idx"),
]


@pytest.mark.parametrize(("candidate", "name"), PINNED_ASCII, ids=[name[:40] for _, name in PINNED_ASCII])
def test_ascii_names_are_unchanged(candidate: Candidate, name: str) -> None:
    assert candidate.name() == name


def test_ascii_search_index_names_are_unchanged() -> None:
    extension = TrigramExtension(True)
    assert SearchIndexAdvice("public", "course", "title", [], extension).name() == "course_title_trgm_idx"
    long = SearchIndexAdvice(
        "public",
        "course_catalogue_entries_for_the_spring_term",
        "long_description_text",
        [],
        extension,
        "lower",
    )
    assert long.name() == "course_catalogue_entries_for_the_spring_term_lower_532de3ff_idx"


NON_ASCII = [
    Candidate("public", TABLE, (COLUMN,)),
    Candidate("public", TABLE, (COLUMN, "id")),
    Candidate("public", TABLE, (COLUMN,), where_column="id", where_operator="IS NOT NULL"),
    Candidate("public", "ä" * 29, ("b",)),  # 58 + 2 + 4 bytes: one byte too many for the plain name
]


@pytest.mark.parametrize("candidate", NON_ASCII, ids=["one-key", "two-keys", "partial", "one-byte-over"])
def test_postgresql_builds_a_non_ascii_candidate_under_exactly_its_name(
    db: TestDatabase, candidate: Candidate
) -> None:
    assert_fits(candidate.name())
    with db.connect() as conn:
        columns = ", ".join(f'"{c}" int' for c in dict.fromkeys((*candidate.columns, "id")))
        conn.execute(f'CREATE TABLE "{candidate.table}" ({columns})')
        conn.execute(candidate.ddl(concurrently=False))
    assert index_names(db, candidate.table) == {candidate.name()}


@pytest.mark.hypopg
def test_a_hypothetical_index_named_with_a_cut_character_maps_back_to_its_candidate(
    unicode_db: TestDatabase,
) -> None:
    """HypoPG names it `<oid>btree_<table>_<column>` cut at 63 bytes inside a character."""
    candidate = Candidate("public", TABLE, (COLUMN,))
    with unicode_db.target.connect() as conn:
        session = WhatIfSession(conn, conn.info.server_version)
        try:
            plan = session.cost(0, LOOKUP, 0, [candidate])
        finally:
            session.close()
    assert plan.indexes == {candidate.name()}


@pytest.mark.catalog
@pytest.mark.hypopg
def test_the_cli_advises_and_applies_the_index_under_its_name(
    unicode_db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["advise", "indexes", "--dsn", unicode_db.dsn, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    (index,) = json.loads(out)["indexes"]
    assert (index["table"], index["columns"]) == (TABLE, [COLUMN])
    assert_fits(index["name"])
    assert main(["advise", "indexes", "--dsn", unicode_db.dsn, "--apply"]) == 0
    assert index_names(unicode_db, TABLE) == {index["name"]}


@pytest.mark.hypopg
def test_a_long_non_ascii_search_index_is_built_under_its_name(unicode_db: TestDatabase) -> None:
    advice = advise(unicode_db, [SEARCH])
    (search,) = advice.search_indexes
    assert_fits(search.name())
    with unicode_db.target.connect(apply=True) as conn:
        created, failed = create_indexes(conn, advice)
    assert failed == []
    assert [c["index"] for c in created] == [search.name()]
    assert index_names(unicode_db, TABLE) == {search.name()}


@pytest.mark.hypopg
def test_the_api_and_the_indexes_page_advise_and_verify_it(unicode_db: TestDatabase) -> None:
    client = TestClient(create_app(ApiSettings(unicode_db.target, token=TOKEN)))
    client.headers["Authorization"] = f"Bearer {TOKEN}"
    response = client.get("/api/v1/advisor/indexes")
    assert response.status_code == 200, response.text
    (index,) = response.json()["indexes"]
    assert_fits(index["name"])
    page = client.get("/indexes")
    assert page.status_code == 200
    assert f'data-index="{index["name"]}"' in page.text
    proof = client.post("/api/v1/advisor/verify", json={"confirm": True})
    assert proof.status_code == 200, proof.text
    assert [c["index"] for c in proof.json()["verification"]["created"]] == [index["name"]]


def run_hint(db: TestDatabase, statement: str | None) -> set[str]:
    """Run a hint's CREATE INDEX statements and return the table's index names."""
    assert statement is not None
    with db.connect() as conn:
        for part in statement.split(";"):
            if part.strip():
                conn.execute(part)  # type: ignore[arg-type]
    return index_names(db, TABLE)


def hinted_name(statement: str | None) -> str:
    assert statement is not None
    return statement.split("CREATE INDEX CONCURRENTLY ", 1)[1].split(" ON ", 1)[0].strip('"')


@pytest.mark.catalog
def test_the_per_statement_index_hint_is_built_under_its_name(unicode_db: TestDatabase) -> None:
    with unicode_db.connect() as conn:
        for _ in range(3):
            conn.execute(SEARCH)
    report = analyze_queries(unicode_db.target, threshold_ms=0.0)
    hints = {
        r.action: r.sql
        for q in report.recommendations
        for r in q.recommendations
        if r.action != "vacuum_analyze"
    }
    assert set(hints) == {"create_index", "create_search_index"}
    for action in ("create_index", "create_search_index"):
        name = hinted_name(hints[action])
        assert_fits(name)
        assert name in run_hint(unicode_db, hints[action]), action


@pytest.mark.catalog
def test_the_missing_foreign_key_index_hint_is_built_under_its_name(unicode_db: TestDatabase) -> None:
    child = "kïnd_täble_öööööööööööö"
    with unicode_db.connect() as conn:
        conn.execute(f'CREATE TABLE "{child}" (id int, "{COLUMN}_färeign_key" int REFERENCES "{TABLE}" (id))')
        conn.execute(f'INSERT INTO "{child}" SELECT g, g FROM generate_series(1, 10000) g')
        conn.execute(f'ANALYZE "{child}"')
        with conn.transaction():
            (finding,) = missing_fk_indexes(foreign_keys(conn))
        assert finding.sql is not None
        conn.execute(finding.sql)  # type: ignore[arg-type]
    name = hinted_name(finding.sql)
    assert_fits(name)
    assert index_names(unicode_db, child) == {name}
