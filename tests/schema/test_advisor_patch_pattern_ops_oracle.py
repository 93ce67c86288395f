"""An advised index in a pattern operator class (it serves `LIKE 'abc%'` under a non-C collation) written
into the user's ORM schema: Prisma's own schema engine and drizzle-kit build it with that operator class, and
pgdba's schema readers read it back as the live index the advised SQL builds (no drift)."""

from __future__ import annotations

from pathlib import Path

import pytest
from oracle_models import drizzle_kit_generate, prisma_ddl

from pgdba.advisor.candidates import Candidate
from pgdba.advisor.orm_patch import drizzle_patch, prisma_patch
from pgdba.schema import check_schemas
from tests.conftest import TestDatabase

ADVISED = [
    Candidate("public", "users", ("org_id", "email"), pattern_ops=(("email", "text_pattern_ops"),)),
]
NAME = "users_org_id_email_pattern_idx"

PRISMA = """datasource db {
  provider = "postgresql"
}

model User {
  id    Int    @id
  orgId Int    @map("org_id")
  email String

  @@map("users")
}
"""

DRIZZLE = """import { pgTable, integer, text, index } from "drizzle-orm/pg-core";

export const users = pgTable("users", {
  id: integer("id").primaryKey(),
  orgId: integer("org_id").notNull(),
  email: text("email").notNull(),
});
"""

LIVE = """
CREATE TABLE users (id integer PRIMARY KEY, org_id integer NOT NULL, email text NOT NULL);
"""


def test_prisma_schema_engine_builds_the_patched_index_with_its_operator_class(
    node_modules: Path, db: TestDatabase, tmp_path: Path
) -> None:
    schema = tmp_path / "schema.prisma"
    schema.write_text(PRISMA)
    result = prisma_patch(schema, ADVISED)
    assert result.unmapped == []
    assert f'@@index([orgId, email(ops: raw("text_pattern_ops"))], map: "{NAME}")' in result.new_text
    schema.write_text(result.new_text)
    ddl = prisma_ddl(node_modules, schema, db.dsn)
    assert f'CREATE INDEX "{NAME}" ON "users"("org_id", "email" text_pattern_ops);' in ddl


def test_drizzle_kit_builds_the_patched_index_with_its_operator_class(drizzle_workdir: Path) -> None:
    schema = drizzle_workdir / "schema" / "schema.ts"
    schema.write_text(DRIZZLE)
    result = drizzle_patch(schema, ADVISED)
    assert result.unmapped == []
    assert f'index("{NAME}").on(t.orgId, t.email.op("text_pattern_ops"))' in result.new_text
    schema.write_text(result.new_text)
    snapshot, migration = drizzle_kit_generate(drizzle_workdir)
    columns = snapshot["tables"]["public.users"]["indexes"][NAME]["columns"]
    assert [(c["expression"], c.get("opclass")) for c in columns] == [
        ("org_id", None),
        ("email", "text_pattern_ops"),
    ]
    assert "text_pattern_ops" in migration


@pytest.mark.parametrize("kind", ["prisma", "drizzle"])
def test_the_patched_schema_agrees_with_the_database_after_the_advised_sql(
    db: TestDatabase, tmp_path: Path, kind: str
) -> None:
    db.execute(LIVE)
    db.execute(ADVISED[0].ddl(concurrently=False).as_string(None))
    schema = tmp_path / ("schema.prisma" if kind == "prisma" else "schema.ts")
    schema.write_text(PRISMA if kind == "prisma" else DRIZZLE)
    patch = prisma_patch if kind == "prisma" else drizzle_patch
    schema.write_text(patch(schema, ADVISED).new_text)
    check = check_schemas([f"{kind}:{schema}", "live"], dsn=db.dsn)
    assert [f.title for f in check.pairs[0].drift] == []
    # the same index without its operator class is drift: the readers did see the operator class
    db.execute(f'DROP INDEX "{NAME}"; CREATE INDEX "{NAME}" ON users (org_id, email)')
    check = check_schemas([f"{kind}:{schema}", "live"], dsn=db.dsn)
    assert any(NAME in f.title for f in check.pairs[0].drift)


LOWER_PATTERN = Candidate(
    "public",
    "users",
    ("email",),
    pattern_ops=(("email", "text_pattern_ops"),),
    key_functions=(("email", "lower"),),
)
LOWER_PATTERN_NAME = "users_lower_email_pattern_idx"


def test_drizzle_kit_builds_an_expression_key_with_its_operator_class(drizzle_workdir: Path) -> None:
    """`lower(email) LIKE 'abc%'` under a non-C collation: the operator class goes inside the expression's
    template (`.op()` is a column's method), and drizzle-kit writes it into the index as it stands."""
    schema = drizzle_workdir / "schema" / "schema.ts"
    schema.write_text(DRIZZLE)
    result = drizzle_patch(schema, [LOWER_PATTERN])
    assert result.unmapped == []
    assert f'index("{LOWER_PATTERN_NAME}").on(sql`lower(${{t.email}}) text_pattern_ops`)' in result.new_text
    schema.write_text(result.new_text)
    _snapshot, migration = drizzle_kit_generate(drizzle_workdir)
    assert 'USING btree (lower("email") text_pattern_ops)' in migration


def test_the_drizzle_expression_key_with_an_operator_class_agrees_with_the_database(
    db: TestDatabase, tmp_path: Path
) -> None:
    db.execute(LIVE)
    db.execute(LOWER_PATTERN.ddl(concurrently=False).as_string(None))
    schema = tmp_path / "schema.ts"
    schema.write_text(DRIZZLE)
    schema.write_text(drizzle_patch(schema, [LOWER_PATTERN]).new_text)
    check = check_schemas([f"drizzle:{schema}", "live"], dsn=db.dsn)
    assert [f.title for f in check.pairs[0].drift] == []
    # without its operator class the live index is drift: the reader did see it inside the expression
    db.execute(
        f'DROP INDEX "{LOWER_PATTERN_NAME}"; CREATE INDEX "{LOWER_PATTERN_NAME}" ON users (lower(email))'
    )
    check = check_schemas([f"drizzle:{schema}", "live"], dsn=db.dsn)
    assert any(LOWER_PATTERN_NAME in f.title for f in check.pairs[0].drift)
