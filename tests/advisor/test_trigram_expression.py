"""Case-folded searches (`lower(title) LIKE '%alg%'`, Django's `UPPER("title"::text) LIKE UPPER($1)`): only a
trigram index on that expression serves them, and the advisor advises that one, not one on the column."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdba.advisor.orm_patch import drizzle_patch, prisma_patch
from pgdba.advisor.query_columns import columns_by_role
from pgdba.advisor.trigram import SearchIndexAdvice, TrigramExtension
from pgdba.optimizer import analyze_queries
from tests.advisor.helpers import advise, verified
from tests.advisor.test_trigram_search import DRIZZLE, PRISMA
from tests.conftest import TestDatabase

SCHEMA = """
CREATE TABLE course (
    id int PRIMARY KEY,
    title text NOT NULL
) WITH (autovacuum_enabled = off);  -- no visibility map: plans do not depend on autovacuum's timing
INSERT INTO course
SELECT g, 'Course ' || g || ' ' || left(md5(g::text), 8) FROM generate_series(1, 20000) g;
ANALYZE course;
"""
LOWER_SQL = (
    'CREATE INDEX CONCURRENTLY IF NOT EXISTS "course_lower_title_trgm_idx" ON "public"."course" '
    'USING gin (lower("title") gin_trgm_ops)'
)


@pytest.fixture
def course_db(db: TestDatabase) -> TestDatabase:
    db.execute(SCHEMA)
    return db


def test_case_folded_searches_are_searches_of_the_expression() -> None:
    def found(where: str) -> list[tuple[str, str, bool]]:
        used = columns_by_role(f"SELECT id FROM course WHERE {where}")
        return [(str(s.column), s.operator, s.ambiguous) for s in used.searches]

    assert found("lower(title) LIKE '%alg%'") == [("lower(course.title)", "LIKE", False)]
    assert found('UPPER("title"::text) LIKE UPPER($1)') == [("upper(course.title)", "LIKE", True)]
    assert found("lower(title) LIKE '%' || lower($1) || '%'") == [("lower(course.title)", "LIKE", False)]
    assert found("upper(title) ILIKE '%ALG%'") == [("upper(course.title)", "ILIKE", False)]
    assert found("lower(title) LIKE 'alg%'") == []  # a prefix: the btree on lower(title) serves it
    assert found("md5(title) LIKE '%alg%'") == []  # not a case folding: no index advised on it
    assert found("lower(title) LIKE '%al%'") == []  # no trigram in the pattern
    # the parameter inside lower() is bound to the expression, so its sampled value is case-folded too
    [(column, operator)] = columns_by_role(
        "SELECT id FROM course WHERE lower(title) LIKE '%' || lower($1) || '%'"
    ).parameters.values()
    assert (str(column), operator) == ("lower(course.title)", "LIKE part")


def test_a_lower_search_gets_an_index_on_lower_and_a_note_on_ilike(course_db: TestDatabase) -> None:
    advice = advise(course_db, ["SELECT id, title FROM course WHERE lower(title) LIKE '%alg%'"])
    [search] = advice.search_indexes
    assert (search.column, search.function, search.name()) == (
        "title",
        "lower",
        "course_lower_title_trgm_idx",
    )
    assert search.sql == LOWER_SQL
    assert search.label() == "public.course USING gin (lower(title) gin_trgm_ops)"
    assert any("title ILIKE" in note for note in search.notes)
    as_json = advice.to_dict()["search_indexes"][0]
    assert (as_json["column"], as_json["function"]) == ("title", "lower")
    assert not advice.recommendations  # no btree serves it


@pytest.mark.catalog
def test_only_a_trigram_index_on_the_same_expression_serves_it(course_db: TestDatabase) -> None:
    query = "SELECT id FROM course WHERE lower(title) LIKE '%alg%'"
    course_db.execute(
        "CREATE EXTENSION pg_trgm; CREATE INDEX course_title_search ON course USING gin (title gin_trgm_ops)"
    )
    [search] = advise(course_db, [query]).search_indexes  # the column's index does not serve lower()
    assert search.function == "lower"
    course_db.execute("CREATE INDEX course_upper_search ON course USING gin (upper(title) gin_trgm_ops)")
    [search] = advise(course_db, [query]).search_indexes  # nor does upper()'s
    assert search.function == "lower"
    course_db.execute("CREATE INDEX course_lower_search ON course USING gist (lower(title) gist_trgm_ops)")
    assert advise(course_db, [query]).search_indexes == []


def test_the_column_and_its_lower_searched_get_one_index_each(course_db: TestDatabase) -> None:
    advice = advise(
        course_db,
        [
            "SELECT id FROM course WHERE title ILIKE '%alg%'",
            "SELECT id FROM course WHERE lower(title) LIKE '%' || $1 || '%'",
        ],
    )
    assert sorted(s.name() for s in advice.search_indexes) == [
        "course_lower_title_trgm_idx",
        "course_title_trgm_idx",
    ]


def test_verify_builds_the_expression_index_and_measures_the_search_faster(db: TestDatabase) -> None:
    db.execute(
        """CREATE TABLE course (id int PRIMARY KEY, title text NOT NULL) WITH (autovacuum_enabled = off);
        INSERT INTO course SELECT g, 'Course ' || g || ' ' || left(md5(g::text), 8)
          FROM generate_series(1, 200000) g;
        ANALYZE course;"""
    )
    advice = advise(db, ["SELECT id, title FROM course WHERE lower(title) LIKE '%' || $1 || '%'"])
    [search] = advice.search_indexes
    verification = verified(db, advice)
    assert [c["index"] for c in verification["created"]] == ["course_lower_title_trgm_idx"]
    [query] = verification["queries"]
    assert query["values"][0] == query["values"][0].lower() != ""  # sampled through lower()
    assert query["verdict"] == "faster", query
    assert (search.measured, search.status) == ("faster", "measured faster")


@pytest.mark.catalog
def test_the_optimizer_hint_indexes_the_expression_the_statement_searches(db: TestDatabase) -> None:
    db.execute(SCHEMA)
    with db.connect() as conn:
        for word in ("abc", "def", "123"):
            conn.execute("SELECT id FROM course WHERE lower(title) ~ %s", (word,))
    report = analyze_queries(db.target, threshold_ms=0.0).to_dict()
    [statement] = [s for s in report["recommendations"] if "lower(title) ~" in s["query"]]
    hints = [r for r in statement["recommendations"] if r["action"] == "create_search_index"]
    assert [h["sql"] for h in hints] == [
        'CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX CONCURRENTLY "course_lower_title_trgm_idx" ON '
        '"public"."course" USING gin (lower("title") gin_trgm_ops);'
    ]
    db.execute(
        "CREATE EXTENSION pg_trgm; CREATE INDEX course_lower_search ON course USING gin (lower(title) gin_trgm_ops)"
    )
    report = analyze_queries(db.target, threshold_ms=0.0).to_dict()
    [statement] = [s for s in report["recommendations"] if "lower(title) ~" in s["query"]]
    assert "create_search_index" not in [r["action"] for r in statement["recommendations"]]


def test_prisma_says_it_cannot_and_drizzle_writes_the_expression(tmp_path: Path) -> None:
    search = SearchIndexAdvice(
        "public", "course", "title", [], TrigramExtension(available=True), function="lower"
    )
    prisma = tmp_path / "schema.prisma"
    prisma.write_text(PRISMA)
    patch = prisma_patch(prisma, [], [search])
    assert patch.new_text == PRISMA
    assert patch.unmapped == [
        "public.course USING gin (lower(title) gin_trgm_ops): Prisma cannot express expression indexes; "
        "use the SQL"
    ]
    drizzle = tmp_path / "schema.ts"
    drizzle.write_text(DRIZZLE)
    patch = drizzle_patch(drizzle, [], [search])
    assert patch.unmapped == []
    assert 'import { sql } from "drizzle-orm";' in patch.new_text
    assert (
        'index("course_lower_title_trgm_idx").using("gin", sql`lower(${t.title}) gin_trgm_ops`)'
        in patch.new_text
    )
