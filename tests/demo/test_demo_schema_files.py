"""The four descriptions of the demo schema name the same tables, columns, enums, indexes and foreign keys.

A structural check only (the schema verifier compares types, defaults and actions): schema.sql is read from
the live catalog, SQLAlchemy from its metadata and by creating it, Prisma with a small block parser, and
Drizzle with tree-sitter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
import tree_sitter_typescript
from tree_sitter import Language, Node, Parser

from pgdba.demo.files import SCHEMA_DRIZZLE, SCHEMA_PRISMA, SCHEMA_SQL, schema_sections
from pgdba.demo.models import Base
from tests.demo.support import BuiltDemo, CatalogShape, read_catalog_shape


@dataclass
class SchemaNames:
    """The names a schema description gives: table -> columns, enums, index/constraint names."""

    tables: dict[str, set[str]] = field(default_factory=dict)
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)
    indexes: set[str] = field(default_factory=set)  # primary keys and unique/plain indexes
    foreign_keys: set[str] = field(default_factory=set)


def _live_names(shape: CatalogShape) -> SchemaNames:
    return SchemaNames(
        tables={table: set(columns) for table, columns in shape.columns.items()},
        enums=dict(shape.enums),
        indexes=set(shape.indexes),
        foreign_keys={
            name.split(".", 1)[1] for name, d in shape.constraints.items() if d.startswith("FOREIGN KEY")
        },
    )


def _prisma_names(text: str) -> SchemaNames:
    """Prisma's default database names for a schema without @map/@@map (the demo uses none)."""
    names = SchemaNames()
    blocks = list(re.finditer(r"^(model|enum)\s+(\w+)\s*\{(.*?)^\}", text, re.MULTILINE | re.DOTALL))
    models = {m[2] for m in blocks if m[1] == "model"}
    assert "@map(" not in text, "the demo schema maps no names; extend this parser if it starts to"
    for kind, name, body in (m.groups() for m in blocks):
        lines = [line.split("//")[0].strip() for line in body.splitlines()]
        lines = [line for line in lines if line]
        if kind == "enum":
            names.enums[name] = tuple(lines)
            continue
        columns: set[str] = set()
        for line in lines:
            if line.startswith("@@"):
                attribute, cols = re.match(r"@@(\w+)\(\[([^\]]*)\]", line).groups()  # type: ignore[union-attr]
                joined = "_".join(c.strip() for c in cols.split(","))
                suffix = {"id": "pkey", "unique": "key", "index": "idx"}[attribute]
                names.indexes.add(f"{name}_pkey" if suffix == "pkey" else f"{name}_{joined}_{suffix}")
                continue
            field_name, field_type = line.split()[:2]
            if field_type.rstrip("?[]") in models:
                relation = re.search(r"fields:\s*\[([^\]]*)\]", line)
                if relation:
                    joined = "_".join(c.strip() for c in relation[1].split(","))
                    names.foreign_keys.add(f"{name}_{joined}_fkey")
                continue
            columns.add(field_name)
            if re.search(r"@id\b", line):
                names.indexes.add(f"{name}_pkey")
            if re.search(r"@unique\b", line):
                names.indexes.add(f"{name}_{field_name}_key")
        names.tables[name] = columns
    return names


def _string(node: Node) -> str:
    assert node.type == "string", node.type
    return "".join(child.text.decode() for child in node.children if child.type == "string_fragment")  # type: ignore[union-attr]


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _arguments(call: Node) -> list[Node]:
    args = call.child_by_field_name("arguments")
    assert args is not None
    return [a for a in args.named_children if a.type != "comment"]


def _drizzle_names(text: str) -> SchemaNames:
    """Table, column, enum and constraint names from the pgTable/pgEnum/index/foreignKey calls."""
    tree = Parser(Language(tree_sitter_typescript.language_typescript())).parse(text.encode())
    names = SchemaNames()
    for node in _walk(tree.root_node):
        if node.type != "call_expression":
            continue
        function = node.child_by_field_name("function")
        callee = function.text.decode() if function is not None and function.type == "identifier" else None  # type: ignore[union-attr]
        if callee == "pgEnum":
            name, values = _arguments(node)[:2]
            names.enums[_string(name)] = tuple(_string(v) for v in values.named_children)
        elif callee == "pgTable":
            table_arg, columns_arg = _arguments(node)[:2]
            table = _string(table_arg)
            names.tables[table] = set()
            for pair in columns_arg.named_children:
                value = pair.child_by_field_name("value")
                chain = value.text.decode()  # type: ignore[union-attr]
                while value is not None and value.type == "call_expression":
                    inner = value.child_by_field_name("function")
                    if inner is not None and inner.type == "member_expression":
                        value = inner.child_by_field_name("object")
                        continue
                    break
                assert value is not None
                names.tables[table].add(_string(_arguments(value)[0]))
                if ".primaryKey()" in chain:
                    names.indexes.add(f"{table}_pkey")
        elif callee in ("index", "uniqueIndex"):
            names.indexes.add(_string(_arguments(node)[0]))
        elif callee in ("foreignKey", "primaryKey"):
            for pair in _arguments(node)[0].named_children:
                if pair.child_by_field_name("key").text.decode() == "name":  # type: ignore[union-attr]
                    target = names.foreign_keys if callee == "foreignKey" else names.indexes
                    target.add(_string(pair.child_by_field_name("value")))  # type: ignore[arg-type]
    return names


def _sqlalchemy_names() -> SchemaNames:
    names = SchemaNames()
    for table in Base.metadata.tables.values():
        names.tables[table.name] = {column.name for column in table.columns}
        names.indexes.add(f"{table.name}_pkey")
        names.indexes.update(str(index.name) for index in table.indexes)
        names.foreign_keys.update(str(fk.name) for fk in table.foreign_key_constraints)
        for column in table.columns:
            if isinstance(column.type, sa.Enum):
                names.enums[str(column.type.name)] = tuple(column.type.enums)
    return names


@pytest.fixture(scope="module")
def live(tiny_demo: BuiltDemo) -> SchemaNames:
    return _live_names(read_catalog_shape(tiny_demo.dsn))


def test_live_schema_has_the_expected_size(live: SchemaNames) -> None:
    assert len(live.tables) >= 15
    assert "passwordHash" in live.tables["User"]
    assert {"Role", "EnrollmentStatus"} <= set(live.enums)


def test_prisma_schema_names_what_schema_sql_creates(live: SchemaNames) -> None:
    assert _prisma_names(SCHEMA_PRISMA.read_text()) == live


def test_drizzle_schema_names_what_schema_sql_creates(live: SchemaNames) -> None:
    assert _drizzle_names(SCHEMA_DRIZZLE.read_text()) == live


def test_sqlalchemy_models_name_what_schema_sql_creates(live: SchemaNames) -> None:
    assert _sqlalchemy_names() == live


def test_sqlalchemy_models_create_the_same_catalog_as_schema_sql(
    tiny_demo: BuiltDemo, scratch_database: Callable[[], str]
) -> None:
    from_models = scratch_database()
    engine = sa.create_engine("postgresql+psycopg://" + from_models.split("://", 1)[1])
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()
    from_sql = scratch_database()
    sections = schema_sections()
    with psycopg.connect(from_sql, autocommit=True) as conn:
        for statement in (*sections.enums, *sections.tables, *sections.indexes, *sections.foreign_keys):
            conn.execute(statement)  # type: ignore[call-overload]
    assert read_catalog_shape(from_models) == read_catalog_shape(from_sql)
    # and the built demo (data loaded between the sections) ends with that same catalog
    assert read_catalog_shape(tiny_demo.dsn).indexes == read_catalog_shape(from_sql).indexes


def test_the_parsers_notice_a_difference(live: SchemaNames) -> None:
    drifted = SCHEMA_PRISMA.read_text().replace("  passwordHash  String\n", "  password      String\n")
    assert drifted != SCHEMA_PRISMA.read_text()
    assert _prisma_names(drifted).tables["User"] != live.tables["User"]
    renamed = SCHEMA_DRIZZLE.read_text().replace(
        'index("Transaction_status_idx")', 'index("Transaction_state_idx")'
    )
    assert _drizzle_names(renamed).indexes != live.indexes


@pytest.mark.parametrize(
    "path", [SCHEMA_SQL, SCHEMA_PRISMA, SCHEMA_DRIZZLE, SCHEMA_SQL.with_name("models.py")]
)
def test_every_schema_file_says_to_keep_the_four_in_sync(path: Path) -> None:
    assert "KEEP IN SYNC" in path.read_text()[:600]
