"""The Prisma parser and the Drizzle evaluator on their own: errors with line and column, what cannot be
evaluated statically is said, and random or truncated input never crashes them (hypothesis)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schema_test_paths import FIXTURES

from pgdba.errors import InputError
from pgdba.schema.drizzle_source import UNKNOWN_TYPE, load_drizzle
from pgdba.schema.model import DefaultKind
from pgdba.schema.prisma_source import load_prisma, prisma_model
from pgdba.schema.prisma_syntax import PrismaSyntaxError, parse_prisma

FEATURES = (FIXTURES / "prisma" / "features.prisma").read_text()
DRIZZLE_SINGLE = (FIXTURES / "drizzle" / "single.ts").read_text()


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("model User {\n  id Int @id\n  email String @unique(\n}", 4, 1, "expected a value, found '}'"),
        ("model User {\n  id Int @id", 2, 13, "expected '}' closing model User, found end of file"),
        ('model A {\n  name String @default("abc)\n}', 2, 24, "unterminated string"),
        ("modle A {\n}", 1, 1, "unknown block type 'modle'"),
        ("model A {\n  id Int @id $\n}", 2, 14, "unexpected character '$'"),
        ("model A {\n  id\n}", 2, 5, "expected a type for field 'id', found end of line"),
    ],
)
def test_prisma_syntax_errors_name_line_and_column(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(PrismaSyntaxError) as caught:
        parse_prisma(text, "schema.prisma")
    assert (caught.value.line, caught.value.column) == (line, column)
    assert str(caught.value) == f"schema.prisma:{line}:{column}: {message}"


@pytest.mark.parametrize(
    ("field", "column", "message"),
    [
        ("name String @db.VarChar(-5)", 3, "not a PostgreSQL type: 'varchar(-5)'"),
        ('geo Unsupported("no such(type")', 3, "not a PostgreSQL type: 'no such(type'"),
    ],
)
def test_prisma_bad_column_types_name_the_field_location(
    tmp_path: Path, field: str, column: int, message: str
) -> None:
    schema = tmp_path / "schema.prisma"
    schema.write_text(f"model A {{\n  id Int @id\n  {field}\n}}\n")
    with pytest.raises(InputError) as caught:
        load_prisma(schema)
    assert str(caught.value) == f"{schema}:3:{column}: {message}"


def test_prisma_reads_maps_defaults_keys_and_relations() -> None:
    model = load_prisma(FIXTURES / "prisma" / "features.prisma")
    users = model.tables["public", "users"]
    assert users.model == "User"
    password = users.columns["password_hash"]
    assert (password.field, password.type, password.nullable) == ("passwordHash", "text", False)
    assert (
        users.columns["role"].type == "user_role" and users.columns["role"].default.canonical == "'STUDENT'"
    )
    assert users.columns["id"].default.kind is DefaultKind.CLIENT
    assert users.columns["token"].default.canonical == "gen_random_uuid()"
    assert users.columns["created_at"].default.canonical == "now()"
    assert users.columns["tags"].nullable and users.columns["tags"].type == "text[]"
    assert model.enums["public", "user_role"].values == ("STUDENT", "teacher", "ADMIN")
    post_tag = model.tables["public", "PostTag"]
    assert post_tag.primary_key is not None and post_tag.primary_key.columns == ("postId", "tagId")
    assert {(f.columns, f.on_delete, f.on_update) for f in post_tag.foreign_keys} == {
        (("postId",), "CASCADE", "NO ACTION"),
        (("tagId",), "SET NULL", "RESTRICT"),
    }
    post = model.tables["public", "Post"]
    assert post.foreign_keys[0].on_delete == "SET NULL"  # optional relation: Prisma's default
    gin = next(i for i in users.indexes if i.method == "gin")
    assert gin.columns[0].opclass == "jsonb_path_ops"


def test_prisma_reads_a_folder_of_files() -> None:
    model = load_prisma(FIXTURES / "prisma" / "multi")
    courses = model.tables["public", "courses"]
    assert courses.foreign_keys[0].ref_table == "teachers"
    assert courses.foreign_keys[0].columns == ("teacher_id",)


def test_prisma_rejects_a_non_postgresql_provider() -> None:
    with pytest.raises(InputError, match="not PostgreSQL"):
        prisma_model(parse_prisma('datasource db {\n  provider = "mysql"\n}\n'))


def test_drizzle_says_what_it_cannot_evaluate(tmp_path: Path) -> None:
    (tmp_path / "schema.ts").write_text(
        'import { pgTable, text, integer, varchar, customType } from "drizzle-orm/pg-core";\n'
        'import { LENGTH } from "some-config-package";\n'
        "const citext = customType<{ data: string }>({ dataType() { return 'citext'; } });\n"
        "export const users = pgTable('users', {\n"
        "  id: integer('id').primaryKey(),\n"
        "  name: varchar('name', { length: LENGTH }),\n"
        "  email: citext('email'),\n"
        "  note: text('note').default(process.env.DEFAULT_NOTE),\n"
        "});\n"
    )
    model = load_drizzle(tmp_path / "schema.ts")
    users = model.tables["public", "users"]
    assert users.columns["name"].type == UNKNOWN_TYPE
    assert "email" not in users.columns
    assert users.columns["note"].default.canonical == "?"
    assert users.unknown_columns == ["email"]
    notes = "\n".join(model.notes)
    assert (
        "schema.ts:6:" in notes
        and "type of users.name not compared: varchar() options not known statically" in notes
    )
    assert "schema.ts:7:" in notes and "customType() columns are not evaluated" in notes
    assert "schema.ts:8:" in notes and "default of users.note" in notes


def test_drizzle_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "schema.ts").write_text("export const a = pgTable('a', {\n  id: integer(,\n});\n")
    with pytest.raises(InputError, match=r"schema\.ts:2:\d+: "):
        load_drizzle(tmp_path / "schema.ts")


def test_drizzle_pg_table_creator_prefix_and_callback_forms() -> None:
    model = load_drizzle(FIXTURES / "drizzle" / "folder")
    assert ("public", "app_users") in model.tables  # pgTableCreator((name) => `${PREFIX}_${name}`)
    posts = model.tables["public", "posts"]  # callback column form
    assert posts.columns["id"].identity == "always"
    users = model.tables["public", "app_users"]
    assert users.columns["created_at"].field == "createdAt"  # spread helper
    assert users.columns["name"].type == "character varying(120)"  # imported constant


# --- fuzzing: never a crash, only a parse error ----------------------------------------------------------

_PRISMA_ALPHABET = st.sampled_from(
    list(
        'model enum datasource {}()[]@@.,:=?"\n\t /Int String id map default unique index relation fields references 0123456789abcXYZ\\'
    )
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PRISMA_ALPHABET, max_size=80).map("".join))
def test_prisma_parser_never_crashes_on_random_input(text: str) -> None:
    try:
        prisma_model(parse_prisma(text, "fuzz.prisma"))
    except PrismaSyntaxError as exc:
        assert str(exc).startswith(f"fuzz.prisma:{exc.line}:{exc.column}: ")
    except InputError as exc:  # a schema that parses but means nothing (unknown field, …): one line
        assert str(exc) and "\n" not in str(exc)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(FEATURES)))
def test_prisma_parser_never_crashes_on_truncated_schemas(cut: int) -> None:
    try:
        prisma_model(parse_prisma(FEATURES[:cut], "cut.prisma"))
    except PrismaSyntaxError as exc:
        assert str(exc).startswith(f"cut.prisma:{exc.line}:{exc.column}: ")
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=len(DRIZZLE_SINGLE)))
def test_drizzle_parser_never_crashes_on_truncated_schemas(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "cut.ts"
    path.write_text(DRIZZLE_SINGLE[:cut])
    try:
        load_drizzle(path)
    except InputError as exc:
        assert "cut.ts" in str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from(list("pgTable(){}[]'\"`${}.,;:=>+-*/ abcxyz0123\n\\")), max_size=120))
def test_drizzle_parser_never_crashes_on_random_input(tmp_path: Path, text: str) -> None:
    path = tmp_path / "random.ts"
    path.write_text('import { pgTable, text } from "drizzle-orm/pg-core";\nexport const t = ' + text)
    try:
        load_drizzle(path)
    except InputError as exc:
        assert "random.ts" in str(exc)


def test_drizzle_column_names_follow_the_casing_setting(tmp_path: Path) -> None:
    (tmp_path / "schema.ts").write_text(
        'import { pgTable, timestamp, integer } from "drizzle-orm/pg-core";\n'
        'export const events = pgTable("events", { userId: integer().notNull(), createdAt: timestamp() });\n'
    )
    assert sorted(load_drizzle(tmp_path / "schema.ts").tables["public", "events"].columns) == [
        "createdAt",
        "userId",
    ]
    snake = load_drizzle(tmp_path / "schema.ts", casing="snake_case").tables["public", "events"]
    assert sorted(snake.columns) == ["created_at", "user_id"]
    assert snake.columns["user_id"].field == "userId"
