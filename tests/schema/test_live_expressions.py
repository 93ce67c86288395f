"""What PostgreSQL rewrites when it stores a column or a constraint, against the official tools' own DDL
(drizzle-kit, Prisma's schema engine, SQLAlchemy's create_all) and Prisma's own reading of a database (db pull,
migrate diff): fractional-second precision 6 (the default) ≡ none, negative numeric defaults (printed
`'-1'::integer`), the literal casts PostgreSQL adds inside default and generated expressions, and CHECK
operators stored in another form (IN → `= ANY (ARRAY[…])`, BETWEEN → `>= AND <=`, LIKE → `~~`). A database
the tool made agrees with its schema; a real difference (another precision, value or check) is reported."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from live_drift import alter, drift
from oracle_models import drizzle_kit_generate, prisma_db_pull, prisma_ddl, prisma_migration_from_live
from schema_test_paths import FIXTURES

from pgdba.schema import check_schemas, compare_all
from pgdba.schema.expressions import normalise_default, normalise_expression
from pgdba.schema.live_source import load_live
from pgdba.schema.sqlalchemy_source import metadata_model
from pgdba.schema.types import canonical_type

DRIZZLE_SCHEMA = FIXTURES / "drizzle" / "expressions.ts"
PRISMA_SCHEMA = FIXTURES / "prisma" / "expressions.prisma"


# type: ignore[arg-type]


# --- the normaliser against the server's own reading of the same text ------------------------------------

# (columns, a CHECK as written): PostgreSQL's pg_get_expr of it must normalise to the same text
CHECKS = [
    ("x int, y int", "x IN (1, 2)"),
    ("x int", "x IN (1)"),
    ("x int", "x NOT IN (1, 2)"),
    ("x int", "x NOT IN (1)"),
    ("x int, y int", "x IN (y, 1, 2)"),
    ("x int, y int", "x IN (y, 1)"),
    ("x int, y int", "x IN (1, y, 2, 3)"),
    ("x int, y int", "(x, y) IN ((1, 2), (3, 4))"),
    ("x int, y int", "(x, y) <> (1, 2)"),
    ("x int", "x IN (-1, -2)"),
    ("x int", "x BETWEEN 0 AND 10"),
    ("x int", "x NOT BETWEEN 0 AND 10"),
    ("x int", "x BETWEEN SYMMETRIC 0 AND 10"),
    ("x int", "x NOT BETWEEN SYMMETRIC 0 AND 10"),
    ("s varchar(10)", "s LIKE 'a%'"),
    ("s varchar(10)", "s NOT LIKE 'a%'"),
    ("s text", "s ILIKE 'a%'"),
    ("s varchar(10)", "s NOT ILIKE 'a%'"),
    ("s varchar(10)", "s SIMILAR TO 'a%'"),
    ("s varchar(10)", "s LIKE 'a!%' ESCAPE '!'"),
    ("s varchar(10)", "s IN ('a', 'b')"),
    ("c char(3)", "c IN ('a', 'b')"),
    ("t text", "t IN ('a', 'b')"),
    ("s varchar(10)", "s NOT IN ('a', 'b')"),
    ("s varchar(10)", "coalesce(s, '') <> 'z'"),
    ("x int", "x > -1"),
    ("n numeric(10,2)", "n > -1.5"),
    ("n numeric(10,2)", "n >= 0"),
    ("r real", "r > -1.5"),
    ("b bigint", "b > -5000000000"),
    ("x int, y int", "x = 1 OR x = 2 OR (x = 3 AND y = 4)"),
    ("x int, y int", "x > 0 AND (y > 0 AND (x < 10 AND y < 10))"),
    ("x int, s varchar(10)", "x IS DISTINCT FROM 5 AND s NOT IN ('x')"),
    ("x int", "x * 0.5 > 1"),
]
# (column type, a DEFAULT as written)
DEFAULTS = [
    ("smallint", "-1"),
    ("integer", "-1"),
    ("bigint", "-5"),
    ("bigint", "-5000000000"),
    ("real", "-1.5"),
    ("double precision", "-2.25"),
    ("numeric(10,2)", "-1"),
    ("numeric", "-5000000000"),
    ("numeric", "1e3"),
    ("integer[]", "ARRAY[-1, 2]"),
    ("timestamp", "(now() at time zone 'utc')"),
    ("timestamptz", "now() - interval '1 day'"),
    ("text", "current_user || '-x'"),
    ("text", "'a' || random()::text"),
    ("tsvector", "to_tsvector('english', 'x')"),
    ("text", "'x'::varchar"),
    ("integer", "'5'::bigint"),
    ("text", "coalesce(current_setting('app.x', true), '')"),
]
# (columns, a generated column's type and expression)
GENERATED = [
    ("name varchar(20)", "text", "coalesce(name, '') || 'x'"),
    ("name text", "text", "coalesce(name, '') || 'x'"),
    ("name varchar(20)", "text", "upper(name)"),
    ("name varchar(20)", "varchar(30)", "name || '!'"),
    ("c char(3)", "text", "c || 'x'"),
    ("n numeric", "numeric", "n * -1.5"),
    ("i int", "int", "i * -1"),
    ("i int", "numeric", "i * 2.5"),
]


@pytest.mark.catalog
def test_stored_checks_defaults_and_generated_columns_normalise_as_written(db: Any) -> None:
    statements = [
        f"CREATE TABLE c{i} ({columns}, CHECK ({check}))" for i, (columns, check) in enumerate(CHECKS)
    ]
    statements += [
        f"CREATE TABLE d{i} (v {kind} DEFAULT {value})" for i, (kind, value) in enumerate(DEFAULTS)
    ]
    statements += [
        f"CREATE TABLE g{i} ({columns}, v {kind} GENERATED ALWAYS AS ({expression}) STORED)"
        for i, (columns, kind, expression) in enumerate(GENERATED)
    ]
    alter(db, "; ".join(statements))
    live = load_live(db.target, {"public"})
    mismatches = []
    for i, (_columns, check) in enumerate(CHECKS):
        (stored,) = live.tables[("public", f"c{i}")].checks
        if normalise_expression(check) != stored.expression:
            mismatches.append(f"CHECK ({check}): {normalise_expression(check)} ≠ {stored.shown}")
    for i, (kind, value) in enumerate(DEFAULTS):
        column = live.tables[("public", f"d{i}")].columns["v"]
        written = normalise_default(value, canonical_type(kind))
        if written.canonical != column.default.canonical:
            mismatches.append(f"{kind} DEFAULT {value}: {written.canonical} ≠ {column.default.shown}")
    for i, (_columns, _kind, expression) in enumerate(GENERATED):
        column = live.tables[("public", f"g{i}")].columns["v"]
        if normalise_expression(expression) != column.generated:
            mismatches.append(
                f"GENERATED ({expression}): {normalise_expression(expression)} ≠ {column.generated}"
            )
    assert mismatches == []


# (columns, a CHECK as written, another CHECK stored): never the same
DIFFERENT_CHECKS = [
    ("x int", "x IN (1, 2)", "x IN (1, 3)"),
    ("x int", "x IN (1, 2)", "x NOT IN (1, 2)"),
    ("x int", "x IN (1)", "x NOT IN (1)"),
    ("x int", "x BETWEEN 0 AND 10", "x BETWEEN 0 AND 11"),
    ("x int", "x BETWEEN 0 AND 10", "x > 0 AND x <= 10"),
    ("x int", "x BETWEEN 0 AND 10", "x NOT BETWEEN 0 AND 10"),
    ("x int", "x BETWEEN 0 AND 10", "x BETWEEN SYMMETRIC 0 AND 10"),
    ("s varchar(10)", "s LIKE 'a%'", "s ILIKE 'a%'"),
    ("s varchar(10)", "s LIKE 'a%'", "s NOT LIKE 'a%'"),
    ("s varchar(10)", "s LIKE 'a%'", "s LIKE 'b%'"),
    ("x int", "x > -1", "x > -2"),
    ("x int", "x > -1", "x > 1"),
    ("n numeric", "n > -1.5", "n > -1.25"),
    ("x int, y int", "(x, y) IN ((1, 2), (3, 4))", "(x, y) IN ((1, 2), (4, 3))"),
    ("x int", "x / 2 > 1", "x::numeric / 2 > 1"),
]
DIFFERENT_DEFAULTS = [
    ("integer", "-1", "-2"),
    ("smallint", "-1", "1"),
    ("real", "-1.5", "-1.25"),
    ("numeric(10,2)", "-1", "-1.5"),
    ("bigint", "-5", "5"),
    ("timestamp", "(now() at time zone 'utc')", "(now() at time zone 'UTC')"),
    ("text", "current_user || '-x'", "current_user || '-y'"),
    ("text", "'abc'", "'abc'::varchar(2)"),
    ("integer", "1.5::int", "1"),
]


@pytest.mark.catalog
def test_a_different_check_or_default_is_never_normalised_away(db: Any) -> None:
    statements = [
        f"CREATE TABLE c{i} ({columns}, CHECK ({stored}))"
        for i, (columns, _w, stored) in enumerate(DIFFERENT_CHECKS)
    ]
    statements += [
        f"CREATE TABLE d{i} (v {kind} DEFAULT {stored})"
        for i, (kind, _w, stored) in enumerate(DIFFERENT_DEFAULTS)
    ]
    alter(db, "; ".join(statements))
    live = load_live(db.target, {"public"})
    hidden = []
    for i, (_columns, written, _stored) in enumerate(DIFFERENT_CHECKS):
        (stored,) = live.tables[("public", f"c{i}")].checks
        if normalise_expression(written) == stored.expression:
            hidden.append(f"CHECK ({written}) ≡ {stored.shown}")
    for i, (kind, written, _stored) in enumerate(DIFFERENT_DEFAULTS):
        column = live.tables[("public", f"d{i}")].columns["v"]
        if normalise_default(written, canonical_type(kind)).canonical == column.default.canonical:
            hidden.append(f"{kind} DEFAULT {written} ≡ {column.default.shown}")
    assert hidden == []


# --- drizzle-kit --------------------------------------------------------------------------------------------


@pytest.fixture
def drizzle_expressions_ddl(drizzle_workdir: Path) -> str:
    shutil.copy(DRIZZLE_SCHEMA, drizzle_workdir / "schema" / "expressions.ts")
    _snapshot, sql = drizzle_kit_generate(drizzle_workdir)
    assert "timestamp (6) with time zone" in sql and "DEFAULT -1" in sql and " in ('active', 'banned')" in sql
    return sql


@pytest.mark.catalog
def test_drizzle_kit_ddl_with_rewritten_expressions_is_consistent(
    db: Any, drizzle_expressions_ddl: str
) -> None:
    db.execute(drizzle_expressions_ddl)
    result = check_schemas([f"drizzle:{DRIZZLE_SCHEMA}", "live"], dsn=db.dsn)
    pair = result.pairs[0]
    assert pair.compared.columns == 16
    assert [f.title for f in pair.findings] == []


DRIZZLE_MUTATIONS = {
    "precision 3 instead of 6": (
        "ALTER TABLE readings ALTER COLUMN at TYPE timestamptz(3)",
        "schema.column.type",
        "readings.at",
    ),
    "precision 6 instead of 3": (
        "ALTER TABLE readings ALTER COLUMN at3 TYPE timestamp(6)",
        "schema.column.type",
        "readings.at3",
    ),
    "another negative default": (
        "ALTER TABLE readings ALTER COLUMN neg SET DEFAULT -2",
        "schema.column.default",
        "readings.neg",
    ),
    "a positive default": (
        "ALTER TABLE readings ALTER COLUMN negr SET DEFAULT 1.5",
        "schema.column.default",
        "readings.negr",
    ),
    "another time zone": (
        "ALTER TABLE readings ALTER COLUMN utc SET DEFAULT (now() AT TIME ZONE 'Europe/Paris')",
        "schema.column.default",
        "readings.utc",
    ),
    "another IN list": (
        "ALTER TABLE readings DROP CONSTRAINT status_in; "
        "ALTER TABLE readings ADD CONSTRAINT status_in CHECK (status IN ('active', 'banned', 'gone'))",
        "schema.check.definition",
        "readings.status_in",
    ),
    "another BETWEEN bound": (
        "ALTER TABLE readings DROP CONSTRAINT score_between; "
        "ALTER TABLE readings ADD CONSTRAINT score_between CHECK (score BETWEEN 0 AND 99)",
        "schema.check.definition",
        "readings.score_between",
    ),
    "ILIKE instead of LIKE": (
        "ALTER TABLE readings DROP CONSTRAINT name_like; "
        "ALTER TABLE readings ADD CONSTRAINT name_like CHECK (name ILIKE 'a%')",
        "schema.check.definition",
        "readings.name_like",
    ),
    "IN instead of NOT IN": (
        "ALTER TABLE readings DROP CONSTRAINT kind_not_in; "
        "ALTER TABLE readings ADD CONSTRAINT kind_not_in CHECK (kind IN ('x', 'y'))",
        "schema.check.definition",
        "readings.kind_not_in",
    ),
    "another generated expression": (
        "ALTER TABLE readings DROP COLUMN label; "
        "ALTER TABLE readings ADD COLUMN label text GENERATED ALWAYS AS (COALESCE(name, '') || ' y') STORED",
        "schema.column.generated",
        "readings.label",
    ),
}


@pytest.mark.catalog
@pytest.mark.parametrize("mutation", sorted(DRIZZLE_MUTATIONS))
def test_a_real_difference_in_a_rewritten_expression_is_reported(
    mutation: str, db: Any, drizzle_expressions_ddl: str
) -> None:
    statement, code, obj = DRIZZLE_MUTATIONS[mutation]
    db.execute(drizzle_expressions_ddl)
    alter(db, statement)
    assert drift(f"drizzle:{DRIZZLE_SCHEMA}", db) == [(code, obj)]


# --- Prisma ------------------------------------------------------------------------------------------------


@pytest.mark.catalog
def test_prisma_engine_ddl_with_precision_six_and_negative_defaults_is_consistent(
    db: Any, node_modules: Path
) -> None:
    sql = prisma_ddl(node_modules, PRISMA_SCHEMA, db.dsn)
    assert '"at" TIMESTAMPTZ(6)' in sql and "DEFAULT -1" in sql
    db.execute(sql)
    # Prisma's engine agrees, except that it compares dbgenerated() by its text, which PostgreSQL stores as
    # `(now() AT TIME ZONE 'utc'::text)`, so it would set the same default again
    migration = prisma_migration_from_live(node_modules, PRISMA_SCHEMA, db.dsn)
    assert migration.splitlines() == [
        """ALTER TABLE "readings" ALTER COLUMN "utc" SET DEFAULT (now() AT TIME ZONE 'utc');"""
    ]
    result = check_schemas([f"prisma:{PRISMA_SCHEMA}", "live"], dsn=db.dsn)
    assert result.pairs[0].compared.columns == 13
    assert [f.title for f in result.pairs[0].findings] == []
    alter(db, "ALTER TABLE readings ALTER COLUMN big SET DEFAULT -6")
    assert 'ALTER COLUMN "big" SET DEFAULT -5' in prisma_migration_from_live(
        node_modules, PRISMA_SCHEMA, db.dsn
    )
    assert drift(f"prisma:{PRISMA_SCHEMA}", db) == [("schema.column.default", "readings.big")]


PULLED_TABLE = """
CREATE TABLE events (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    at2 timestamp,
    t time,
    ttz timetz,
    at3 timestamp(3),
    neg integer DEFAULT -1,
    small smallint DEFAULT -3,
    big bigint DEFAULT -7,
    rl real DEFAULT -1.5,
    dd double precision DEFAULT -2.5,
    cents numeric(10,2) DEFAULT -1,
    utc timestamp DEFAULT (now() AT TIME ZONE 'utc')
)
"""


@pytest.mark.catalog
def test_prisma_db_pull_of_a_database_is_consistent_with_it(
    db: Any, node_modules: Path, tmp_path: Path
) -> None:
    """`prisma db pull` writes @db.Timestamptz(6) for a plain timestamptz column and @default(-1) for
    PostgreSQL's '-1'::integer; Prisma's own diff finds nothing to do, and neither may pgdba."""
    db.execute(PULLED_TABLE)
    datasource = tmp_path / "datasource.prisma"
    datasource.write_text('datasource db {\n  provider = "postgresql"\n}\n')
    schema = tmp_path / "schema.prisma"
    schema.write_text(prisma_db_pull(node_modules, datasource, db.dsn))
    pulled = schema.read_text()
    assert "@db.Timestamptz(6)" in pulled and "@db.Time(6)" in pulled and "@default(-7)" in pulled
    assert prisma_migration_from_live(node_modules, schema, db.dsn) == ""
    result = check_schemas([f"prisma:{schema}", "live"], dsn=db.dsn)
    assert result.pairs[0].compared.columns == 13
    assert [f.title for f in result.pairs[0].findings] == []
    alter(
        db,
        "ALTER TABLE events ALTER COLUMN at TYPE timestamptz(3); ALTER TABLE events ALTER COLUMN rl SET DEFAULT -2.5",
    )
    assert prisma_migration_from_live(node_modules, schema, db.dsn) != ""
    assert drift(f"prisma:{schema}", db) == [
        ("schema.column.default", "events.rl"),
        ("schema.column.type", "events.at"),
    ]


# --- SQLAlchemy --------------------------------------------------------------------------------------------


def _sqlalchemydrift(db: Any, metadata: sa.MetaData) -> list[str]:
    result = compare_all([metadata_model(metadata), load_live(db.target, {"public"})])
    return [f"{f.code}: {f.title}" for f in result.pairs[0].findings]


@pytest.mark.catalog
def test_sqlalchemy_create_all_with_rewritten_expressions_is_consistent(db: Any) -> None:
    from fixtures.sqlalchemy_expressions import metadata  # type: ignore[import-not-found]

    engine = sa.create_engine(db.dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    metadata.create_all(engine)
    engine.dispose()
    assert _sqlalchemydrift(db, metadata) == []
    # the unnamed CHECK is matched by its expression; changed, it no longer is
    alter(
        db,
        "ALTER TABLE readings DROP CONSTRAINT readings_kind_check; "
        "ALTER TABLE readings ADD CONSTRAINT readings_kind_check CHECK (kind IN ('a', 'c')); "
        "ALTER TABLE readings ALTER COLUMN negn SET DEFAULT -0.5",
    )
    assert sorted(f.partition(":")[0] for f in _sqlalchemydrift(db, metadata)) == [
        "schema.check.missing",
        "schema.check.missing",
        "schema.column.default",
    ]
