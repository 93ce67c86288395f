"""Drizzle schema (a .ts file or a folder of them) → SchemaModel, by evaluating the TypeScript syntax tree
(tree-sitter) with a model of drizzle-orm/pg-core's builders: pgTable, pgTableCreator, pgSchema, pgEnum,
column builders and their chained modifiers, and the table callback's indexes, uniques, keys and checks.
What cannot be evaluated statically is listed in the model's notes and left out of the comparison."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pgdba.errors import InputError
from pgdba.schema.expressions import (
    index_key_expression,
    normalise_default,
    normalise_expression,
    sql_literal,
)
from pgdba.schema.model import (
    Capabilities,
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
from pgdba.schema.typescript_eval import (
    Function,
    Project,
    Unknown,
    is_substitution,
    substitution_value,
)

UNKNOWN_TYPE = "?"  # a type the evaluator could not work out: not compared
UNKNOWN_DEFAULT = "?"  # a default it could not work out: not compared
_PACKAGES = ("drizzle-orm",)
_SIMPLE_TYPES = {
    "integer": "integer",
    "smallint": "smallint",
    "bigint": "bigint",
    "serial": "integer",
    "smallserial": "smallint",
    "bigserial": "bigint",
    "boolean": "boolean",
    "text": "text",
    "real": "real",
    "doublePrecision": "double precision",
    "json": "json",
    "jsonb": "jsonb",
    "date": "date",
    "uuid": "uuid",
    "inet": "inet",
    "cidr": "cidr",
    "macaddr": "macaddr",
    "macaddr8": "macaddr8",
    "point": "point",
    "line": "line",
    "bytea": "bytea",
}
_PARAMETRISED = {
    "varchar",
    "char",
    "numeric",
    "decimal",
    "time",
    "timestamp",
    "interval",
    "vector",
    "halfvec",
    "sparsevec",
    "bit",
    "geometry",
}
_SERIALS = frozenset({"serial", "smallserial", "bigserial"})
_ACTIONS = {
    "cascade": "CASCADE",
    "restrict": "RESTRICT",
    "no action": "NO ACTION",
    "set null": "SET NULL",
    "set default": "SET DEFAULT",
}


# --- values of the drizzle-orm model ------------------------------------------------------------------


@dataclass
class SqlText:
    """sql`…`: the SQL text with ${column} substitutions rendered as quoted column names."""

    text: str
    unknown: Unknown | None = None

    def ts_method(self, name: str, args: list[Any], where: str) -> Any:
        if name in ("mapWith", "as", "inlineParams", "append"):
            return self
        return Unknown(f"sql`…`.{name}()", where)


@dataclass
class EnumValue:
    name: str
    schema: str
    values: tuple[str, ...]
    where: str

    def ts_call(self, args: list[Any], where: str) -> Any:
        return ColumnBuilder("enum", _name_arg(args), {}, where, enum=self)

    def ts_member(self, name: str, where: str) -> Any:
        if name == "enumValues":
            return list(self.values)
        if name == "enumName":
            return self.name
        return Unknown(f"enum property {name}", where)


@dataclass
class ColumnBuilder:
    kind: str
    name: str | None
    config: dict[str, Any]
    where: str
    enum: EnumValue | None = None
    modifiers: tuple[tuple[str, tuple[Any, ...], str], ...] = ()

    def ts_method(self, name: str, args: list[Any], where: str) -> Any:
        return replace(self, modifiers=(*self.modifiers, (name, tuple(args), where)))


@dataclass
class ColumnRef:
    table: TableValue
    key: str
    descending: bool = False
    nulls: str = ""  # "first" / "last" / "" (the default for the direction)
    opclass: str = ""

    def ts_method(self, name: str, args: list[Any], where: str) -> Any:
        if name == "desc":
            return replace(self, descending=True, nulls="last")  # drizzle-kit writes DESC NULLS LAST
        if name == "asc":
            return replace(self, descending=False, nulls="last")
        if name == "nullsFirst":
            return replace(self, nulls="first")
        if name == "nullsLast":
            return replace(self, nulls="last")
        if name == "op" and args and isinstance(args[0], str):
            return replace(self, opclass=args[0])
        return Unknown(f"column .{name}() in an index", where)


@dataclass
class TableValue:
    name: str
    schema: str
    columns: dict[str, ColumnBuilder | Unknown]
    extra: Any
    where: str
    unknown: Unknown | None = None

    def ts_member(self, name: str, where: str) -> Any:
        if name in self.columns:
            return ColumnRef(self, name)
        if name == "_":
            return Unknown("table internals", where)
        return Unknown(f"table {self.name} has no column {name}", where)


class UnnamedTable(Unknown):
    """pgTable(NAME, …) whose NAME is not known statically: listed in the notes, never compared."""


@dataclass
class ConstraintBuilder:
    """index / uniqueIndex / unique / primaryKey / foreignKey / check, with its chained calls."""

    kind: str
    name: str | None
    where: str
    columns: tuple[Any, ...] = ()
    method: str = "btree"
    predicate: Any = None
    options: dict[str, Any] = field(default_factory=dict)

    def ts_method(self, name: str, args: list[Any], where: str) -> Any:
        if name in ("on", "onOnly"):
            return replace(self, columns=tuple(args))
        if name == "using" and args and isinstance(args[0], str):
            return replace(self, method=args[0], columns=tuple(args[1:]))
        if name == "where":
            return replace(self, predicate=args[0] if args else None)
        if name == "nullsNotDistinct":
            return replace(self, options={**self.options, "nulls_not_distinct": True})
        if name in ("onDelete", "onUpdate") and args:
            return replace(self, options={**self.options, name: args[0]})
        if name in ("concurrently", "with", "setName"):
            return self
        return Unknown(f".{name}() on {self.kind}", where)


@dataclass
class TableCreator:
    naming: Any
    schema: str = "public"

    def ts_call(self, args: list[Any], where: str) -> Any:
        if not args:
            return Unknown("table without a name", where)
        name = args[0]
        if isinstance(self.naming, Function) and isinstance(name, str):
            name = self.naming.module.project.call_function(self.naming, [name])
        return _table(name, args[1:], where, self.schema)


@dataclass
class SchemaValue:
    name: str

    def ts_member(self, name: str, where: str) -> Any:
        if name == "table":
            return TableCreator(None, self.name)
        if name == "enum":
            return _Builtin("pgEnum", where, self.name)
        if name == "schemaName":
            return self.name
        return Unknown(f"pgSchema().{name}", where)


@dataclass
class Ignored:
    """A drizzle-orm value that says nothing about the database (relations(), views' helpers …)."""

    what: str

    def ts_call(self, args: list[Any], where: str) -> Any:
        return self

    def ts_method(self, name: str, args: list[Any], where: str) -> Any:
        return self

    def ts_member(self, name: str, where: str) -> Any:
        return self


@dataclass
class ColumnNamespace:
    """The builders object the callback column form receives: pgTable("t", (t) => ({ id: t.integer() }))."""

    def ts_member(self, name: str, where: str) -> Any:
        return _package("drizzle-orm/pg-core", name, where)


@dataclass
class _Builtin:
    name: str
    where: str
    schema: str = "public"

    def ts_call(self, args: list[Any], where: str) -> Any:
        name = self.name
        if name in _SIMPLE_TYPES or name in _PARAMETRISED:
            config = next((a for a in args if isinstance(a, dict)), {})
            return ColumnBuilder(name, _name_arg(args), config, where)
        if name == "customType":
            return Unknown("customType() columns are not evaluated", where)
        if name == "pgTable":
            return _table(args[0] if args else None, args[1:], where, "public")
        if name == "pgTableCreator":
            return TableCreator(args[0] if args else None)
        if name == "pgSchema":
            return (
                SchemaValue(args[0]) if args and isinstance(args[0], str) else Unknown("pgSchema name", where)
            )
        if name == "pgEnum":
            if len(args) < 2 or not isinstance(args[0], str) or not isinstance(args[1], list):
                return Unknown("pgEnum(name, [values]) with values not known statically", where)
            if not all(isinstance(v, str) for v in args[1]):
                return Unknown("pgEnum values not known statically", where)
            return EnumValue(args[0], self.schema, tuple(args[1]), where)
        if name in ("index", "uniqueIndex", "unique"):
            return ConstraintBuilder(name, args[0] if args and isinstance(args[0], str) else None, where)
        if name == "primaryKey":
            config = args[0] if args and isinstance(args[0], dict) else {"columns": list(args)}
            return ConstraintBuilder(
                "primaryKey", config.get("name"), where, tuple(config.get("columns") or ())
            )
        if name == "foreignKey":
            config = args[0] if args and isinstance(args[0], dict) else {}
            return ConstraintBuilder(
                "foreignKey",
                config.get("name"),
                where,
                tuple(config.get("columns") or ()),
                options={"foreignColumns": tuple(config.get("foreignColumns") or ())},
            )
        if name == "check":
            return ConstraintBuilder(
                "check", args[0] if args else None, where, predicate=args[1] if len(args) > 1 else None
            )
        if name in (
            "relations",
            "pgView",
            "pgMaterializedView",
            "pgPolicy",
            "pgRole",
            "pgSequence",
            "eq",
            "and",
            "or",
        ):
            return Ignored(name)
        return Unknown(f"{name}() from drizzle-orm is not evaluated", where)

    def ts_tag(self, parts: list[Any], where: str) -> Any:
        if self.name != "sql":
            return Unknown(f"{self.name}`…`", where)
        return _sql_text(parts, where)

    def ts_member(self, name: str, where: str) -> Any:
        if self.name == "sql" and name == "raw":
            return _SqlRaw()
        if self.name == "sql" and name == "empty":
            return SqlText("")
        return Unknown(f"{self.name}.{name}", where)


@dataclass
class _SqlRaw:
    def ts_call(self, args: list[Any], where: str) -> Any:
        return SqlText(args[0]) if args and isinstance(args[0], str) else Unknown("sql.raw() argument", where)


def _package(specifier: str, name: str, where: str) -> Any:
    if not specifier.startswith(_PACKAGES):
        return Unknown(f"import from {specifier!r} is not evaluated", where)
    return _Builtin(name, where)


def _name_arg(args: list[Any]) -> str | None:
    return args[0] if args and isinstance(args[0], str) else None


def _sql_text(parts: list[Any], where: str) -> SqlText:
    text: list[str] = []
    for part in parts:
        if not is_substitution(part):
            text.append(part)
            continue
        value = substitution_value(part)
        if isinstance(value, ColumnRef):
            builder = value.table.columns.get(value.key)
            column = builder.name if isinstance(builder, ColumnBuilder) and builder.name else value.key
            text.append('"' + column.replace('"', '""') + '"')
        elif isinstance(value, SqlText):
            text.append(value.text)
        elif isinstance(value, bool):
            text.append("true" if value else "false")
        elif isinstance(value, int | float):
            text.append(str(value))
        elif isinstance(value, str):
            text.append(sql_literal(value))
        else:
            reason = (
                value
                if isinstance(value, Unknown)
                else Unknown("sql`…` substitution not known statically", where)
            )
            return SqlText("".join(text), reason)
    return SqlText("".join(text))


def _table(name: Any, args: list[Any], where: str, schema: str) -> Any:
    if not isinstance(name, str):
        cause = f"{name.reason} at {name.where}" if isinstance(name, Unknown) else "not a string"
        return UnnamedTable(f"its table name is not known statically ({cause})", where)
    columns_arg = args[0] if args else {}
    if isinstance(columns_arg, Function):
        columns_arg = columns_arg.module.project.call_function(columns_arg, [ColumnNamespace()])
    if not isinstance(columns_arg, dict):
        unknown = (
            columns_arg
            if isinstance(columns_arg, Unknown)
            else Unknown("columns not known statically", where)
        )
        return TableValue(name, schema, {}, None, where, unknown)
    columns: dict[str, ColumnBuilder | Unknown] = {}
    for key, value in columns_arg.items():
        if isinstance(value, ColumnBuilder | Unknown):
            columns[key] = value
        else:
            columns[key] = Unknown(f"column {key} is not a column builder", where)
    return TableValue(name, schema, columns, args[1] if len(args) > 1 else None, where)


# --- loading -------------------------------------------------------------------------------------------


def load_drizzle(path: Path, source: str = "", casing: str = "") -> SchemaModel:
    """Evaluate a Drizzle schema file, or every .ts file in a folder, into the model."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(
            p for p in path.rglob("*.ts") if "node_modules" not in p.parts and not p.name.endswith(".d.ts")
        )
    else:
        files = []
    if not files:
        raise InputError(f"no Drizzle schema at {path} (a .ts file or a folder holding some)")
    project = Project(files, _package)
    converter = _Converter(project, files, source or f"drizzle:{path}", casing)
    model = converter.build()
    # compared as it is, every live table would be reported missing, with a DROP TABLE for each (a table
    # whose name is unknown statically is a note of the report instead: the file does declare tables)
    if not model.tables and not converter.unnamed_tables:
        kind = "folder" if path.is_dir() else "file"
        raise InputError(
            f"schema {kind} {path} declares no Drizzle pgTable (pgdba, like drizzle-kit, reads exported ones only)"
        )
    return model


class _Converter:
    def __init__(self, project: Project, files: list[Path], source: str, casing: str) -> None:
        self.project, self.files = project, files
        self.casing = casing
        # drizzle-orm's pg-core column builders have no collation (0.44: no `collate` anywhere in pg-core)
        self.model = SchemaModel(
            source=source,
            kind="drizzle",
            label="drizzle",
            capabilities=Capabilities(column_collations=False),
        )
        self.tables: dict[int, tuple[TableValue, Table]] = {}
        self.unnamed_tables: set[str] = set()  # where pgTable is called with a name unknown statically

    def build(self) -> SchemaModel:
        exported: list[tuple[str, Any]] = []
        for file in self.files:
            module = self.project.modules[file.resolve()]
            for name in module.exports:
                exported.append((name, module.export(name, module.tree.root_node)))
        for _name, value in exported:
            if isinstance(value, EnumValue):
                self._enum(value)
        for name, value in exported:
            if isinstance(value, TableValue) and id(value) not in self.tables:
                self._table(name, value)
        self._unnamed_tables(value for _name, value in exported)
        for table_value, table in list(self.tables.values()):
            self._extras(table_value, table)
            self._references(table_value, table)
        return self.model

    def note(self, unknown: Unknown, what: str) -> None:
        self.model.notes.append(f"{unknown.where}: {what} not compared: {unknown.reason}")

    def _unnamed_tables(self, values: Iterable[Any]) -> None:
        for value in values:
            if isinstance(value, UnnamedTable) and value.where not in self.unnamed_tables:
                self.unnamed_tables.add(value.where)
                self.note(value, "pgTable(...)")

    def _enum(self, value: EnumValue) -> None:
        self.model.add_enum(EnumType(value.schema, value.name, value.values, value.name))

    def column_name(self, key: str, builder: ColumnBuilder) -> str:
        if builder.name:
            return builder.name
        if self.casing == "snake_case":
            return "_".join(word.lower() for word in _casing_words(key))
        if self.casing == "camelCase":
            words = _casing_words(key)
            return "".join(w.lower() if i == 0 else w[0].upper() + w[1:] for i, w in enumerate(words))
        return key

    def _table(self, variable: str, value: TableValue) -> None:
        table = Table(value.schema, value.name, variable, location=value.where)
        self.tables[id(value)] = (value, table)
        if value.unknown is not None:
            self.note(value.unknown, f"columns of table {value.name}")
        for key, builder in value.columns.items():
            if isinstance(builder, Unknown):
                self.note(builder, f"column {value.name}.{key}")
                table.unknown_columns.append(self.column_name(key, ColumnBuilder("?", None, {}, "")))
                continue
            column = self._column(key, builder, table)
            table.columns[column.name] = column
        self.model.add_table(table)

    def _column(self, key: str, builder: ColumnBuilder, table: Table) -> Column:
        name = self.column_name(key, builder)
        column_type = self._type(builder, f"{table.name}.{name}")
        nullable = builder.kind not in _SERIALS
        default = (
            Default(DefaultKind.SEQUENCE, "nextval", builder.kind)
            if builder.kind in _SERIALS
            else Default.none()
        )
        column = Column(name, column_type, nullable, default, field=key)
        for method, args, where in builder.modifiers:
            if method == "notNull":
                column.nullable = False
            elif method == "primaryKey":
                column.nullable = False
                table.primary_key = PrimaryKey((name,), f"{table.name}_pkey", name_explicit=False)
            elif method == "array":
                column.type = column.type + "[]" if column.type != UNKNOWN_TYPE else column.type
            elif method == "default":
                column.default = self._default(
                    args[0] if args else None, column.type, where, f"{table.name}.{name}"
                )
            elif method == "defaultNow":
                column.default = normalise_default("now()", column.type)
            elif method == "defaultRandom":
                column.default = normalise_default("gen_random_uuid()", column.type)
            elif method in ("$defaultFn", "$default"):
                column.default = Default(DefaultKind.CLIENT, "$defaultFn", "$defaultFn()")
            elif method in ("$onUpdate", "$onUpdateFn"):
                if column.default.kind is DefaultKind.NONE:
                    column.default = Default(DefaultKind.CLIENT, "$onUpdate", "$onUpdate()")
            elif method == "unique":
                unique_name = args[0] if args and isinstance(args[0], str) else None
                config = next((a for a in args if isinstance(a, dict)), {})
                table.indexes.append(
                    Index(
                        unique_name or f"{table.name}_{name}_unique",
                        (IndexColumn(name),),
                        unique=True,
                        is_constraint=True,
                        nulls_not_distinct=config.get("nulls") == "not distinct",
                        name_explicit=bool(unique_name),
                    )
                )
            elif method == "generatedAlwaysAs":
                expression = args[0] if args else None
                if isinstance(expression, SqlText) and expression.unknown is None:
                    column.generated = normalise_expression(expression.text)
                else:
                    column.generated = "?"
                    self.model.notes.append(
                        f"{where}: generated expression of {table.name}.{name} not compared"
                    )
            elif method == "generatedAlwaysAsIdentity":
                column.identity, column.nullable = "always", False
            elif method == "generatedByDefaultAsIdentity":
                column.identity, column.nullable = "by default", False
            elif method == "references":
                pass  # resolved once every table is known
            elif method in ("$type", "$onUpdateFn", "$comment"):
                pass
            else:
                self.model.notes.append(f"{where}: .{method}() on {table.name}.{name} is not evaluated")
        return column

    def _type(self, builder: ColumnBuilder, label: str) -> str:
        if builder.enum is not None:
            return user_type(builder.enum.schema, builder.enum.name)
        config = builder.config
        if any(isinstance(v, Unknown) for v in config.values()):
            self.model.notes.append(
                f"{builder.where}: type of {label} not compared: {builder.kind}() options not known statically"
            )
            return UNKNOWN_TYPE
        kind = builder.kind
        if kind in _SIMPLE_TYPES:
            return _SIMPLE_TYPES[kind]
        if kind in ("varchar", "char"):
            length = config.get("length")
            return canonical_type(f"{kind}({length})" if length else kind)
        if kind in ("numeric", "decimal"):
            precision, scale = config.get("precision"), config.get("scale")
            if precision is None:
                return "numeric"
            return canonical_type(f"numeric({precision},{scale or 0})")
        if kind in ("time", "timestamp"):
            precision = config.get("precision")
            zone = "with time zone" if config.get("withTimezone") else "without time zone"
            return canonical_type(f"{kind}{f'({precision})' if precision is not None else ''} {zone}")
        if kind == "interval":
            fields = config.get("fields") or ""
            precision = config.get("precision")
            return canonical_type(
                f"interval {fields}{f'({precision})' if precision is not None else ''}".strip()
            )
        if kind in ("vector", "halfvec", "sparsevec", "bit"):
            dimensions = config.get("dimensions")
            return canonical_type(f"{kind}({dimensions})" if dimensions else kind)
        self.model.notes.append(f"{builder.where}: type of {label} not compared: {kind}() is not evaluated")
        return UNKNOWN_TYPE

    def _default(self, value: Any, column_type: str, where: str, label: str) -> Default:
        if isinstance(value, SqlText):
            if value.unknown is not None:
                self.note(value.unknown, f"default of {label}")
                return Default(DefaultKind.EXPRESSION, UNKNOWN_DEFAULT, "sql`…` (not evaluated)")
            return normalise_default(value.text, column_type)
        if isinstance(value, bool):
            return normalise_default("true" if value else "false", column_type)
        if isinstance(value, int | float):
            return normalise_default(repr(value), column_type)
        if isinstance(value, str):
            return normalise_default(sql_literal(value), column_type)
        if isinstance(value, dict | list) and column_type in ("json", "jsonb"):
            return normalise_default(sql_literal(json.dumps(value, separators=(",", ":"))), column_type)
        if isinstance(value, list) and column_type.endswith("[]"):
            items = ", ".join(sql_literal(v) if isinstance(v, str) else str(v) for v in value)
            return normalise_default(f"ARRAY[{items}]", column_type)
        reason = value if isinstance(value, Unknown) else Unknown("default value not known statically", where)
        self.note(reason, f"default of {label}")
        return Default(DefaultKind.EXPRESSION, UNKNOWN_DEFAULT, "(not evaluated)")

    def _ref_column(self, ref: Any) -> tuple[Table, str] | None:
        if not isinstance(ref, ColumnRef):
            return None
        entry = self.tables.get(id(ref.table))
        if entry is None:
            return None
        table_value, table = entry
        builder = table_value.columns.get(ref.key)
        if not isinstance(builder, ColumnBuilder):
            return None
        return table, self.column_name(ref.key, builder)

    def _references(self, value: TableValue, table: Table) -> None:
        for key, builder in value.columns.items():
            if not isinstance(builder, ColumnBuilder):
                continue
            for method, args, where in builder.modifiers:
                if method != "references":
                    continue
                target = args[0] if args else None
                if isinstance(target, Function):
                    target = self.project.call_function(target, [])
                resolved = self._ref_column(target)
                if resolved is None:
                    reason = (
                        target
                        if isinstance(target, Unknown)
                        else Unknown("referenced column is not an exported table's column", where)
                    )
                    self.note(reason, f"foreign key of {table.name}.{key}")
                    continue
                ref_table, ref_column = resolved
                options = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
                column = self.column_name(key, builder)
                table.foreign_keys.append(
                    ForeignKey(
                        options.get("name") or f"{table.name}_{column}_{ref_table.name}_{ref_column}_fk",
                        (column,),
                        ref_table.schema,
                        ref_table.name,
                        (ref_column,),
                        _action(options.get("onDelete")),
                        _action(options.get("onUpdate")),
                        name_explicit=bool(options.get("name")),
                    )
                )

    def _extras(self, value: TableValue, table: Table) -> None:
        extra = value.extra
        if extra is None:
            return
        if isinstance(extra, Function):
            extra = self.project.call_function(extra, [value])
        items = list(extra.values()) if isinstance(extra, dict) else extra
        if not isinstance(items, list):
            self.note(
                items if isinstance(items, Unknown) else Unknown("table callback result", value.where),
                f"indexes and keys of {table.name}",
            )
            return
        for item in items:
            if isinstance(item, Unknown):
                self.note(item, f"an index or key of {table.name}")
            elif isinstance(item, ConstraintBuilder):
                self._constraint(item, table)
            elif not isinstance(item, Ignored):
                self.model.notes.append(
                    f"{value.where}: an item of {table.name}'s callback is not an index or key; skipped"
                )

    def _constraint(self, item: ConstraintBuilder, table: Table) -> None:
        if item.kind in ("index", "uniqueIndex", "unique"):
            columns = []
            for ref in item.columns:
                column = self._index_column(ref, table, item)
                if column is None:
                    return
                columns.append(column)
            names = "_".join(c.expression if re.fullmatch(r"\w+", c.expression) else "expr" for c in columns)
            suffix = "unique" if item.kind == "unique" else "index"
            predicate = ""
            if item.predicate is not None:
                if not isinstance(item.predicate, SqlText) or item.predicate.unknown is not None:
                    self.model.notes.append(f"{item.where}: WHERE of an index on {table.name} not compared")
                    predicate = "?"
                else:
                    predicate = normalise_expression(item.predicate.text, table.column_types)
            table.indexes.append(
                Index(
                    item.name or f"{table.name}_{names}_{suffix}",
                    tuple(columns),
                    unique=item.kind != "index",
                    method=item.method,
                    predicate=predicate,
                    nulls_not_distinct=bool(item.options.get("nulls_not_distinct")),
                    is_constraint=item.kind == "unique",
                    name_explicit=bool(item.name),
                )
            )
        elif item.kind == "primaryKey":
            pk_refs = [self._ref_column(ref) for ref in item.columns]
            if any(c is None for c in pk_refs) or not pk_refs:
                self.model.notes.append(
                    f"{item.where}: primary key of {table.name} not compared (columns unknown)"
                )
                return
            pk_columns = tuple(c[1] for c in pk_refs if c is not None)
            table.primary_key = PrimaryKey(
                pk_columns, item.name or f"{table.name}_{'_'.join(pk_columns)}_pk", bool(item.name)
            )
            for pk_column in pk_columns:
                if pk_column in table.columns:
                    table.columns[pk_column].nullable = False
        elif item.kind == "foreignKey":
            local = [self._ref_column(ref) for ref in item.columns]
            foreign = [self._ref_column(ref) for ref in item.options.get("foreignColumns", ())]
            if not local or not foreign or any(c is None for c in [*local, *foreign]):
                self.model.notes.append(
                    f"{item.where}: foreign key of {table.name} not compared (columns unknown)"
                )
                return
            fk_columns = tuple(c[1] for c in local if c is not None)
            ref_table = next(c[0] for c in foreign if c is not None)
            ref_columns = tuple(c[1] for c in foreign if c is not None)
            table.foreign_keys.append(
                ForeignKey(
                    item.name
                    or f"{table.name}_{'_'.join(fk_columns)}_{ref_table.name}_{'_'.join(ref_columns)}_fk",
                    fk_columns,
                    ref_table.schema,
                    ref_table.name,
                    ref_columns,
                    _action(item.options.get("onDelete")),
                    _action(item.options.get("onUpdate")),
                    name_explicit=bool(item.name),
                )
            )
        elif item.kind == "check":
            if (
                isinstance(item.predicate, SqlText)
                and item.predicate.unknown is None
                and isinstance(item.name, str)
            ):
                table.checks.append(
                    Check(
                        item.name,
                        normalise_expression(item.predicate.text, table.column_types),
                        item.predicate.text,
                    )
                )
            else:
                self.model.notes.append(
                    f"{item.where}: check on {table.name} not compared (not known statically)"
                )

    def _index_column(self, ref: Any, table: Table, item: ConstraintBuilder) -> IndexColumn | None:
        if isinstance(ref, SqlText):
            if ref.unknown is not None:
                self.note(ref.unknown, f"an index expression on {table.name}")
                return None
            expression, opclass = index_key_expression(ref.text)
            return IndexColumn(expression, opclass=opclass)
        resolved = self._ref_column(ref)
        if resolved is None or not isinstance(ref, ColumnRef):
            self.note(
                ref if isinstance(ref, Unknown) else Unknown("index column not known statically", item.where),
                f"an index on {table.name}",
            )
            return None
        column = resolved[1]
        nulls_first = ref.nulls == "first" if ref.nulls else ref.descending
        column_type = table.columns[column].type if column in table.columns else ""
        return IndexColumn(
            column, ref.descending, nulls_first, canonical_opclass(item.method, column_type, ref.opclass)
        )


# The words drizzle's `casing` option splits a key into (apostrophes dropped): runs of lower-case letters
# and digits, runs of capitals not followed by a lower-case letter, a capital with the lower-case letters
# and digits after it. apiURLPath → api, URL, Path; userIDs → user, I, Ds (drizzle-kit's own names).
_CASING_WORD = re.compile(r"[0-9a-z]+|[A-Z]+(?![a-z])|[A-Z][0-9a-z]+")


def _casing_words(key: str) -> list[str]:
    return _CASING_WORD.findall(key.replace("'", "").replace("\u2019", ""))


def _action(value: Any) -> str:
    if isinstance(value, str):
        return _ACTIONS.get(value.lower(), value.upper())
    return "NO ACTION"
