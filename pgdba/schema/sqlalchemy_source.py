"""SQLAlchemy models (a MetaData, or a declarative Base holding one) → SchemaModel, from the MetaData's
tables, with types compiled by SQLAlchemy's own PostgreSQL dialect."""

from __future__ import annotations

import copy
import importlib
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import UnaryExpression

from pgdba.errors import InputError
from pgdba.schema.expressions import normalise_default, normalise_expression
from pgdba.schema.model import (
    Check,
    Column,
    Default,
    DefaultKind,
    EnumType,
    ForeignKey,
    Index,
    IndexColumn,
    PrimaryKey,
    SchemaModel,
    Table,
)
from pgdba.schema.opclasses import canonical_opclass
from pgdba.schema.types import canonical_type, user_type
from pgdba.sql_text import identifier

# the named paramstyle: SQL text is compiled as PostgreSQL receives it (the default pyformat doubles every
# `%`, so a CHECK's `LIKE 'a%'` would read `LIKE 'a%%'`)
_DIALECT = postgresql.dialect(paramstyle="named")


def load_sqlalchemy(spec: str, source: str = "") -> SchemaModel:
    """`MODULE:ATTR` → the MetaData it names (a MetaData, or anything with a .metadata such as a Base)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise InputError(
            f"sqlalchemy source {spec!r}: use sqlalchemy:MODULE:ATTR, e.g. sqlalchemy:app.models:Base"
        )
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except SystemExit as exc:  # a module that exits on import (a missing setting …) is their input error
        raise InputError(f"importing {module_name} exited ({_exit_status(exc)})") from None
    except Exception as exc:  # an import error of the user's module is their input error
        raise InputError(f"cannot import {module_name}: {type(exc).__name__}: {exc}") from None
    value = getattr(module, attribute, None)
    metadata = value if isinstance(value, sa.MetaData) else getattr(value, "metadata", None)
    if not isinstance(metadata, sa.MetaData):
        raise InputError(f"{module_name}:{attribute} is not a SQLAlchemy MetaData or declarative Base")
    if not metadata.tables:  # compared as it is, every live table would be reported missing
        raise InputError(
            f"{module_name}:{attribute} declares no SQLAlchemy table (does {module_name} import the modules "
            "that define the models?)"
        )
    return metadata_model(metadata, source or f"sqlalchemy:{spec}")


def _exit_status(exc: SystemExit) -> str:
    """`code N`, or `code 1: MESSAGE` for sys.exit("MESSAGE"), as Python itself would exit."""
    if exc.code is None or isinstance(exc.code, int):
        return f"code {exc.code or 0}"
    return f"code 1: {exc.code}"


def metadata_model(metadata: sa.MetaData, source: str = "sqlalchemy") -> SchemaModel:
    model = SchemaModel(source=source, kind="sqlalchemy", label="sqlalchemy")
    for sa_table in metadata.sorted_tables:
        model.add_table(_table(sa_table, model))
    return model


def _type(sa_type: Any, model: SchemaModel) -> str:
    if isinstance(sa_type, sa.Enum) and sa_type.name and sa_type.native_enum:
        schema = sa_type.schema or "public"
        model.add_enum(EnumType(schema, sa_type.name, tuple(sa_type.enums)))
        return user_type(schema, sa_type.name)
    if isinstance(sa_type, sa.ARRAY):
        return _type(sa_type.item_type, model) + "[]"
    if getattr(sa_type, "collation", None):  # compiled with COLLATE: the collation is compared on its own
        sa_type = copy.copy(sa_type)
        sa_type.collation = None
    try:
        return canonical_type(sa_type.compile(dialect=_DIALECT))
    except (InputError, sa.exc.CompileError) as exc:
        model.notes.append(f"type {sa_type!r} not compared: {exc}")
        return "?"


def _collation(sa_type: Any) -> str:
    """The collation a string type (or an ARRAY of one) declares, as SQL names it (SQLAlchemy quotes the
    name it is given); "" when it declares none."""
    item = sa_type.item_type if isinstance(sa_type, sa.ARRAY) else sa_type
    name = getattr(item, "collation", None)
    return identifier(name) if name else ""


def _table(sa_table: sa.Table, model: SchemaModel) -> Table:
    table = Table(sa_table.schema or "public", sa_table.name, sa_table.name)
    autoincrement = sa_table.autoincrement_column
    for sa_column in sa_table.columns:
        column_type = _type(sa_column.type, model)
        column = Column(
            sa_column.name,
            column_type,
            bool(sa_column.nullable),
            Default.none(),
            field=sa_column.key,
            collation=_collation(sa_column.type),
        )
        if sa_column.identity is not None:  # an Identity is also the column's server_default
            column.identity = "always" if sa_column.identity.always else "by default"
            column.nullable = False
        elif sa_column.computed is not None:  # so is a Computed: the generated expression, read below
            pass
        elif sa_column.server_default is not None:
            column.default = _server_default(sa_column, column_type)
        elif sa_column is autoincrement:
            column.default = Default(DefaultKind.SEQUENCE, "nextval", "autoincrement")
        elif sa_column.default is not None or sa_column.onupdate is not None:
            column.default = Default(DefaultKind.CLIENT, "python", "Python-side default")
        computed = sa_column.computed
        if computed is not None:
            column.generated = normalise_expression(str(computed.sqltext.compile(dialect=_DIALECT)))
        table.columns[column.name] = column
    pk = sa_table.primary_key
    if pk is not None and pk.columns:
        table.primary_key = PrimaryKey(
            tuple(c.name for c in pk.columns), str(pk.name or f"{table.name}_pkey"), bool(pk.name)
        )
    column_checks = [c for sa_column in sa_table.columns for c in sa_column.constraints]
    for constraint in [*sa_table.constraints, *column_checks]:
        if isinstance(constraint, sa.UniqueConstraint):
            columns = tuple(c.name for c in constraint.columns)
            name = constraint.name if isinstance(constraint.name, str) else None
            table.indexes.append(
                Index(
                    name or f"{table.name}_{'_'.join(columns)}_key",
                    tuple(IndexColumn(c) for c in columns),
                    unique=True,
                    is_constraint=True,
                    nulls_not_distinct=bool(
                        constraint.dialect_options["postgresql"].get("nulls_not_distinct")
                    ),
                    name_explicit=bool(name),
                )
            )
        elif isinstance(constraint, sa.ForeignKeyConstraint):
            target = constraint.referred_table
            name = constraint.name if isinstance(constraint.name, str) else None
            columns = tuple(c.name for c in constraint.columns)
            table.foreign_keys.append(
                ForeignKey(
                    name or f"{table.name}_{'_'.join(columns)}_fkey",
                    columns,
                    target.schema or "public",
                    target.name,
                    tuple(e.column.name for e in constraint.elements),
                    (constraint.ondelete or "NO ACTION").upper(),
                    (constraint.onupdate or "NO ACTION").upper(),
                    name_explicit=bool(name),
                )
            )
        elif isinstance(constraint, sa.CheckConstraint):
            text = str(constraint.sqltext.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))
            name = constraint.name if isinstance(constraint.name, str) else None
            # unnamed: PostgreSQL names it ({table}_{column}_check …); it is matched by its expression
            table.checks.append(
                Check(
                    name or f"{table.name}_check",
                    normalise_expression(text, table.column_types),
                    text,
                    bool(name),
                )
            )
    for sa_index in sa_table.indexes:
        table.indexes.append(_index(sa_index, table))
    return table


def _server_default(sa_column: sa.Column[Any], column_type: str) -> Default:
    server_default = sa_column.server_default
    argument = getattr(server_default, "arg", None)
    if isinstance(argument, str):
        return normalise_default("'" + argument.replace("'", "''") + "'", column_type)
    if argument is not None:
        text = str(argument.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))
        return normalise_default(text, column_type)
    return Default(DefaultKind.EXPRESSION, "*", "server default")


def _index(sa_index: sa.Index, table: Table) -> Index:
    options = sa_index.dialect_options["postgresql"]
    method = str(options.get("using") or "btree").lower()
    ops = options.get("ops") or {}
    columns = []
    for expression in sa_index.expressions:
        descending = False
        nulls_first: bool | None = None
        element: Any = expression
        while isinstance(element, UnaryExpression):
            modifier = getattr(element.modifier, "__name__", "")
            if modifier == "desc_op":
                descending = True
            elif modifier == "nullsfirst_op":
                nulls_first = True
            elif modifier == "nullslast_op":
                nulls_first = False
            element = element.element
        if isinstance(element, sa.Column):
            name = element.name
        elif isinstance(element, str):
            name = element
        else:
            name = normalise_expression(
                str(element.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))
            )
        column_type = table.columns[name].type if name in table.columns else ""
        columns.append(
            IndexColumn(
                name,
                descending,
                descending if nulls_first is None else nulls_first,
                canonical_opclass(method, column_type, str(ops.get(name, ""))),
            )
        )
    where = options.get("where")
    predicate = ""
    if where is not None:
        predicate = normalise_expression(
            str(where.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True})), table.column_types
        )
    return Index(
        str(sa_index.name),
        tuple(columns),
        unique=bool(sa_index.unique),
        method=method,
        predicate=predicate,
        include=tuple(str(c) for c in (options.get("include") or ())),
        nulls_not_distinct=bool(options.get("nulls_not_distinct")),
    )
