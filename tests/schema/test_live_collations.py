"""Column collations: the live column's (when not its type's default) against the one a source declares.
SQLAlchemy declares one (`Text(collation="C")`) and a difference is drift, with SQL that leaves none behind;
Drizzle's pg-core and Prisma cannot declare one for a PostgreSQL column, so a live collation is only noted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pglast
import pytest
import sqlalchemy as sa

from pgdba.findings import Finding, Severity
from pgdba.schema import check_schemas, compare_all
from pgdba.schema.live_source import load_live
from pgdba.schema.sqlalchemy_source import metadata_model


def _metadata() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
        "item",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("code", sa.String(20, collation="C"), nullable=False),
        sa.Column("tags", sa.ARRAY(sa.Text(collation="C"))),
        sa.Column("name", sa.Text),
    )
    return metadata


def _findings(db: Any) -> list[Finding]:
    return compare_all([metadata_model(_metadata()), load_live(db.target, {"public"})]).pairs[0].findings


def _run(db: Any, findings: list[Finding]) -> None:
    with db.connect() as conn:
        for statement in [s for f in findings if f.sql for s in pglast.split(f.sql)]:
            conn.execute(statement)  # type: ignore[arg-type]


@pytest.mark.catalog
def test_sqlalchemy_collations_are_read_and_compared_with_the_live_columns(db: Any) -> None:
    model = metadata_model(_metadata())
    columns = model.tables[("public", "item")].columns
    assert model.notes == []  # the type is compared, not given up on for its COLLATE clause
    assert (columns["code"].type, columns["code"].collation) == ("character varying(20)", '"C"')
    assert (columns["tags"].type, columns["tags"].collation) == ("text[]", '"C"')
    assert columns["name"].collation == ""
    engine = sa.create_engine(db.dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    _metadata().create_all(engine)
    engine.dispose()
    live = load_live(db.target, {"public"}).tables[("public", "item")].columns
    assert (live["code"].collation, live["tags"].collation, live["name"].collation) == ('"C"', '"C"', "")
    assert _findings(db) == []


@pytest.mark.catalog
def test_a_collation_difference_with_sqlalchemy_is_drift_and_its_sql_removes_it(db: Any) -> None:
    db.execute(
        'CREATE TABLE item (id integer PRIMARY KEY, code varchar(20) COLLATE "POSIX" NOT NULL, '
        'tags text[] COLLATE "C", name text COLLATE "C");'
        "INSERT INTO item SELECT g, 'c' || g, ARRAY['t'], 'n' || g FROM generate_series(1, 50) g"
    )
    findings = _findings(db)
    by_object = {f.object: f for f in findings}
    assert sorted(by_object) == ["item.code", "item.name"]
    assert {f.code for f in findings} == {"schema.column.collation"}
    assert all(f.severity is Severity.WARNING for f in findings)
    code = by_object["item.code"]
    assert code.title == 'item.code: collation "C" in sqlalchemy, collation "POSIX" in live'
    assert (code.metrics["left"], code.metrics["right"]) == ('"C"', '"POSIX"')
    assert 'ALTER TABLE "item" ALTER COLUMN "code" TYPE character varying(20) COLLATE "C";' in (
        code.sql or ""
    )
    assert 'collation="POSIX"' in code.recommendation
    name = by_object["item.name"]
    assert name.title == 'item.name: the type\'s default collation in sqlalchemy, collation "C" in live'
    assert 'ALTER TABLE "item" ALTER COLUMN "name" TYPE text;' in (name.sql or "")
    _run(db, findings)
    assert _findings(db) == []


DRIZZLE = """
import { pgTable, integer, text } from "drizzle-orm/pg-core";
export const item = pgTable("item", {
  id: integer("id").primaryKey(),
  name: text("name"),
});
"""

PRISMA = """
datasource db {
  provider = "postgresql"
}
model item {
  id   Int     @id(map: "item_pkey")
  name String?
}
"""


@pytest.mark.catalog
@pytest.mark.parametrize("source", ["drizzle", "prisma"])
def test_a_live_collation_a_source_cannot_declare_is_noted_not_drift(
    source: str, db: Any, tmp_path: Path
) -> None:
    schema = tmp_path / ("schema.ts" if source == "drizzle" else "schema.prisma")
    schema.write_text(DRIZZLE if source == "drizzle" else PRISMA)
    db.execute('CREATE TABLE item (id integer PRIMARY KEY, name text COLLATE "C")')
    result = check_schemas([f"{source}:{schema}", "live"], dsn=db.dsn)
    [finding] = result.pairs[0].findings
    assert result.consistent
    assert finding.code == "schema.column.collation" and finding.severity is Severity.INFO
    assert finding.object == "item.name" and finding.sql is None
    assert "cannot declare a column's collation" in finding.recommendation


@pytest.mark.catalog
def test_a_column_missing_in_live_is_added_with_its_declared_collation(db: Any) -> None:
    db.execute("CREATE TABLE item (id integer PRIMARY KEY, name text); INSERT INTO item VALUES (1, 'a')")
    findings = [f for f in _findings(db) if f.severity is not Severity.INFO]
    assert {(f.code, f.object) for f in findings} == {
        ("schema.column.missing", "item.code"),
        ("schema.column.missing", "item.tags"),
    }
    sql = {f.object: f.sql or "" for f in findings}
    assert 'ADD COLUMN "code" character varying(20) COLLATE "C" NOT NULL;' in sql["item.code"]
    assert 'ADD COLUMN "tags" text[] COLLATE "C";' in sql["item.tags"]
    db.execute("DELETE FROM item")  # NOT NULL without a default: the column is added to an empty table
    _run(db, findings)
    assert _findings(db) == []
