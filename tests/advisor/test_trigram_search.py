"""Searches no btree serves (`title ILIKE '%alg%'`, Prisma's contains, `LIKE '%' || $1 || '%'`, `~*`): the
advisor advises a pg_trgm GIN index for them, unverified until --verify measures it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pgdba.advisor.advise import AdvisorOptions, advise_indexes
from pgdba.advisor.apply import create_indexes, refuse_unverified_apply
from pgdba.advisor.orm_patch import drizzle_patch, prisma_patch
from pgdba.advisor.query_columns import columns_by_role
from pgdba.advisor.sampling import ColumnSample
from pgdba.advisor.trigram import NOT_AVAILABLE_NOTE, SearchIndexAdvice, TrigramExtension
from pgdba.advisor.workload import queries_from_statements, table_writes_from_statements
from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.cli import main
from pgdba.errors import InputError
from pgdba.server import load_server_facts
from tests.advisor.helpers import advise, verified
from tests.conftest import TestDatabase

SCHEMA = """
CREATE TABLE course (
    id int PRIMARY KEY,
    title text NOT NULL,
    code varchar(20) NOT NULL,
    level int NOT NULL
) WITH (autovacuum_enabled = off);  -- no visibility map: plans do not depend on autovacuum's timing
INSERT INTO course
SELECT g, 'course ' || g || ' ' || left(md5(g::text), 8), 'c' || g, g % 10 FROM generate_series(1, 20000) g;
ANALYZE course;
"""
TRGM_SQL = 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "course_title_trgm_idx" ON "public"."course" USING gin ("title" gin_trgm_ops)'


def searches(db: TestDatabase, queries: list[str]) -> list[SearchIndexAdvice]:
    return advise(db, queries).search_indexes


@pytest.fixture
def course_db(db: TestDatabase) -> TestDatabase:
    db.execute(SCHEMA)
    return db


def test_the_test_cluster_has_pg_trgm_to_install(db: TestDatabase) -> None:
    with db.connect() as conn:
        row = conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'").fetchone()
    assert row == (1,)


def test_contains_searches_are_search_uses_and_prefixes_and_negations_are_not() -> None:
    def found(where: str) -> list[tuple[str, str, bool]]:
        used = columns_by_role(f"SELECT id FROM course WHERE {where}")
        return [(str(s.column), s.operator, s.ambiguous) for s in used.searches]

    assert found("title ILIKE '%alg%'") == [("course.title", "ILIKE", False)]
    assert found("title::text ILIKE $1") == [("course.title", "ILIKE", False)]
    assert found("title LIKE '%' || $1 || '%'") == [("course.title", "LIKE", False)]
    assert found("title ~* 'alg(ebra)?'") == [("course.title", "~*", False)]
    assert found("title LIKE $1") == [("course.title", "LIKE", True)]
    assert found("title LIKE 'alg%'") == []
    assert found("title NOT ILIKE '%alg%'") == []
    assert found("title !~ 'alg'") == []
    assert found("title NOT LIKE '%alg%'") == []
    assert found("title ILIKE '%al%'") == []  # no trigram in the pattern: pg_trgm cannot narrow it
    # a case-folded search is one of the expression (tests/advisor/test_trigram_expression.py), another
    # function of the column none: an index on the column does not serve it
    assert found("lower(title) LIKE '%alg%'") == [("lower(course.title)", "LIKE", False)]
    assert found("md5(title) LIKE '%alg%'") == []
    # the btree reading of `LIKE $1` is kept: a range use, its parameter sampled as a prefix
    assert columns_by_role("SELECT id FROM course WHERE title LIKE $1").parameters[1][1] == "LIKE"


def test_a_search_parameter_is_sampled_as_a_contains_pattern_and_a_like_one_as_a_prefix() -> None:
    sample = ColumnSample(histogram=("course 100 abc", "course 15000 a1b2c3d4", "course 9 zz"))
    assert sample.sample("ILIKE") == "%e 15000 a1%"
    assert sample.sample("LIKE part") == "e 15000 a1"
    assert sample.sample("~*") == "e 15000 a1"
    prefix = sample.sample("LIKE")  # the btree's reading: a start, then `%`
    assert prefix is not None and prefix.startswith("course 15") and prefix.endswith("%")
    # the part's special characters are escaped: it is matched as written
    assert ColumnSample(histogram=("xa.b(c)dy",) * 3).sample("~") == "\\.b\\(c"
    assert ColumnSample(histogram=("x(a_b%c)y",) * 3).sample("ILIKE") == "%a\\_b\\%%"


def test_an_ilike_contains_search_gets_a_trigram_index(course_db: TestDatabase) -> None:
    advice = advise(course_db, ["SELECT id, title FROM course WHERE title ILIKE '%alg%'"])
    [search] = advice.search_indexes
    assert (search.schema, search.table, search.column) == ("public", "course", "title")
    assert search.status == "unverified"
    assert search.reason == "HypoPG cannot cost GIN indexes: --verify measures it"
    assert search.sql == TRGM_SQL
    assert [q.operator for q in search.queries] == ["ILIKE"]
    assert advice.to_dict()["search_indexes"][0]["name"] == "course_title_trgm_idx"
    assert not advice.recommendations  # no btree serves it


def test_a_prefix_like_gets_the_btree_and_no_search_index(course_db: TestDatabase) -> None:
    advice = advise(course_db, ["SELECT id FROM course WHERE title LIKE 'course 1234 %'"])
    assert advice.search_indexes == []
    assert [r.candidate.columns for r in advice.recommendations] == [("title",)]


def test_a_negated_search_gets_nothing(course_db: TestDatabase) -> None:
    assert searches(course_db, ["SELECT id FROM course WHERE title NOT ILIKE '%alg%'"]) == []


def test_prismas_contains_with_a_cast_and_a_regex_get_the_index(course_db: TestDatabase) -> None:
    [search] = searches(
        course_db,
        [
            'SELECT "id", "title" FROM "public"."course" WHERE "title"::text ILIKE $1',
            "SELECT id FROM course WHERE title ~* $1",
        ],
    )
    assert sorted(q.operator for q in search.queries) == ["ILIKE", "~*"]
    assert not search.ambiguous


def test_a_parameterised_like_keeps_its_btree_and_gets_an_ambiguous_search_index(
    course_db: TestDatabase,
) -> None:
    advice = advise(course_db, ["SELECT id FROM course WHERE title LIKE $1"])
    assert [r.candidate.columns for r in advice.recommendations] == [("title",)]
    [search] = advice.search_indexes
    assert search.ambiguous and search.queries[0].ambiguous
    assert "start with a wildcard" in search.notes[0]
    assert advice.to_dict()["search_indexes"][0]["queries"][0]["ambiguous"] is True


@pytest.mark.catalog
def test_an_existing_trigram_index_serves_it_and_a_btree_does_not(course_db: TestDatabase) -> None:
    course_db.execute("CREATE INDEX course_title_btree ON course (title)")
    assert len(searches(course_db, ["SELECT id FROM course WHERE title ILIKE '%alg%'"])) == 1
    course_db.execute(
        "CREATE EXTENSION pg_trgm; CREATE INDEX course_title_search ON course USING gin (title gin_trgm_ops)"
    )
    assert searches(course_db, ["SELECT id FROM course WHERE title ILIKE '%alg%'"]) == []


@pytest.mark.catalog
def test_a_non_text_column_gets_no_search_index(course_db: TestDatabase) -> None:
    advice = advise(course_db, ["SELECT id FROM course WHERE level::text ILIKE '%123%'"])
    assert advice.search_indexes == []
    assert any(
        "course.level is searched with a pattern, but it is not a text column" in n for n in advice.notes
    )


@pytest.mark.catalog
def test_a_varchar_domain_column_is_searchable(db: TestDatabase) -> None:
    db.execute(
        """CREATE DOMAIN short_text AS varchar(60);
        CREATE TABLE lesson (id int PRIMARY KEY, name short_text NOT NULL) WITH (autovacuum_enabled = off);
        INSERT INTO lesson SELECT g, 'lesson ' || g || ' ' || md5(g::text) FROM generate_series(1, 20000) g;
        ANALYZE lesson;"""
    )
    [search] = searches(db, ["SELECT id FROM lesson WHERE name ILIKE '%algebra%'"])
    assert search.column == "name"


def test_a_tiny_table_gets_no_search_index(db: TestDatabase) -> None:
    db.execute(
        "CREATE TABLE tag (id int PRIMARY KEY, label text NOT NULL);"
        "INSERT INTO tag SELECT g, 'tag ' || g FROM generate_series(1, 100) g; ANALYZE tag;"
    )
    assert searches(db, ["SELECT id FROM tag WHERE label ILIKE '%alg%'"]) == []


def test_the_sql_creates_pg_trgm_first_only_when_it_is_not_installed(course_db: TestDatabase) -> None:
    query = ["SELECT id FROM course WHERE title ILIKE '%alg%'"]
    [search] = searches(course_db, query)
    assert search.statements() == ["CREATE EXTENSION IF NOT EXISTS pg_trgm", TRGM_SQL]
    course_db.execute("CREATE EXTENSION pg_trgm")
    [search] = searches(course_db, query)
    assert search.statements() == [TRGM_SQL]


@pytest.mark.catalog
def test_pg_trgm_off_the_search_path_is_schema_qualified(course_db: TestDatabase) -> None:
    course_db.execute("CREATE SCHEMA extensions; CREATE EXTENSION pg_trgm SCHEMA extensions")
    [search] = searches(course_db, ["SELECT id FROM course WHERE title ILIKE '%alg%'"])
    assert search.sql.endswith('USING gin ("title" "extensions".gin_trgm_ops)')
    with course_db.connect() as conn:
        conn.execute(search.sql)  # the statement runs as printed
        row = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'course_title_trgm_idx'"
        ).fetchone()
    assert row == (1,)


def test_without_pg_trgm_on_the_server_the_advice_stays_and_no_sql_would_fail() -> None:
    search = SearchIndexAdvice("public", "course", "title", [], TrigramExtension(available=False))
    assert search.statements() == []
    assert search.to_dict()["sql"] is None and search.to_dict()["extension"]["available"] is False
    assert "contrib" in NOT_AVAILABLE_NOTE


def test_a_long_table_and_column_name_is_shortened_to_63_characters() -> None:
    search = SearchIndexAdvice("public", "t" * 40, "c" * 40, [], TrigramExtension(available=True))
    assert len(search.name()) == 63 and search.name().endswith("_idx")


def test_apply_creates_pg_trgm_and_the_index_and_big_tables_need_verify(course_db: TestDatabase) -> None:
    advice = advise(course_db, ["SELECT id FROM course WHERE title ILIKE '%alg%'"])
    advice.search_indexes[0].table_bytes = 10 * 2**30
    with pytest.raises(InputError, match=r"public\.course"):
        refuse_unverified_apply(advice, yes=False)
    with course_db.target.connect(apply=True) as conn:
        created, failed = create_indexes(conn, advice)
    assert failed == []
    assert [c["index"] for c in created] == ["course_title_trgm_idx"]
    with course_db.connect() as conn:
        plan = conn.execute("EXPLAIN SELECT id FROM course WHERE title ILIKE '%15000 a%'").fetchall()
    assert "course_title_trgm_idx" in str(plan)


def test_verify_measures_the_search_faster_with_the_trigram_index(db: TestDatabase) -> None:
    db.execute(
        """CREATE TABLE course (id int PRIMARY KEY, title text NOT NULL) WITH (autovacuum_enabled = off);
        INSERT INTO course SELECT g, 'course ' || g || ' ' || left(md5(g::text), 8)
          FROM generate_series(1, 200000) g;
        ANALYZE course;"""
    )
    advice = advise(db, ["SELECT id, title FROM course WHERE title ILIKE $1"])
    [search] = advice.search_indexes
    verification = verified(db, advice)
    assert verification["created"] == [
        {"index": "course_title_trgm_idx", "size_bytes": verification["created"][0]["size_bytes"]}
    ]
    # the rough size estimate is within a factor of 1.5 of the built index's
    built = verification["created"][0]["size_bytes"]
    assert built / 1.5 <= search.estimated_bytes <= built * 1.5
    [query] = verification["queries"]
    assert query["values"][0].startswith("%") and query["values"][0].endswith("%")
    assert query["verdict"] == "faster", query
    assert (search.measured, search.status) == ("faster", "measured faster")
    with db.connect() as conn:  # the target is left alone
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'").fetchone() == (0,)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_shows_search_indexes_in_json_sql_and_markdown(
    course_db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queries = tmp_path / "workload.sql"
    queries.write_text("SELECT id, title FROM course WHERE title ILIKE '%alg%';\n")
    base = ["advise", "indexes", "--dsn", course_db.dsn, "--queries", str(queries)]
    code, out, err = run(capsys, *base, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    [search] = data["search_indexes"]
    assert search["statements"] == ["CREATE EXTENSION IF NOT EXISTS pg_trgm;", TRGM_SQL + ";"]
    assert data["emit"]["sql"] == search["statements"]
    code, out, _ = run(capsys, *base)
    assert code == 0
    sql_part = out.split("-- SQL\n", 1)[1]
    assert sql_part.splitlines()[:2] == ["CREATE EXTENSION IF NOT EXISTS pg_trgm;", TRGM_SQL + ";"]
    assert "public.course USING gin (title gin_trgm_ops): unverified (HypoPG cannot cost GIN" in out
    code, out, _ = run(capsys, *base, "--format", "markdown")
    assert code == 0
    assert "### Search indexes (pg_trgm GIN, for pattern searches no btree serves)" in out
    assert out.index("### Search indexes") < out.index("### Indexes to drop")


PRISMA = """model Course {
  id    Int    @id
  title String

  @@map("course")
}
"""
DRIZZLE = """import { pgTable, integer, text } from "drizzle-orm/pg-core";

export const course = pgTable("course", {
  id: integer("id").primaryKey(),
  title: text("title").notNull(),
});
"""


def test_the_orm_patches_write_the_trigram_index_and_say_what_pg_trgm_needs(tmp_path: Path) -> None:
    search = SearchIndexAdvice("public", "course", "title", [], TrigramExtension(available=True))
    prisma = tmp_path / "schema.prisma"
    prisma.write_text(PRISMA)
    patch = prisma_patch(prisma, [], [search])
    assert patch.new_text == PRISMA.replace(
        '  @@map("course")\n',
        '  @@map("course")\n  @@index([title(ops: raw("gin_trgm_ops"))], map: "course_title_trgm_idx", type: Gin)\n',
    )
    assert (
        'previewFeatures = ["postgresqlExtensions"]' in patch.notes[0]
        and "extensions = [pg_trgm]" in patch.notes[0]
    )
    drizzle = tmp_path / "schema.ts"
    drizzle.write_text(DRIZZLE)
    patch = drizzle_patch(drizzle, [], [search])
    assert patch.new_text == DRIZZLE.replace(
        'import { pgTable, integer, text } from "drizzle-orm/pg-core";',
        'import { pgTable, integer, text, index } from "drizzle-orm/pg-core";',
    ).replace(
        "});\n",
        '}, (t) => [\n  index("course_title_trgm_idx").using("gin", t.title.op("gin_trgm_ops")),\n]);\n',
    )
    assert "pg_trgm" in patch.notes[0]
    assert prisma_patch(prisma, [], []).notes == []


def test_the_indexes_page_shows_the_search_index_and_the_api_fixes_carry_its_sql(
    course_db: TestDatabase,
) -> None:
    with course_db.connect() as conn:
        conn.execute("SELECT pg_stat_statements_reset()")  # the load's writes are not the workload
        for word in ("alg", "geo", "bio"):
            conn.execute("SELECT id, title FROM course WHERE title ILIKE %s", (f"%{word}%",))
        if conn.info.server_version >= 150000:
            conn.execute("SELECT pg_stat_force_next_flush()")
    client = TestClient(create_app(ApiSettings(course_db.target)))
    body = client.get("/api/v1/advisor/indexes").json()
    assert body["fixes"]["sql"][-2:] == ["CREATE EXTENSION IF NOT EXISTS pg_trgm;", TRGM_SQL + ";"]
    [search] = body["search_indexes"]  # the response model carries them (FastAPI drops unknown fields)
    assert (search["table"], search["column"], search["status"]) == ("course", "title", "unverified")
    assert search["extension"]["installed"] is False and search["queries"][0]["operator"] == "ILIKE"
    page = client.get("/indexes").text
    assert 'data-search-index="course_title_trgm_idx"' in page


def test_a_table_written_more_often_than_searched_gets_a_write_cost_note(course_db: TestDatabase) -> None:
    with course_db.connect() as conn:
        conn.execute("SELECT pg_stat_statements_reset()")  # the load's writes are not the workload
        for word in ("alg", "geo", "bio"):
            conn.execute("SELECT id, title FROM course WHERE title ILIKE %s", (f"%{word}%",))
        for n in range(40):
            conn.execute(
                "INSERT INTO course VALUES (%s, %s, %s, 1)", (100_000 + n, f"new course {n}", f"n{n}")
            )
        conn.commit()
        if conn.info.server_version >= 150000:
            conn.execute("SELECT pg_stat_force_next_flush()")
    with course_db.target.connect() as conn:
        facts = load_server_facts(conn)
        workload = queries_from_statements(conn, facts)
        writes = table_writes_from_statements(conn, facts)
        advice = advise_indexes(conn, facts, workload, AdvisorOptions(), writes=writes)
    [search] = advice.search_indexes
    assert search.writes == 40 and search.to_dict()["writes"] == 40
    assert any("40 index entries written in the window of these 3 searches" in n for n in search.notes)
    # a query file says nothing about writes: no figure, no note
    [from_file] = searches(course_db, ["SELECT id FROM course WHERE title ILIKE $1"])
    assert from_file.writes is None and not any("written" in n for n in from_file.notes)


def test_a_search_index_estimated_larger_than_its_table_says_so(db: TestDatabase) -> None:
    db.execute(
        """CREATE TABLE note (id int PRIMARY KEY, body text NOT NULL) WITH (autovacuum_enabled = off);
        INSERT INTO note SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, 20000) g;
        ANALYZE note;"""
    )
    [search] = searches(db, ["SELECT id FROM note WHERE body ILIKE $1"])
    # 192-character bodies: about 20,000 × 193 × 2.5 bytes, more than the table holding them
    assert 9_000_000 < search.estimated_bytes < 11_000_000
    assert search.estimated_bytes > search.table_bytes
    assert any("more than the table" in n for n in search.notes)
    assert search.to_dict()["estimated_bytes"] == search.estimated_bytes
