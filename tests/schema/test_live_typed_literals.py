"""Typed literals PostgreSQL stores in its type's output form, against the server's own pg_get_expr and the
official tools' DDL: timestamps (`'2020-01-01T00:00:00Z'` → `'2020-01-01 00:00:00'::timestamp without time
zone`, a timestamptz in UTC, pgdba's session time zone), dates, times, intervals (`'90 minutes'` →
`'01:30:00'::interval`), JSON, UUIDs; IN lists of mixed numbers (`x IN (1, 2.5)` → `(x)::numeric = ANY …`);
negative numbers in a partial index's predicate. A different value, type or operator is still reported."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from live_drift import alter, drift
from oracle_models import drizzle_kit_generate, prisma_ddl
from schema_test_paths import FIXTURES

from pgdba.schema import check_schemas, compare_all
from pgdba.schema.expressions import normalise_default, normalise_expression
from pgdba.schema.live_source import load_live
from pgdba.schema.sqlalchemy_source import metadata_model
from pgdba.schema.types import canonical_type

DRIZZLE_SCHEMA = FIXTURES / "drizzle" / "typed_literals.ts"
PRISMA_SCHEMA = FIXTURES / "prisma" / "typed_literals.prisma"
COLUMNS = (
    "x int, n numeric, r real, d date, at timestamp, atz timestamptz, t time, iv interval, j jsonb, u uuid"
)


# type: ignore[arg-type]


# (column type, a DEFAULT as written)
DEFAULTS = [
    ("timestamp(3)", "'2020-01-01T00:00:00Z'"),
    ("timestamp(3)", "'2020-01-01 00:00:00 +00:00'"),  # Prisma's engine writes it so
    ("timestamp", "'2020-01-01 00:00:00.123456'"),
    ("timestamp", "'2020-01-01'"),
    ("timestamp", "'epoch'"),
    ("timestamptz", "'2020-01-01T02:00:00+02:00'"),
    ("timestamptz(3)", "'2020-01-01 00:00:00.5Z'"),
    ("timestamptz", "'2020-06-01 00:00:00'"),
    ("timestamptz", "'infinity'"),
    ("date", "'2020-1-2'"),
    ("date", "'2020-01-02 00:00:00 +00:00'"),
    ("time", "'12:00'"),
    ("time(0)", "'12:00:00.7'"),
    ("timetz", "'12:00+05:30'"),
    ("interval", "'90 minutes'"),
    ("interval", "'1 year 2 months ago'"),
    ("interval", "'-1 day +02:00'"),
    ("interval", "'@ 1 week 36 hours'"),
    ("interval", "'1.5 hours'"),
    ("jsonb", """'{"b": [1, 2], "a": 1}'"""),
    ("json", """'{"a":1}'"""),
    ("uuid", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'"),
    ("uuid", "'{a0eebc999c0b4ef8bb6d6bb9bd380a11}'"),
    ("numeric", "1.50"),  # kept as 1.50 by PostgreSQL: numbers compare by value
    ("numeric(10,2)", "'1.50'"),
    ("date[]", "'{2020-1-2}'"),
    ("date[]", "ARRAY['2020-1-2']::date[]"),
    ("timestamptz", "'2020-01-01T00:00:00Z'::timestamptz + interval '90 minutes'"),
]
# (a CHECK or an index predicate as written, on COLUMNS)
EXPRESSIONS = [
    "x IN (1, 2.5)",
    "x IN (-1, -2.5)",
    "x NOT IN (1, 2.5)",
    "x IN (1, 2.5, x)",
    "r IN (1, 2.5, -3)",
    "x > -1::integer",
    "x > -(1)",
    "d IN ('2020-01-01', '2020-1-2')",
    "d BETWEEN '2020-1-1' AND '2020-12-31'",
    "at > '2020-01-01'",
    "'2020-01-01T00:00:00' < at",
    "atz >= '2020-01-01T02:00:00+02:00'",
    "t <> '12:00'",
    "iv <= interval '2 hours'",
    "iv < '1 day'",
    "now() - iv > '2020-01-01'::timestamptz",
    """j @> '{"a":1}'""",
    """j <> '{"b": 2, "a": 1}'::jsonb""",
    "u = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'",
]
# a partial index's predicate with a negative number (stored `(x > '-1'::integer)`)
PREDICATES = ["x > -1", "x > -1 AND n < -2.5", "x <> -1::int", "r > -1", "x IN (1, 2.5) OR x < -5"]


@pytest.mark.catalog
def test_stored_typed_literals_normalise_as_written(db: Any) -> None:
    statements = [f"CREATE TABLE d{i} (v {kind} DEFAULT {value})" for i, (kind, value) in enumerate(DEFAULTS)]
    statements += [f"CREATE TABLE c{i} ({COLUMNS}, CHECK ({check}))" for i, check in enumerate(EXPRESSIONS)]
    statements += [f"CREATE TABLE p ({COLUMNS})"]
    statements += [f"CREATE INDEX p{i} ON p (x) WHERE {predicate}" for i, predicate in enumerate(PREDICATES)]
    alter(db, "; ".join(statements))
    live = load_live(db.target, {"public"})
    mismatches = []
    for i, (kind, value) in enumerate(DEFAULTS):
        column = live.tables[("public", f"d{i}")].columns["v"]
        written = normalise_default(value, canonical_type(kind))
        if written.canonical != column.default.canonical:
            mismatches.append(f"{kind} DEFAULT {value}: {written.canonical} ≠ {column.default.shown}")
    for i, check in enumerate(EXPRESSIONS):
        table = live.tables[("public", f"c{i}")]
        (stored,) = table.checks
        if normalise_expression(check, table.column_types) != stored.expression:
            mismatches.append(
                f"CHECK ({check}): {normalise_expression(check, table.column_types)} ≠ {stored.shown}"
            )
    indexes = {index.name: index for index in live.tables[("public", "p")].indexes}
    for i, predicate in enumerate(PREDICATES):
        written = normalise_expression(predicate, live.tables[("public", "p")].column_types)
        if written != indexes[f"p{i}"].predicate:
            mismatches.append(f"WHERE {predicate}: {written} ≠ {indexes[f'p{i}'].predicate}")
    assert mismatches == []


# (column type, a DEFAULT as written, another DEFAULT stored): never the same
DIFFERENT_DEFAULTS = [
    ("timestamp(3)", "'2020-01-01T00:00:00Z'", "'2020-01-01 00:00:01'"),
    ("timestamp", "'2020-01-01 00:00:00.5'", "'2020-01-01 00:00:00.05'"),
    ("timestamptz", "'2020-01-01T00:00:00Z'", "'2020-01-01T00:00:00+01:00'"),
    ("timestamptz", "'2020-01-01T00:00:00Z'", "'2020-01-01'::date"),
    ("date", "'2020-01-02'", "'2020-01-03'"),
    ("time", "'12:00'", "'12:00:01'"),
    ("timetz", "'12:00+02'", "'10:00+00'"),
    ("interval", "'1 day'", "'24 hours'"),
    ("interval", "'1 month'", "'30 days'"),
    ("interval", "'90 minutes'", "'-90 minutes'"),
    ("jsonb", """'{"a": 1}'""", """'{"a": "1"}'"""),
    ("jsonb", """'[1, 2]'""", """'[2, 1]'"""),
    ("uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12'"),
    ("numeric", "1.5", "1.05"),
]
# (a CHECK as written, another CHECK stored, on COLUMNS)
DIFFERENT_CHECKS = [
    ("x IN (1, 2.5)", "x IN (1, 2.6)"),
    ("x IN (1, 2.5)", "x NOT IN (1, 2.5)"),
    ("x IN (1, 2.5)", "x::numeric = ANY (ARRAY[1, 2.5]) AND x > 0"),
    ("x > -1", "x > 1"),
    ("x > -1", "x >= -1"),
    ("x > -1::integer", "x > -2"),
    ("d IN ('2020-01-01', '2020-1-2')", "d IN ('2020-01-01', '2020-01-03')"),
    ("at > '2020-01-01'", "at > '2020-01-02'"),
    ("at > '2020-01-01'", "at::date > '2020-01-01'"),
    ("iv <= interval '2 hours'", "iv <= interval '120 seconds'"),
    ("iv <= interval '2 hours'", "iv < interval '2 hours'"),
    ("""j @> '{"a":1}'""", """j <@ '{"a":1}'"""),
    ("""j @> '{"a":1}'""", """j @> '{"a":2}'"""),
    ("u = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", "u::text = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'"),
]


@pytest.mark.catalog
def test_a_different_typed_literal_or_operator_is_never_normalised_away(db: Any) -> None:
    statements = [
        f"CREATE TABLE d{i} (v {kind} DEFAULT {stored})"
        for i, (kind, _w, stored) in enumerate(DIFFERENT_DEFAULTS)
    ]
    statements += [
        f"CREATE TABLE c{i} ({COLUMNS}, CHECK ({stored}))" for i, (_w, stored) in enumerate(DIFFERENT_CHECKS)
    ]
    alter(db, "; ".join(statements))
    live = load_live(db.target, {"public"})
    hidden = []
    for i, (kind, written, _stored) in enumerate(DIFFERENT_DEFAULTS):
        column = live.tables[("public", f"d{i}")].columns["v"]
        if normalise_default(written, canonical_type(kind)).canonical == column.default.canonical:
            hidden.append(f"{kind} DEFAULT {written} ≡ {column.default.shown}")
    for i, (written, _stored) in enumerate(DIFFERENT_CHECKS):
        table = live.tables[("public", f"c{i}")]
        (stored,) = table.checks
        if normalise_expression(written, table.column_types) == stored.expression:
            hidden.append(f"CHECK ({written}) ≡ {stored.shown}")
    assert hidden == []


# --- drizzle-kit --------------------------------------------------------------------------------------------


@pytest.fixture
def drizzle_typed_literals_ddl(drizzle_workdir: Path) -> str:
    shutil.copy(DRIZZLE_SCHEMA, drizzle_workdir / "schema" / "typed_literals.ts")
    _snapshot, sql = drizzle_kit_generate(drizzle_workdir)
    assert """DEFAULT '90 minutes'""" in sql and """WHERE "events"."score" > -1""" in sql
    return sql


@pytest.mark.catalog
def test_drizzle_kit_ddl_with_typed_literals_is_consistent(db: Any, drizzle_typed_literals_ddl: str) -> None:
    db.execute(drizzle_typed_literals_ddl)
    result = check_schemas([f"drizzle:{DRIZZLE_SCHEMA}", "live"], dsn=db.dsn)
    pair = result.pairs[0]
    assert pair.compared.columns == 11 and pair.compared.indexes == 2
    assert [f.title for f in pair.findings] == []


DRIZZLE_MUTATIONS = {
    "a timestamp a second later": (
        "ALTER TABLE events ALTER COLUMN at SET DEFAULT '2020-01-01 00:00:01'",
        "schema.column.default",
        "events.at",
    ),
    "a timestamptz an hour earlier": (
        "ALTER TABLE events ALTER COLUMN atz SET DEFAULT '2020-01-01T02:00:00+03:00'",
        "schema.column.default",
        "events.atz",
    ),
    "1 day instead of 90 minutes": (
        "ALTER TABLE events ALTER COLUMN span SET DEFAULT '1 day'",
        "schema.column.default",
        "events.span",
    ),
    "another JSON value": (
        """ALTER TABLE events ALTER COLUMN doc SET DEFAULT '{"a": 1, "b": [2, 1]}'""",
        "schema.column.default",
        "events.doc",
    ),
    "another date in the IN list": (
        "ALTER TABLE events DROP CONSTRAINT day_in; "
        "ALTER TABLE events ADD CONSTRAINT day_in CHECK (day IN ('2020-01-01', '2020-01-03'))",
        "schema.check.definition",
        "events.day_in",
    ),
    "another number in the mixed IN list": (
        "ALTER TABLE events DROP CONSTRAINT score_in; "
        "ALTER TABLE events ADD CONSTRAINT score_in CHECK (score IN (1, 2.5, 3))",
        "schema.check.definition",
        "events.score_in",
    ),
    "a positive bound in the predicate": (
        "DROP INDEX events_scored; CREATE INDEX events_scored ON events (id) WHERE score > 1",
        "schema.index.definition",
        "events.events_scored",
    ),
    "another operator on the interval": (
        "ALTER TABLE events DROP CONSTRAINT span_max; "
        "ALTER TABLE events ADD CONSTRAINT span_max CHECK (span < interval '2 hours')",
        "schema.check.definition",
        "events.span_max",
    ),
}


@pytest.mark.catalog
@pytest.mark.parametrize("mutation", sorted(DRIZZLE_MUTATIONS))
def test_a_real_difference_in_a_typed_literal_is_reported(
    mutation: str, db: Any, drizzle_typed_literals_ddl: str
) -> None:
    statement, code, obj = DRIZZLE_MUTATIONS[mutation]
    db.execute(drizzle_typed_literals_ddl)
    alter(db, statement)
    assert drift(f"drizzle:{DRIZZLE_SCHEMA}", db) == [(code, obj)]


# --- Prisma ------------------------------------------------------------------------------------------------


@pytest.mark.catalog
def test_prisma_engine_ddl_with_typed_literal_defaults_is_consistent(db: Any, node_modules: Path) -> None:
    sql = prisma_ddl(node_modules, PRISMA_SCHEMA, db.dsn)
    assert "DEFAULT '2020-01-01 00:00:00 +00:00'" in sql and "WHERE (score > -1)" in sql
    db.execute(sql)
    result = check_schemas([f"prisma:{PRISMA_SCHEMA}", "live"], dsn=db.dsn)
    assert result.pairs[0].compared.columns == 8 and result.pairs[0].compared.indexes == 2
    assert [f.title for f in result.pairs[0].findings] == []
    alter(
        db,
        "ALTER TABLE events ALTER COLUMN day SET DEFAULT '2020-01-03'; "
        "ALTER TABLE events ALTER COLUMN ref SET DEFAULT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12'",
    )
    assert drift(f"prisma:{PRISMA_SCHEMA}", db) == [
        ("schema.column.default", "events.day"),
        ("schema.column.default", "events.ref"),
    ]


# --- SQLAlchemy --------------------------------------------------------------------------------------------


def _sqlalchemy_metadata() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
        "events",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, server_default=sa.text("'2020-01-01T00:00:00'")),
        sa.Column("atz", sa.DateTime(timezone=True), server_default="2020-01-01 02:00:00+02"),
        sa.Column("day", sa.Date, server_default="2020-1-2"),
        sa.Column("span", sa.Interval, server_default="90 minutes"),
        sa.Column("ref", sa.Uuid, server_default="A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
        sa.Column("score", sa.Integer, nullable=False),
        sa.CheckConstraint("score IN (1, 2.5, -3)", name="score_in"),
        sa.CheckConstraint("day > '2019-12-31'", name="day_after"),
        sa.Index("events_scored", "id", postgresql_where=sa.text("score > -1")),
    )
    return metadata


@pytest.mark.catalog
def test_sqlalchemy_create_all_with_typed_literals_is_consistent(db: Any) -> None:
    metadata = _sqlalchemy_metadata()
    engine = sa.create_engine(db.dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    metadata.create_all(engine)
    engine.dispose()
    live = load_live(db.target, {"public"})
    result = compare_all([metadata_model(metadata), live])
    assert [f.title for f in result.pairs[0].findings] == []
    alter(db, "ALTER TABLE events ALTER COLUMN span SET DEFAULT '01:30:01'")
    result = compare_all([metadata_model(metadata), load_live(db.target, {"public"})])
    assert [f.code for f in result.pairs[0].findings] == ["schema.column.default"]
