"""Correctness review of the schema verifier: each test applies what the official tool generates (or what a
DBA commonly creates) to the real cluster and checks that the verifier reports exactly the real drift."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from oracle_models import prisma_ddl

from pgdba.schema import SchemaConfig, check_schemas, compare_all
from pgdba.schema.live_source import load_live
from pgdba.schema.sqlalchemy_source import metadata_model

SELF_RELATIONS_PRISMA = """
datasource db {
  provider = "postgresql"
}

model Category {
  id        Int        @id @default(autoincrement())
  parentId  Int?
  parent    Category?  @relation("tree", fields: [parentId], references: [id])
  children  Category[] @relation("tree")
  related   Category[] @relation("related")
  relatedOf Category[] @relation("related")
}
"""

CASING_DRIZZLE = """
import { pgTable, text, integer, serial, index } from "drizzle-orm/pg-core";

export const items = pgTable("items", {
  id: serial().primaryKey(),
  apiURLPath: text(),
  userIDs: text(),
  address2Line: text(),
  tags: text().array().default([]),
  labels: text().array().default(["a", "b c"]),
  scores: integer().array().default([1, 2]),
}, (t) => [index().on(t.apiURLPath)]);
"""


def _drift(specs: list[str], db: Any, config: SchemaConfig | None = None) -> list[tuple[str, str]]:
    result = check_schemas(specs, dsn=db.dsn, config=config)
    return sorted((f.code, f.object) for pair in result.pairs for f in pair.drift)


@pytest.mark.catalog
def test_prisma_self_many_to_many_beside_a_self_relation_with_a_foreign_key_is_not_reported(
    db: Any, node_modules: Path, tmp_path: Path
) -> None:
    schema = tmp_path / "self.prisma"
    schema.write_text(SELF_RELATIONS_PRISMA)
    ddl = prisma_ddl(node_modules, schema, db.dsn)
    assert 'CREATE TABLE "_related"' in ddl
    db.execute(ddl)
    result = check_schemas([f"prisma:{schema}", "live"], dsn=db.dsn)
    assert [f.title for f in result.pairs[0].findings] == []
    assert any("join table _related is not compared" in note for note in result.sources[0].notes)


@pytest.fixture
def drizzle_snake_case_ddl(drizzle_workdir: Path) -> tuple[Path, str]:
    """drizzle-kit generate --casing snake_case on CASING_DRIZZLE: the schema file and its SQL."""
    schema = drizzle_workdir / "schema" / "items.ts"
    schema.write_text(CASING_DRIZZLE)
    subprocess.run(
        [
            str(drizzle_workdir / "node_modules" / ".bin" / "drizzle-kit"),
            "generate",
            "--dialect",
            "postgresql",
            "--casing",
            "snake_case",
            "--schema",
            "schema",
            "--out",
            "out",
        ],
        cwd=drizzle_workdir,
        capture_output=True,
        timeout=300,
        check=False,
    )
    sql = "\n".join(p.read_text() for p in sorted((drizzle_workdir / "out").glob("*.sql")))
    assert '"api_url_path" text' in sql and '"labels" text[] DEFAULT \'{"a","b c"}\'' in sql, sql
    return schema, sql.replace("--> statement-breakpoint", "")


@pytest.mark.catalog
def test_drizzle_snake_case_casing_names_acronym_columns_as_drizzle_kit_does(
    db: Any, drizzle_snake_case_ddl: tuple[Path, str]
) -> None:
    schema, sql = drizzle_snake_case_ddl
    db.execute(sql)
    config = SchemaConfig(drizzle_casing="snake_case")
    assert _drift([f"drizzle:{schema}", "live"], db, config) == []
    live = load_live(db.target, {"public"}).tables[("public", "items")]
    assert {"api_url_path", "user_i_ds", "address2_line"} <= set(live.columns)


@pytest.mark.catalog
def test_array_default_written_as_array_literal_equals_array_constructor(
    db: Any, drizzle_snake_case_ddl: tuple[Path, str]
) -> None:
    schema, sql = drizzle_snake_case_ddl
    db.execute(sql)
    config = SchemaConfig(drizzle_casing="snake_case")
    assert _drift([f"drizzle:{schema}", "live"], db, config) == []
    db.execute("ALTER TABLE items ALTER COLUMN labels SET DEFAULT ARRAY['a', 'b d']")
    db.execute("ALTER TABLE items ALTER COLUMN scores SET DEFAULT '{1,3}'")
    assert _drift([f"drizzle:{schema}", "live"], db, config) == [
        ("schema.column.default", "items.labels"),
        ("schema.column.default", "items.scores"),
    ]


def _events_metadata() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
        "events",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.Date, primary_key=True),
    )
    sa.Table(
        "notes",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.Integer),
        sa.Column("event_at", sa.Date),
        sa.ForeignKeyConstraint(["event_id", "event_at"], ["events.id", "events.at"], ondelete="CASCADE"),
    )
    return metadata


@pytest.mark.catalog
def test_foreign_key_to_a_partitioned_table_is_one_foreign_key(db: Any) -> None:
    db.execute(
        "CREATE TABLE events (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);"
        "CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');"
        "CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
        "CREATE TABLE notes (id int PRIMARY KEY, event_id int, event_at date,"
        " FOREIGN KEY (event_id, event_at) REFERENCES events (id, at) ON DELETE CASCADE)"
    )
    live = load_live(db.target, {"public"})
    assert [(f.ref_table, f.on_delete) for f in live.tables[("public", "notes")].foreign_keys] == [
        ("events", "CASCADE")
    ]
    result = compare_all([metadata_model(_events_metadata()), live])
    assert [f.title for f in result.pairs[0].findings] == []


def _checked_metadata(*, named: bool) -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
        "products",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("price", sa.Integer, sa.CheckConstraint("price > 0")),
        sa.Column("stock", sa.Integer),
        sa.CheckConstraint("stock >= 0 AND stock < 1000", name="stock_range" if named else None),
    )
    return metadata


@pytest.mark.catalog
def test_sqlalchemy_unnamed_check_constraints_are_compared_by_expression(db: Any) -> None:
    engine = sa.create_engine(db.dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    _checked_metadata(named=False).create_all(engine)
    engine.dispose()
    live = load_live(db.target, {"public"})
    assert sorted(c.name for c in live.tables[("public", "products")].checks) == [
        "products_price_check",
        "products_stock_check",
    ]
    result = compare_all([metadata_model(_checked_metadata(named=False)), live])
    assert [f.title for f in result.pairs[0].findings] == []
    db.execute("ALTER TABLE products DROP CONSTRAINT products_price_check")
    result = compare_all([load_live(db.target, {"public"}), metadata_model(_checked_metadata(named=False))])
    assert [(f.code, f.object) for f in result.pairs[0].drift] == [
        ("schema.check.missing", "products.products_check")
    ]
    assert "price > 0" in result.pairs[0].drift[0].title


@pytest.mark.catalog
def test_extension_type_installed_in_its_own_schema_is_named_as_the_orm_writes_it(
    db: Any, tmp_path: Path
) -> None:
    db.execute(
        "CREATE SCHEMA extensions; CREATE EXTENSION citext SCHEMA extensions;"
        'CREATE TABLE "User" (id int CONSTRAINT "User_pkey" PRIMARY KEY, email extensions.citext NOT NULL,'
        " aliases extensions.citext[])"
    )
    schema = tmp_path / "citext.prisma"
    schema.write_text(
        'datasource db {\n  provider = "postgresql"\n}\n'
        "model User {\n  id Int @id\n  email String @db.Citext\n  aliases String[] @db.Citext\n}\n"
    )
    assert _drift([f"prisma:{schema}", "live"], db) == []
    db.execute('ALTER TABLE "User" ALTER COLUMN email TYPE text')
    assert _drift([f"prisma:{schema}", "live"], db) == [("schema.column.type", "User.email")]
