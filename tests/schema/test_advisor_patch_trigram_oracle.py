"""A trigram search index (pg_trgm GIN, for `title ILIKE '%…%'`) written into the user's ORM schema: Prisma's
own schema engine and drizzle-kit build it as the advised SQL does (GIN, gin_trgm_ops), and pgdba's schema
readers read it back as the live index that SQL builds (no drift)."""

from __future__ import annotations

from pathlib import Path

import pytest
from oracle_models import drizzle_kit_generate, prisma_ddl

from pgdba.advisor.orm_patch import drizzle_patch, prisma_patch
from pgdba.advisor.trigram import SearchIndexAdvice, TrigramExtension
from pgdba.schema import check_schemas
from tests.conftest import TestDatabase

SEARCH = SearchIndexAdvice("public", "course", "title", [], TrigramExtension(available=True, schema="public"))
NAME = "course_title_trgm_idx"

PRISMA = """datasource db {
  provider = "postgresql"
}

model Course {
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

LIVE = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE course (id integer PRIMARY KEY, title text NOT NULL);
"""


def test_prisma_schema_engine_builds_the_patched_trigram_index(
    node_modules: Path, db: TestDatabase, tmp_path: Path
) -> None:
    db.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema = tmp_path / "schema.prisma"
    schema.write_text(PRISMA)
    result = prisma_patch(schema, [], [SEARCH])
    assert result.unmapped == []
    schema.write_text(result.new_text)
    ddl = prisma_ddl(node_modules, schema, db.dsn)
    assert f'CREATE INDEX "{NAME}" ON "course" USING GIN ("title" gin_trgm_ops);' in ddl


def test_drizzle_kit_builds_the_patched_trigram_index(drizzle_workdir: Path) -> None:
    schema = drizzle_workdir / "schema" / "schema.ts"
    schema.write_text(DRIZZLE)
    result = drizzle_patch(schema, [], [SEARCH])
    assert result.unmapped == []
    schema.write_text(result.new_text)
    snapshot, migration = drizzle_kit_generate(drizzle_workdir)
    index = snapshot["tables"]["public.course"]["indexes"][NAME]
    assert index["method"] == "gin"
    assert [(c["expression"], c.get("opclass")) for c in index["columns"]] == [("title", "gin_trgm_ops")]
    assert 'USING gin ("title" gin_trgm_ops)' in migration


@pytest.mark.parametrize("kind", ["prisma", "drizzle"])
def test_the_patched_schema_agrees_with_the_database_after_the_advised_sql(
    db: TestDatabase, tmp_path: Path, kind: str
) -> None:
    db.execute(LIVE)
    db.execute(SEARCH.ddl(concurrently=False).as_string(None))
    schema = tmp_path / ("schema.prisma" if kind == "prisma" else "schema.ts")
    schema.write_text(PRISMA if kind == "prisma" else DRIZZLE)
    patch = prisma_patch if kind == "prisma" else drizzle_patch
    schema.write_text(patch(schema, [], [SEARCH]).new_text)
    check = check_schemas([f"{kind}:{schema}", "live"], dsn=db.dsn)
    assert [f.title for f in check.pairs[0].drift] == []
    # a btree on the column instead is drift: the readers did see the GIN trigram index
    db.execute(f'DROP INDEX "{NAME}"; CREATE INDEX "{NAME}" ON course (title)')
    check = check_schemas([f"{kind}:{schema}", "live"], dsn=db.dsn)
    assert any(NAME in f.title for f in check.pairs[0].drift)


LOWER_SEARCH = SearchIndexAdvice(
    "public", "course", "title", [], TrigramExtension(available=True, schema="public"), function="lower"
)
LOWER_NAME = "course_lower_title_trgm_idx"


def test_drizzle_kit_builds_the_patched_expression_trigram_index(drizzle_workdir: Path) -> None:
    schema = drizzle_workdir / "schema" / "schema.ts"
    schema.write_text(DRIZZLE)
    result = drizzle_patch(schema, [], [LOWER_SEARCH])
    assert result.unmapped == []
    schema.write_text(result.new_text)
    snapshot, migration = drizzle_kit_generate(drizzle_workdir)
    index = snapshot["tables"]["public.course"]["indexes"][LOWER_NAME]
    assert index["method"] == "gin"
    assert 'USING gin (lower("title") gin_trgm_ops)' in migration


def test_the_drizzle_expression_index_agrees_with_the_database_after_the_advised_sql(
    db: TestDatabase, tmp_path: Path
) -> None:
    db.execute(LIVE)
    db.execute(LOWER_SEARCH.ddl(concurrently=False).as_string(None))
    schema = tmp_path / "schema.ts"
    schema.write_text(DRIZZLE)
    schema.write_text(drizzle_patch(schema, [], [LOWER_SEARCH]).new_text)
    check = check_schemas(["drizzle:" + str(schema), "live"], dsn=db.dsn)
    assert [f.title for f in check.pairs[0].drift] == []
    # the same expression under a btree is drift: the reader did see the GIN trigram key
    db.execute(f'DROP INDEX "{LOWER_NAME}"; CREATE INDEX "{LOWER_NAME}" ON course (lower(title))')
    check = check_schemas(["drizzle:" + str(schema), "live"], dsn=db.dsn)
    assert any(LOWER_NAME in f.title for f in check.pairs[0].drift)
