"""Prisma schema (a file or a folder of .prisma files) → SchemaModel, following what `prisma migrate`
creates on PostgreSQL: scalar and @db.* types, @map/@@map, defaults, @id/@@id, @unique/@@unique, @@index,
partial indexes (`where:`, preview feature partialIndexes), relations with their referential actions,
enums, relationMode and @@schema; and reading what `prisma db pull` writes in Prisma's own terms
(`@default(dbgenerated("…"))` for a generated column)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pglast
from pglast import ast

from pgdba.errors import InputError
from pgdba.schema.expressions import normalise_default, normalise_expression, sql_literal
from pgdba.schema.model import (
    Capabilities,
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
from pgdba.schema.prisma_syntax import (
    Attribute,
    Block,
    Call,
    FieldDecl,
    Object,
    Ref,
    Value,
    parse_prisma,
)
from pgdba.schema.types import canonical_type, quote_ident, user_type

UNKNOWN = "?"  # a predicate not compared (compare.UNKNOWN)

SCALAR_TYPES = {
    "String": "text",
    "Boolean": "boolean",
    "Int": "integer",
    "BigInt": "bigint",
    "Float": "double precision",
    "Decimal": "numeric(65,30)",
    "DateTime": "timestamp(3) without time zone",
    "Json": "jsonb",
    "Bytes": "bytea",
}
_NATIVE_TYPES = {
    "Text": "text",
    "Char": "char",
    "VarChar": "varchar",
    "Bit": "bit",
    "VarBit": "varbit",
    "Uuid": "uuid",
    "Xml": "xml",
    "Inet": "inet",
    "Citext": "citext",
    "Boolean": "boolean",
    "Integer": "integer",
    "SmallInt": "smallint",
    "Oid": "oid",
    "BigInt": "bigint",
    "DoublePrecision": "double precision",
    "Real": "real",
    "Decimal": "numeric",
    "Money": "money",
    "Timestamp": "timestamp",
    "Timestamptz": "timestamptz",
    "Date": "date",
    "Time": "time",
    "Timetz": "timetz",
    "Json": "json",
    "JsonB": "jsonb",
    "ByteA": "bytea",
}
_CLIENT_DEFAULTS = frozenset({"uuid", "cuid", "nanoid", "ulid"})
_ACTIONS = {
    "Cascade": "CASCADE",
    "Restrict": "RESTRICT",
    "NoAction": "NO ACTION",
    "SetNull": "SET NULL",
    "SetDefault": "SET DEFAULT",
}
_INDEX_TYPES = {
    "BTree": "btree",
    "Hash": "hash",
    "Gist": "gist",
    "Gin": "gin",
    "SpGist": "spgist",
    "Brin": "brin",
}


def load_prisma(path: Path, source: str = "") -> SchemaModel:
    """Parse a .prisma file, or every .prisma file under a folder (multi-file schemas), into the model."""
    files = [path] if path.is_file() else sorted(path.rglob("*.prisma")) if path.is_dir() else []
    if not files:
        raise InputError(f"no Prisma schema at {path} (a .prisma file or a folder holding some)")
    blocks: list[Block] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {file}: {exc}") from None
        blocks.extend(parse_prisma(text, str(file)))
    if not any(block.kind == "model" for block in blocks):
        # compared as it is, every live table would be reported missing, with a DROP TABLE for each
        raise InputError(f"schema {'folder' if path.is_dir() else 'file'} {path} declares no Prisma model")
    return prisma_model(blocks, source or f"prisma:{path}")


def prisma_model(blocks: list[Block], source: str = "prisma") -> SchemaModel:
    return _Builder(blocks, source).build()


@dataclass
class _Relation:
    table: Table
    block: Block
    field: FieldDecl
    attribute: Attribute | None


class _Builder:
    def __init__(self, blocks: list[Block], source: str) -> None:
        self.blocks = blocks
        self.model = SchemaModel(source=source, kind="prisma", label="prisma")
        self.enums = {b.name: b for b in blocks if b.kind == "enum"}
        self.models = {b.name: b for b in blocks if b.kind == "model"}
        self.tables: dict[str, Table] = {}
        self.relations: list[_Relation] = []
        self.relation_mode_prisma = False

    def build(self) -> SchemaModel:
        self._check_duplicates()
        for block in self.blocks:
            if block.kind == "datasource":
                self._datasource(block)
            elif block.kind in ("view", "type"):
                self.model.notes.append(
                    f"{block.path}:{block.line}: {block.kind} {block.name} is not compared (not a table)"
                )
        for block in self.enums.values():
            self._enum(block)
        for block in self.models.values():
            self._table(block)
        for relation in self.relations:
            self._foreign_key(relation)
        # Prisma cannot declare CHECK constraints, identity columns, expression indexes or (on PostgreSQL) a
        # column's collation (prisma/orm#16781); its list fields are created nullable whatever the database
        # says (`String[]?` is not Prisma syntax)
        capabilities = {
            "checks": False,
            "identity": False,
            "expression_indexes": False,
            "list_nullability": False,
            "column_collations": False,
        }
        if self.relation_mode_prisma:
            self.model.capabilities = Capabilities(foreign_keys=False, **capabilities)
            self.model.notes.append('relationMode = "prisma": no foreign keys in the database, not compared')
        else:
            self.model.capabilities = Capabilities(**capabilities)
        return self.model

    def _check_duplicates(self) -> None:
        seen: dict[str, Block] = {}
        for block in self.blocks:
            if block.kind in ("model", "enum", "view", "type"):
                if block.name in seen:
                    raise InputError(f"{block.path}:{block.line}:1: {block.name} is defined twice")
                seen[block.name] = block

    def _datasource(self, block: Block) -> None:
        for setting in block.settings:
            if setting.key == "provider" and setting.value not in ("postgresql", "postgres"):
                raise InputError(f"{block.path}:{block.line}:1: provider {setting.value!r} is not PostgreSQL")
            if setting.key == "relationMode" and setting.value == "prisma":
                self.relation_mode_prisma = True

    def _schema_of(self, block: Block) -> str:
        attribute = block.attribute("schema")
        value = attribute.positional() if attribute else None
        return value if isinstance(value, str) else "public"

    def _enum(self, block: Block) -> None:
        values = []
        for value in block.values:
            mapped = next((a for a in value.attributes if a.name == "map"), None)
            db_name = mapped.positional() if mapped else None
            values.append(db_name if isinstance(db_name, str) else value.name)
        self.model.add_enum(EnumType(self._schema_of(block), self._mapped(block), tuple(values), block.name))

    def _mapped(self, block: Block) -> str:
        attribute = block.attribute("map")
        value = attribute.positional() if attribute else None
        return value if isinstance(value, str) else block.name

    def _enum_value_db_name(self, enum_name: str, value: str) -> str:
        for decl in self.enums[enum_name].values:
            if decl.name == value:
                mapped = next((a for a in decl.attributes if a.name == "map"), None)
                db_name = mapped.positional() if mapped else None
                return db_name if isinstance(db_name, str) else value
        raise InputError(f"{self.enums[enum_name].path}: enum {enum_name} has no value {value}")

    def _table(self, block: Block) -> None:
        table = Table(
            self._schema_of(block), self._mapped(block), block.name, location=f"{block.path}:{block.line}"
        )
        self.tables[block.name] = table
        for decl in block.fields:
            if decl.type_name in self.models:
                self.relations.append(_Relation(table, block, decl, decl.attribute("relation")))
                continue
            column = self._column(block, decl)
            if column is None:
                continue
            table.columns[column.name] = column
            self._field_keys(table, block, decl, column)
        self._block_keys(table, block)
        self.model.add_table(table)

    def _column(self, block: Block, decl: FieldDecl) -> Column | None:
        where = f"{block.path}:{decl.line}:{decl.column}"
        mapped = decl.attribute("map")
        db_name = mapped.positional() if mapped else None
        name = db_name if isinstance(db_name, str) else decl.name
        if decl.type_name in self.enums:
            enum_block = self.enums[decl.type_name]
            base = user_type(self._schema_of(enum_block), self._mapped(enum_block))
        elif decl.type_name == "Unsupported":
            raw = decl.type_args[0].value if decl.type_args else None
            if not isinstance(raw, str):
                raise InputError(f"{where}: Unsupported(...) needs a type name string")
            base = _located_type(raw, where)
        elif decl.type_name in SCALAR_TYPES:
            base = self._native_type(decl, where) or SCALAR_TYPES[decl.type_name]
        else:
            self.model.notes.append(
                f"{where}: field {block.name}.{decl.name} has type {decl.type_name}, not a PostgreSQL column; skipped"
            )
            return None
        default = self._default(decl, base, where)
        column_type = base + "[]" if decl.is_list else base
        computed = _computed_by_database(decl)
        generated = ""
        if computed not in ("", "*") and _references_columns(computed):
            # no DEFAULT can read the row: `prisma db pull` describes a generated column so
            default, generated, computed = Default.none(), computed, ""
        return Column(
            name=name,
            type=column_type,
            nullable=decl.optional or decl.is_list,  # Prisma creates list columns nullable
            default=default,
            field=decl.name,
            generated=generated,
            computed_by_database=computed,
        )

    def _native_type(self, decl: FieldDecl, where: str) -> str:
        native = next((a for a in decl.attributes if a.name.startswith("db.")), None)
        if native is None:
            return ""
        name = native.name[3:]
        if name not in _NATIVE_TYPES:
            raise InputError(f"{where}: unknown native type @db.{name} for PostgreSQL")
        args = [str(a.value) for a in native.args]
        text = _NATIVE_TYPES[name]
        if text in ("timestamptz", "timetz") and args:
            text = f"{text[:-2]}({args[0]}) with time zone"
        elif args:
            text += "(" + ",".join(args) + ")"
        return _located_type(text, where)

    def _default(self, decl: FieldDecl, base: str, where: str) -> Default:
        attribute = decl.attribute("default")
        if attribute is None:
            if decl.attribute("updatedAt"):
                return Default(DefaultKind.CLIENT, "@updatedAt", "@updatedAt")
            return Default.none()
        value = attribute.positional()
        if isinstance(value, Call):
            if value.name == "autoincrement":
                return Default(DefaultKind.SEQUENCE, "nextval", "autoincrement()")
            if value.name == "now":
                return normalise_default("CURRENT_TIMESTAMP", base)
            if value.name in _CLIENT_DEFAULTS:
                return Default(DefaultKind.CLIENT, value.name, f"{value.name}()")
            if value.name == "dbgenerated":
                expression = value.args[0].value if value.args else None
                if isinstance(expression, str) and expression.strip():
                    return normalise_default(expression, base)
                return Default(DefaultKind.EXPRESSION, "*", "dbgenerated()")
            raise InputError(f"{where}: @default({value.name}()) is not supported on PostgreSQL")
        literal = self._literal(decl, value, base, where)
        return normalise_default(literal, base)

    def _literal(self, decl: FieldDecl, value: Value | None, base: str, where: str) -> str:
        if isinstance(value, list):
            return "ARRAY[" + ", ".join(self._literal(decl, v, base, where) for v in value) + "]"
        if isinstance(value, Ref):
            if decl.type_name in self.enums:
                return sql_literal(self._enum_value_db_name(decl.type_name, value.name))
            if value.name in ("true", "false"):
                return value.name
            raise InputError(f"{where}: unknown default value {value.name}")
        literal = _scalar_literal(value)
        if literal is None:
            raise InputError(f"{where}: @default needs a value")
        return literal

    def _field_keys(self, table: Table, block: Block, decl: FieldDecl, column: Column) -> None:
        id_attribute = decl.attribute("id")
        if id_attribute:
            name = _text(id_attribute.named("map"))
            table.primary_key = PrimaryKey((column.name,), name or f"{table.name}_pkey", bool(name))
        unique = decl.attribute("unique")
        if unique:
            name = _text(unique.named("map"))
            sort = unique.named("sort")
            descending = isinstance(sort, Ref) and sort.name == "Desc"
            table.indexes.append(
                Index(
                    name or f"{table.name}_{column.name}_key",
                    (IndexColumn(column.name, descending, descending),),
                    unique=True,
                    predicate=self._predicate(
                        table, block, unique, f"{block.path}:{unique.line}:{unique.column}"
                    ),
                    name_explicit=bool(name),
                )
            )

    def _block_keys(self, table: Table, block: Block) -> None:
        for attribute in block.attributes:
            where = f"{block.path}:{attribute.line}:{attribute.column}"
            if attribute.name == "id":
                columns = self._index_columns(table, block, attribute, where, "btree")
                name = _text(attribute.named("map"))
                table.primary_key = PrimaryKey(
                    tuple(c.expression for c in columns), name or f"{table.name}_pkey", bool(name)
                )
            elif attribute.name in ("unique", "index"):
                method = "btree"
                index_type = attribute.named("type")
                if isinstance(index_type, Ref):
                    method = _INDEX_TYPES.get(index_type.name, index_type.name.lower())
                columns = self._index_columns(table, block, attribute, where, method)
                name = _text(attribute.named("map"))
                suffix = "key" if attribute.name == "unique" else "idx"
                default_name = f"{table.name}_{'_'.join(c.expression for c in columns)}_{suffix}"
                table.indexes.append(
                    Index(
                        name or default_name,
                        columns,
                        unique=attribute.name == "unique",
                        method=method,
                        predicate=self._predicate(table, block, attribute, where),
                        name_explicit=bool(name),
                    )
                )
            elif attribute.name == "fulltext":
                self.model.notes.append(f"{where}: @@fulltext is MySQL/MongoDB only; skipped")

    def _predicate(self, table: Table, block: Block, attribute: Attribute, where: str) -> str:
        """A partial index's `where:` (preview feature partialIndexes) as a normalised predicate:
        `raw("…")` is SQL; `{ field: value, … }` is what the schema engine writes for it: `"col" = value`,
        `"col" IS NULL` for null, `{ not: value }` for `!=` / `IS NOT NULL`, the conditions joined by AND."""
        value = attribute.named("where")
        if value is None:
            return ""
        if isinstance(value, Call) and value.name == "raw":
            text = value.args[0].value if value.args else None
            if not isinstance(text, str) or not text.strip():
                raise InputError(f'{where}: where: raw("…") needs the predicate as a string')
            return normalise_expression(text, table.column_types)
        if not isinstance(value, Object) or not value.entries:
            raise InputError(f'{where}: where: takes raw("…") or an object such as {{ deletedAt: null }}')
        conditions = []
        for entry in value.entries:
            decl = next((f for f in block.fields if f.name == entry.name), None)
            if decl is None or decl.type_name in self.models:
                raise InputError(f"{where}: where: names unknown field {entry.name!r} of {block.name}")
            column = quote_ident(self._column_name(decl))
            condition = entry.value
            negated = False
            if isinstance(condition, Object):
                keys = [e.name for e in condition.entries]
                if keys != ["not"]:
                    raise InputError(f"{where}: where: {entry.name}: only {{ not: value }} is supported")
                condition, negated = condition.entries[0].value, True
            if isinstance(condition, Ref) and condition.name == "null":
                conditions.append(f"{column} IS {'NOT ' if negated else ''}NULL")
                continue
            if isinstance(condition, str) and decl.type_name == "DateTime":
                # compared as PostgreSQL prints the stored timestamp, which depends on the session: not read
                self.model.notes.append(
                    f"{where}: the predicate compares {block.name}.{decl.name} with a date string; not compared"
                )
                return UNKNOWN
            conditions.append(f"{column} {'!=' if negated else '='} {self._where_literal(condition, where)}")
        return normalise_expression(" AND ".join(conditions), table.column_types)

    def _where_literal(self, value: Value, where: str) -> str:
        if isinstance(value, Ref) and value.name in ("true", "false"):
            return value.name
        literal = _scalar_literal(value)
        if literal is None:
            raise InputError(
                f"{where}: where: values are true, false, null, a string, a number or {{ not: … }}"
            )
        return literal

    def _index_columns(
        self, table: Table, block: Block, attribute: Attribute, where: str, method: str
    ) -> tuple[IndexColumn, ...]:
        fields = attribute.named("fields") or attribute.positional()
        if not isinstance(fields, list) or not fields:
            raise InputError(f"{where}: @@{attribute.name} needs a list of fields")
        columns = []
        for item in fields:
            field_name = item.name if isinstance(item, Ref | Call) else None
            decl = next((f for f in block.fields if f.name == field_name), None)
            if decl is None:
                raise InputError(
                    f"{where}: @@{attribute.name} names unknown field {field_name!r} of {block.name}"
                )
            column = self._column_name(decl)
            descending, opclass = False, ""
            if isinstance(item, Call):
                for argument in item.args:
                    if argument.name == "sort" and isinstance(argument.value, Ref):
                        descending = argument.value.name == "Desc"
                    elif argument.name == "ops":
                        opclass = _opclass_name(argument.value)
            column_type = table.columns[column].type if column in table.columns else ""
            columns.append(
                IndexColumn(column, descending, descending, canonical_opclass(method, column_type, opclass))
            )
        return tuple(columns)

    def _column_name(self, decl: FieldDecl) -> str:
        mapped = decl.attribute("map")
        value = mapped.positional() if mapped else None
        return value if isinstance(value, str) else decl.name

    def _foreign_key(self, relation: _Relation) -> None:
        attribute = relation.attribute
        fields = attribute.named("fields") if attribute else None
        if attribute is None or not isinstance(fields, list):
            if not relation.field.is_list:
                # the back side of a one-to-one / one-to-many relation holds no column
                pass
            elif not self._has_back_fields(relation):
                join_table = self._join_table(relation)
                if join_table not in self.model.unevaluated_tables:
                    self.model.unevaluated_tables.add(join_table)
                    self.model.notes.append(
                        f"{relation.block.path}:{relation.field.line}: implicit many-to-many relation "
                        f"{relation.block.name}.{relation.field.name}: its join table {join_table} is not compared"
                    )
            return
        if self.relation_mode_prisma:
            return
        references = attribute.named("references")
        target_block = self.models[relation.field.type_name]
        target = self.tables[target_block.name]
        if not isinstance(references, list) or len(references) != len(fields):
            raise InputError(
                f"{relation.block.path}:{attribute.line}:{attribute.column}: @relation needs fields and references of the same length"
            )
        columns = tuple(self._field_column(relation.block, v) for v in fields)
        ref_columns = tuple(self._field_column(target_block, v) for v in references)
        required = any(not f.optional for f in relation.block.fields if f.name in {_name(v) for v in fields})
        on_delete = _ACTIONS.get(
            _name(attribute.named("onDelete")) or "", "RESTRICT" if required else "SET NULL"
        )
        on_update = _ACTIONS.get(_name(attribute.named("onUpdate")) or "", "CASCADE")
        name = _text(attribute.named("map"))
        table = relation.table
        table.foreign_keys.append(
            ForeignKey(
                name or f"{table.name}_{'_'.join(columns)}_fkey",
                columns,
                target.schema,
                target.name,
                ref_columns,
                on_delete,
                on_update,
                name_explicit=bool(name),
            )
        )

    def _join_table(self, relation: _Relation) -> str:
        """Prisma's name for an implicit many-to-many table: _{relation name} or _{A}To{B}."""
        name = _relation_name(relation.attribute)
        if not name:
            name = "To".join(sorted((relation.block.name, relation.field.type_name)))
        return f"_{name}"

    def _has_back_fields(self, relation: _Relation) -> bool:
        """The other side of this relation (same relation name) holds the foreign key columns."""
        other = self.models[relation.field.type_name]
        name = _relation_name(relation.attribute)
        for decl in other.fields:
            if decl.type_name == relation.block.name and decl is not relation.field:
                attribute = decl.attribute("relation")
                if attribute and attribute.named("fields") and _relation_name(attribute) == name:
                    return True
        return False

    def _field_column(self, block: Block, value: Value) -> str:
        field_name = _name(value)
        decl = next((f for f in block.fields if f.name == field_name), None)
        if decl is None:
            raise InputError(f"{block.path}: model {block.name} has no field {field_name!r}")
        return self._column_name(decl)


def _computed_by_database(decl: FieldDecl) -> str:
    """`@default(dbgenerated("expr"))`: the normalised expr ("*" for `dbgenerated()`); else empty."""
    attribute = decl.attribute("default")
    value = attribute.positional() if attribute else None
    if not isinstance(value, Call) or value.name != "dbgenerated":
        return ""
    expression = value.args[0].value if value.args else None
    if isinstance(expression, str) and expression.strip():
        return normalise_expression(expression)
    return "*"


def _references_columns(expression: str) -> bool:
    """Whether a (normalised) SQL expression reads a column."""
    try:
        statements = pglast.parse_sql(f"SELECT ({expression})")
    except pglast.parser.ParseError:
        return False

    def reads(node: object) -> bool:
        if isinstance(node, ast.ColumnRef):
            return True
        if isinstance(node, ast.Node):
            return any(reads(getattr(node, slot)) for slot in node)
        if isinstance(node, tuple):
            return any(reads(child) for child in node)
        return False

    return reads(statements[0].stmt)


def _relation_name(attribute: Attribute | None) -> str:
    """@relation("name") or @relation(name: "name"); empty when the relation is unnamed."""
    if attribute is None:
        return ""
    return _text(attribute.positional()) or _text(attribute.named("name"))


def _text(value: Value | None) -> str:
    return value if isinstance(value, str) else ""


def _name(value: Value | None) -> str | None:
    return value.name if isinstance(value, Ref | Call) else None


def _opclass_name(value: Value) -> str:
    """Prisma's `ops: JsonbPathOps` / `ops: raw("gin_trgm_ops")` → the operator class name."""
    if (
        isinstance(value, Call)
        and value.name == "raw"
        and value.args
        and isinstance(value.args[0].value, str)
    ):
        return value.args[0].value
    if isinstance(value, Ref):
        name = value.name.replace("MultiMinMax", "MinmaxMulti").replace("MinMax", "Minmax")
        return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    return ""


def _located_type(text: str, where: str) -> str:
    """canonical_type, its error prefixed with FILE:LINE:COLUMN of the field."""
    try:
        return canonical_type(text)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def _scalar_literal(value: Value | None) -> str | None:
    """A boolean, number or string of the schema as SQL; None for anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return sql_literal(value)
    return None
