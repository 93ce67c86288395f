"""What to do about each schema finding: which side to change and how, in that side's own words.

Every fix names both ways to make a pair agree (change the left source, or change the right one). An ORM side
gets the Prisma attribute / Drizzle call / SQLAlchemy argument; a live side gets SQL with quoted identifiers,
and any statement that loses data, rewrites the table or can fail on existing rows says so in a comment.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pglast
from pglast import ast

from pgdba.advisor.partitioned_build import partition_index_name
from pgdba.schema.model import Check, Column, Default, DefaultKind, EnumType, ForeignKey, Index, Table
from pgdba.sql_text import identifier, qualified, unquoted

ORM_NAMES = {"prisma": "Prisma", "drizzle": "Drizzle", "sqlalchemy": "SQLAlchemy"}
MIGRATION_TOOLS = {
    "prisma": "`prisma migrate dev`",
    "drizzle": "`drizzle-kit generate` then `drizzle-kit migrate`",
    "sqlalchemy": "an Alembic migration (`alembic revision --autogenerate`)",
}
_PRISMA_ACTIONS = {
    "CASCADE": "Cascade",
    "RESTRICT": "Restrict",
    "NO ACTION": "NoAction",
    "SET NULL": "SetNull",
    "SET DEFAULT": "SetDefault",
}


@dataclass(frozen=True)
class Side:
    """One source of a pair, as a fix names it."""

    label: str
    kind: str  # prisma / drizzle / sqlalchemy / live

    @property
    def live(self) -> bool:
        return self.kind == "live"


@dataclass(frozen=True)
class Option:
    """One way to make the pair agree: change `side` as `text` says (with `sql` for a live side)."""

    side: Side
    text: str
    sql: str | None = None


@dataclass(frozen=True)
class Fix:
    recommendation: str
    sql: str | None = None


def either(*options: Option) -> Fix:
    """`in prisma: …; or in live: … (SQL below)`, and the live side's SQL."""
    parts = [f"in {o.side.label}: {o.text}{' (SQL below)' if o.sql else ''}" for o in options]
    statements = [o for o in options if o.sql]
    if len(statements) > 1:
        sql: str | None = "\n".join(f"-- in {o.side.label}:\n{o.sql}" for o in statements)
    else:
        sql = statements[0].sql if statements else None
    return Fix(("either " if len(parts) > 1 else "") + "; or ".join(parts), sql)


# --- tables ---------------------------------------------------------------------------------------------


def table_missing(table: Table, present: Side, absent: Side) -> Fix:
    return either(_add_table(table, absent, present), _remove_table(table, present))


def _add_table(table: Table, side: Side, origin: Side) -> Option:
    if side.live:
        tool = MIGRATION_TOOLS.get(origin.kind, "a migration")
        return Option(side, f"create table {table.qualified} with {tool} (it writes the CREATE TABLE)")
    if side.kind == "prisma":
        return Option(
            side, f"add `model {table.name} {{ … }}` (`prisma db pull` writes it from the database)"
        )
    if side.kind == "drizzle":
        return Option(
            side,
            f"add `export const … = pgTable({_js(table.name)}, {{ … }})` (`drizzle-kit pull` writes it)",
        )
    return Option(
        side,
        f"add a model class with `__tablename__ = {_js(table.name)}` (or a `Table({_js(table.name)}, …)`)",
    )


def _remove_table(table: Table, side: Side) -> Option:
    if side.live:
        return Option(
            side,
            f"drop table {table.qualified} — destructive: its rows are deleted",
            f"-- destructive: deletes every row of the table\nDROP TABLE {_table_sql(table)};",
        )
    return Option(side, f"remove {_orm_table(table, side)}")


def table_renamed(a: Table, b: Table, a_side: Side, b_side: Side) -> Fix:
    return either(_rename_table(a, b, a_side), _rename_table(b, a, b_side))


def _rename_table(current: Table, wanted: Table, side: Side) -> Option:
    if side.live:
        return Option(
            side,
            f"rename the table to {wanted.name}",
            f"ALTER TABLE {_table_sql(current)} RENAME TO {identifier(wanted.name)};",
        )
    if side.kind == "prisma":
        return Option(side, f"map the model to the table: `@@map({_js(wanted.name)})`")
    if side.kind == "drizzle":
        return Option(side, f"name the table in the call: `pgTable({_js(wanted.name)}, …)`")
    return Option(side, f"set `__tablename__ = {_js(wanted.name)}`")


# --- columns --------------------------------------------------------------------------------------------


def column_missing(table: Table, column: Column, present: Side, absent: Side) -> Fix:
    return either(_add_column(table, column, absent), _remove_column(table, column, present))


def _add_column(table: Table, column: Column, side: Side) -> Option:
    name = column.field or column.name
    if side.live:
        return Option(side, f"add the column {column.name} {column.type}", _add_column_sql(table, column))
    if side.kind == "prisma":
        return Option(
            side, f"add the field `{name} {_prisma_type(column)}` to model {table.model or table.name}"
        )
    if side.kind == "drizzle":
        return Option(side, f"add `{name}: {_drizzle_builder(column)}` to the pgTable")
    return Option(side, f"add `{name} = mapped_column({_js(column.name)}, {_sqlalchemy_type(column.type)})`")


def _add_column_sql(table: Table, column: Column) -> str:
    """ADD COLUMN as the source declares the column: a serial type for a sequence default, GENERATED …
    AS IDENTITY, GENERATED ALWAYS AS (…) STORED, the default with its type (`ARRAY[]::text[]`)."""
    definition = f"{identifier(column.name)} {column.type}"
    if column.collation:
        definition += f" COLLATE {column.collation}"
    comments = []
    computed = bool(column.identity or column.generated)  # the server fills every existing row
    if column.generated:
        definition += f" GENERATED ALWAYS AS ({column.generated}) STORED"
        comments.append("-- computed from other columns of the table: add those first")
    elif column.identity:
        definition += f" GENERATED {column.identity.upper()} AS IDENTITY"
    elif column.default.kind is DefaultKind.SEQUENCE and column.type in SERIAL_TYPES:
        definition = f"{identifier(column.name)} {SERIAL_TYPES[column.type]}"  # its own sequence, filled
        computed = True
    elif column.default.kind is not DefaultKind.NONE:
        value = _default_sql(column.default, column.type)
        if value is not None:
            definition += f" DEFAULT {value}"
            computed = True
        elif column.default.in_database:
            comments.append(
                f"-- the default ({column.default.describe()}) is not SQL pgdba can write: add it by hand"
            )
    if not column.nullable:
        definition += " NOT NULL"
        if not computed:
            comments.append("-- fails while the table has rows (NOT NULL without a default)")
    sql = f"ALTER TABLE {_table_sql(table)} ADD COLUMN {definition};"
    return "\n".join([*comments, sql])


SERIAL_TYPES = {"integer": "serial", "bigint": "bigserial", "smallint": "smallserial"}


def _remove_column(table: Table, column: Column, side: Side) -> Option:
    if side.live:
        return Option(
            side,
            f"drop the column {column.name} — destructive: its values are deleted",
            f"-- destructive: deletes the column's values\n"
            f"ALTER TABLE {_table_sql(table)} DROP COLUMN {identifier(column.name)};",
        )
    return Option(side, f"remove the field `{column.field or column.name}`")


def column_renamed(table: Table, a: Column, b: Column, a_side: Side, b_side: Side) -> Fix:
    return either(_rename_column(table, a, b, a_side), _rename_column(table, b, a, b_side))


def _rename_column(table: Table, current: Column, wanted: Column, side: Side) -> Option:
    if side.live:
        return Option(
            side,
            f"rename the column to {wanted.name}",
            f"ALTER TABLE {_table_sql(table)} RENAME COLUMN {identifier(current.name)} TO {identifier(wanted.name)};",
        )
    field = current.field or current.name
    if side.kind == "prisma":
        return Option(side, f"map the field to the column: `{field} … @map({_js(wanted.name)})`")
    if side.kind == "drizzle":
        return Option(side, f"name the column in its builder: `{field}: …({_js(wanted.name)})`")
    return Option(side, f"name the column: `{field} = mapped_column({_js(wanted.name)}, …)`")


def column_type(table: Table, a: Column, b: Column, a_side: Side, b_side: Side) -> Fix:
    return either(_retype(table, a, b, a_side), _retype(table, b, a, b_side))


_VARCHAR = re.compile(r"character varying(?:\((\d+)\))?")


def _only_length_grows(current: str, wanted: str) -> bool:
    """varchar(n) to varchar(m ≥ n) or to varchar without a limit: PostgreSQL changes the catalog only (no
    rewrite, no index rebuild)."""
    now, then = _VARCHAR.fullmatch(current), _VARCHAR.fullmatch(wanted)
    if now is None or then is None or now.group(1) is None:
        return False
    return then.group(1) is None or int(then.group(1)) >= int(now.group(1))


def _retype(table: Table, current: Column, wanted: Column, side: Side) -> Option:
    field = current.field or current.name
    if side.live:
        comment = (
            "-- only the length limit grows: no rewrite, a catalog change under a brief ACCESS EXCLUSIVE lock"
            if _only_length_grows(current.type, wanted.type)
            else "-- rewrites the table under an ACCESS EXCLUSIVE lock; fails if a value does not fit or convert"
            " (add USING … when PostgreSQL asks)"
        )
        return Option(
            side,
            f"change the column's type to {wanted.type}",
            f"{comment}\n"
            f"ALTER TABLE {_table_sql(table)} ALTER COLUMN {identifier(current.name)} TYPE {wanted.type};",
        )
    if side.kind == "prisma":
        return Option(side, f"declare the field as `{field} {_prisma_type(wanted)}`")
    if side.kind == "drizzle":
        return Option(side, f"declare the column as `{field}: {_drizzle_builder(wanted, modifiers=False)}`")
    return Option(side, f"declare the column as `{_sqlalchemy_type(wanted.type)}`")


def column_collation(table: Table, a: Column, b: Column, a_side: Side, b_side: Side) -> Fix:
    return either(
        _set_collation(table, a, b.collation, a_side), _set_collation(table, b, a.collation, b_side)
    )


def _set_collation(table: Table, column: Column, wanted: str, side: Side) -> Option:
    """`wanted`: a collation as SQL names it, "" for the type's default (ALTER … TYPE without COLLATE)."""
    if side.live:
        collate = f" COLLATE {wanted}" if wanted else ""
        described = wanted or "its type's default"
        return Option(
            side,
            f"change the column's collation to {described}",
            # measured on 15: the table keeps its file (no rewrite), the column's indexes are rebuilt
            "-- rebuilds the column's indexes under an ACCESS EXCLUSIVE lock (the rows are not rewritten); "
            "a unique one fails if the new collation makes two values equal\n"
            f"ALTER TABLE {_table_sql(table)} ALTER COLUMN {identifier(column.name)} TYPE {column.type}{collate};",
        )
    if not wanted:
        return Option(side, f"remove `collation=` from the type of `{column.field or column.name}`")
    argument = f'collation="{unquoted(wanted)}"'
    declared = _sqlalchemy_type(column.type)
    if declared.endswith(")"):
        return Option(side, f"declare the column as `{declared[:-1]}, {argument})`")
    if declared[:1].isupper():
        return Option(side, f"declare the column as `{declared}({argument})`")
    return Option(side, f"give the column's type `{argument}`")


def column_nullable(table: Table, a: Column, b: Column, a_side: Side, b_side: Side) -> Fix:
    return either(_set_nullable(table, a, b.nullable, a_side), _set_nullable(table, b, a.nullable, b_side))


def _set_nullable(table: Table, column: Column, nullable: bool, side: Side) -> Option:
    field = column.field or column.name
    if side.live:
        alter = f"ALTER TABLE {_table_sql(table)} ALTER COLUMN {identifier(column.name)}"
        if nullable:
            return Option(side, "drop NOT NULL", f"{alter} DROP NOT NULL;")
        return Option(
            side,
            "SET NOT NULL after checking no NULLs exist (it scans the table under an ACCESS EXCLUSIVE lock)",
            f"-- fails while a row holds a NULL; check first:\n"
            f"-- SELECT count(*) FROM {_table_sql(table)} WHERE {identifier(column.name)} IS NULL;\n"
            f"{alter} SET NOT NULL;",
        )
    if side.kind == "prisma":
        optional = "make the field optional" if nullable else "make the field required"
        return Option(side, f"{optional}: `{field} {_prisma_type(column, nullable=nullable)}`")
    if side.kind == "drizzle":
        return Option(
            side, f"remove `.notNull()` from `{field}`" if nullable else f"add `.notNull()` to `{field}`"
        )
    return Option(side, f"set `nullable={nullable}` on `{field}`")


def column_default(table: Table, a: Column, b: Column, a_side: Side, b_side: Side) -> Fix:
    return either(_set_default(table, a, b.default, a_side), _set_default(table, b, a.default, b_side))


def _set_default(table: Table, column: Column, wanted: Default, side: Side) -> Option:
    field = column.field or column.name
    described = wanted.describe()
    if side.live:
        alter = f"ALTER TABLE {_table_sql(table)} ALTER COLUMN {identifier(column.name)}"
        if not wanted.in_database:
            return Option(side, "drop the database default", f"{alter} DROP DEFAULT;")
        if wanted.kind is DefaultKind.SEQUENCE:
            return Option(
                side,
                "give the column a sequence of its own (a serial column's default): a migration writes it",
            )
        value = _default_sql(wanted, column.type)
        if value is None:
            if wanted.canonical == WILDCARD:
                return Option(
                    side,
                    f"give the column a database default: {described} does not say which, so there is no SQL",
                )
            return Option(side, f"give the column the default {described} (a migration writes it)")
        return Option(side, f"set the default to {value}", f"{alter} SET DEFAULT {value};")
    if not wanted.in_database:
        attribute = {"prisma": "@default(…)", "drizzle": ".default(…)"}.get(side.kind, "server_default=")
        return Option(side, f"remove `{attribute}` from `{field}`")
    if wanted.canonical == WILDCARD:
        return Option(side, f"give `{field}` the database's default ({described} does not say which)")
    if side.kind == "prisma":
        return Option(side, f"set `{_prisma_default(wanted, column.type)}` on `{field}`")
    if side.kind == "drizzle":
        return Option(side, f"set `{_drizzle_default(wanted, column.type)}` on `{field}`")
    value = _default_sql(wanted, column.type) or described
    return Option(side, f"set `server_default=text({_js(value)})` on `{field}`")


def column_identity(table: Table, column: Column, wanted: str, side: Side) -> Option:
    """`wanted`: "always", "by default" or "" (no identity)."""
    field = column.field or column.name
    if side.live:
        alter = f"ALTER TABLE {_table_sql(table)} ALTER COLUMN {identifier(column.name)}"
        if not wanted:
            return Option(
                side,
                "drop the identity (the values stay; new rows then need one)",
                f"{alter} DROP IDENTITY IF EXISTS;",
            )
        if column.identity:
            return Option(
                side, f"make it GENERATED {wanted.upper()}", f"{alter} SET GENERATED {wanted.upper()};"
            )
        return Option(
            side,
            f"make it an identity column (GENERATED {wanted.upper()})",
            f"-- replaces the column's serial default; the identity then continues past the largest value\n"
            f"{alter} DROP DEFAULT, ALTER COLUMN {identifier(column.name)} ADD GENERATED {wanted.upper()} AS IDENTITY;\n"
            f"SELECT setval(pg_get_serial_sequence({_literal(_table_sql(table))}, {_literal(column.name)}),\n"
            f"              coalesce(max({identifier(column.name)}), 0) + 1, false) FROM {_table_sql(table)};",
        )
    if side.kind == "prisma":
        if not wanted:
            return Option(side, f"use `@default(autoincrement())` on `{field}` (a serial column)")
        if wanted == "by default":
            return Option(
                side,
                f"use `@default(autoincrement())` on `{field}`: pgdba takes it for GENERATED BY DEFAULT AS "
                "IDENTITY, as `prisma db pull` writes one",
            )
        return Option(
            side,
            "Prisma cannot declare an identity column: keep it in a migration and ignore this finding "
            "(`--ignore column.identity:…`)",
        )
    if side.kind == "drizzle":
        call = {"always": ".generatedAlwaysAsIdentity()", "by default": ".generatedByDefaultAsIdentity()"}
        return Option(
            side, f"use `{call[wanted]}` on `{field}`" if wanted else f"remove the identity from `{field}`"
        )
    argument = {"always": "Identity(always=True)", "by default": "Identity()"}
    return Option(
        side, f"add `{argument[wanted]}` to `{field}`" if wanted else f"remove `Identity()` from `{field}`"
    )


def column_generated(table: Table, column: Column, wanted: str, side: Side) -> Option:
    field = column.field or column.name
    if side.live:
        alter = f"ALTER TABLE {_table_sql(table)}"
        if not wanted:
            return Option(
                side,
                "stop computing the column (its values stay)",
                f"{alter} ALTER COLUMN {identifier(column.name)} DROP EXPRESSION;",
            )
        return Option(
            side,
            f"make the column GENERATED ALWAYS AS ({wanted}) — destructive: it is dropped and added again"
            " (PostgreSQL 17: ALTER COLUMN … SET EXPRESSION AS (…) instead)",
            "-- destructive: deletes the column's current values and rewrites the table\n"
            f"{alter} DROP COLUMN {identifier(column.name)},\n"
            f"    ADD COLUMN {identifier(column.name)} {column.type} GENERATED ALWAYS AS ({wanted}) STORED;",
        )
    if side.kind == "prisma":
        if not wanted:
            return Option(side, f"remove `@default(dbgenerated(…))` from `{field}`")
        return Option(
            side,
            "Prisma cannot create a generated column: keep it in a migration, and describe it as "
            f"`@default(dbgenerated({_js(wanted)}))` on `{field}` (as `prisma db pull` does)",
        )
    if side.kind == "drizzle":
        return Option(
            side,
            f"use `.generatedAlwaysAs(sql`{wanted}`)` on `{field}`"
            if wanted
            else f"remove `.generatedAlwaysAs(…)` from `{field}`",
        )
    return Option(
        side,
        f"add `Computed({_js(wanted)})` to `{field}`" if wanted else f"remove `Computed(…)` from `{field}`",
    )


# --- keys, indexes, foreign keys, checks ----------------------------------------------------------------


def primary_key(table: Table, wanted: tuple[str, ...], side: Side) -> Option:
    current = table.primary_key
    names = _orm_columns(table, wanted)
    if side.live:
        drop = f"DROP CONSTRAINT {identifier(current.name)}" if current is not None and current.name else ""
        add = f"ADD PRIMARY KEY ({', '.join(identifier(c) for c in wanted)})" if wanted else ""
        actions = ", ".join(part for part in (drop, add) if part)
        return Option(
            side,
            f"make ({', '.join(wanted) or 'none'}) the primary key",
            "-- builds the key's index under an ACCESS EXCLUSIVE lock; fails on duplicate or NULL values;"
            " foreign keys to the old key must be dropped first\n"
            f"ALTER TABLE {_table_sql(table)} {actions};",
        )
    if side.kind == "prisma":
        attribute = f"`@id` on `{names[0]}`" if len(names) == 1 else f"`@@id([{', '.join(names)}])`"
        return Option(side, f"declare {attribute}" if wanted else "remove the `@id` / `@@id`")
    if side.kind == "drizzle":
        call = (
            f"`.primaryKey()` on `{names[0]}`"
            if len(names) == 1
            else f"`primaryKey({{ columns: [{', '.join('t.' + n for n in names)}] }})`"
        )
        return Option(side, f"declare {call}" if wanted else "remove the primary key")
    return Option(
        side, f"set `primary_key=True` on {', '.join(names)}" if wanted else "remove `primary_key=True`"
    )


def index_missing(
    table: Table, index: Index, present: Side, absent: Side, absent_table: Table | None = None
) -> Fix:
    """`table` is the present side's; `absent_table` the same table in the source without the index, whose
    field names the ORM declaration is written with."""
    return either(
        _add_index(table, index, absent, absent_table or table), _remove_index(table, index, present)
    )


def _add_index(table: Table, index: Index, side: Side, declared_in: Table) -> Option:
    what = "unique index" if index.unique else "index"
    if side.live:
        note = "-- fails if duplicate values exist\n" if index.unique else ""
        # the live table (`declared_in`, the side without it) says whether it is partitioned, and how
        return Option(side, f"create the {what} {index.name}", note + create_index_sql(declared_in, index))
    columns = _orm_columns(declared_in, tuple(c.expression for c in index.columns))
    plain = all(c.expression in table.columns for c in index.columns)
    if side.kind == "prisma":
        if not plain:
            return Option(side, f"Prisma cannot declare this {what}: keep it in a migration")
        attribute = "@@unique" if index.unique else "@@index"
        where = ""
        if index.predicate:
            where = f", where: raw({_js(index.predicate)})"
        text = f"add `{attribute}([{', '.join(columns)}]{where}, map: {_js(index.name)})`"
        if where:
            text += ' (with previewFeatures = ["partialIndexes"] in the generator block)'
        return Option(side, text)
    if side.kind == "drizzle":
        call = "uniqueIndex" if index.unique else "index"
        return Option(side, f"add `{call}({_js(index.name)}).on({', '.join('t.' + c for c in columns)})`")
    unique = ", unique=True" if index.unique else ""
    return Option(side, f"add `Index({_js(index.name)}, {', '.join(repr(c) for c in columns)}{unique})`")


def _remove_index(table: Table, index: Index, side: Side) -> Option:
    what = "unique index" if index.unique else "index"
    if side.live:
        if index.is_constraint:
            sql = f"ALTER TABLE {_table_sql(table)} DROP CONSTRAINT {identifier(index.name)};"
        else:
            sql = _drop_index_sql(table, index.name)
        caveat = ": duplicates become possible" if index.unique else ""
        return Option(side, f"drop the {what} {index.name}{caveat}", sql)
    return Option(
        side,
        f"remove the {what} on ({', '.join(_orm_columns(table, tuple(c.expression for c in index.columns)))})",
    )


def index_definition(table: Table, current: Index, wanted: Index, side: Side) -> Option:
    if side.live:
        return Option(
            side,
            f"rebuild {current.name} as {describe_index(wanted)}",
            "-- between the two statements the table has no such index\n"
            f"{_drop_index_sql(table, current.name)}\n"
            f"{create_index_sql(table, wanted)}",
        )
    if side.kind == "prisma" and wanted.predicate != current.predicate:
        where = f"`where: raw({_js(wanted.predicate)})`" if wanted.predicate else "no `where:`"
        return Option(
            side,
            f"declare {current.name} as {describe_index(wanted)} in Prisma ({where}; partial indexes need "
            'previewFeatures = ["partialIndexes"])',
        )
    return Option(side, f"declare {current.name} as {describe_index(wanted)} in {_orm(side)}")


def foreign_key_missing(
    table: Table,
    fk: ForeignKey,
    present: Side,
    absent: Side,
    absent_tables: tuple[Table | None, Table | None] = (None, None),
) -> Fix:
    """`table` is the present side's; `absent_tables` the table and the referenced table in the source without
    the key, whose model and field names the ORM declaration is written with (None: not there)."""
    return either(_add_foreign_key(table, fk, absent, absent_tables), _remove_foreign_key(table, fk, present))


def _add_foreign_key(
    table: Table, fk: ForeignKey, side: Side, declared_in: tuple[Table | None, Table | None]
) -> Option:
    if side.live:
        live = declared_in[0]
        partitioned = live is not None and live.partitioned
        added, validate = _add_foreign_key_sql(table, fk, partitioned=partitioned)
        return Option(side, f"add the foreign key {fk.name}", added + (f"\n{validate}" if validate else ""))
    own, referenced = declared_in
    return Option(side, f"declare the relation: {_orm_relation(own or table, fk, side, referenced)}")


def _remove_foreign_key(table: Table, fk: ForeignKey, side: Side) -> Option:
    if side.live:
        return Option(
            side,
            f"drop the foreign key {fk.name}",
            f"ALTER TABLE {_table_sql(table)} DROP CONSTRAINT {identifier(fk.name)};",
        )
    return Option(side, f"remove the relation on ({', '.join(_orm_columns(table, fk.columns))})")


def foreign_key_action(table: Table, current: ForeignKey, wanted: ForeignKey, side: Side) -> Option:
    if side.live:
        added, validate = _add_foreign_key_sql(
            table, wanted, name=current.name, partitioned=table.partitioned
        )
        return Option(
            side,
            f"recreate {current.name} with ON DELETE {wanted.on_delete} ON UPDATE {wanted.on_update}",
            _recreated(table, current.name, added, validate),
        )
    return Option(side, f"set the actions: {_orm_relation(table, wanted, side)}")


def _recreated(table: Table, name: str, added: str, validate: str | None) -> str:
    """Drop the constraint and add it anew in one transaction (never a moment without it), and validate the
    existing rows after COMMIT: inside the transaction, DROP CONSTRAINT's ACCESS EXCLUSIVE lock would stop
    every read and write of the table for as long as the validation scans it. Where the key is added
    validating (a partitioned table), it is checked inside, and the SQL says so."""
    inside = "" if validate else "-- the check of every row runs inside this transaction: reads wait too\n"
    return (
        "BEGIN;\n"
        f"{inside}ALTER TABLE {_table_sql(table)} DROP CONSTRAINT {identifier(name)};\n"
        f"{added}\n"
        "COMMIT;" + (f"\n{validate}" if validate else "")
    )


def _add_foreign_key_sql(
    table: Table, fk: ForeignKey, name: str = "", *, partitioned: bool = False
) -> tuple[str, str | None]:
    """ADD CONSTRAINT … NOT VALID, and the VALIDATE that checks the existing rows without blocking writes.
    On a partitioned table, where PostgreSQL before 18 refuses NOT VALID, the ADD that checks them itself
    (and no VALIDATE)."""
    target = qualified(fk.ref_schema, fk.ref_table) if fk.ref_schema != "public" else identifier(fk.ref_table)
    constraint = identifier(name or fk.name)
    added = (
        f"ALTER TABLE {_table_sql(table)} ADD CONSTRAINT {constraint}\n"
        f"    FOREIGN KEY ({', '.join(identifier(c) for c in fk.columns)})"
        f" REFERENCES {target} ({', '.join(identifier(c) for c in fk.ref_columns)})\n"
        f"    ON DELETE {fk.on_delete} ON UPDATE {fk.on_update}"
    )
    if partitioned:
        return (
            "-- a partitioned table: PostgreSQL before 18 refuses NOT VALID here, so this checks every row\n"
            "-- while writes to both tables wait; fails on a row without its parent\n"
            f"{added};",
            None,
        )
    return (
        f"{added} NOT VALID;",
        "-- checks the existing rows without blocking writes; fails on a row without its parent\n"
        f"ALTER TABLE {_table_sql(table)} VALIDATE CONSTRAINT {constraint};",
    )


def _orm_relation(table: Table, fk: ForeignKey, side: Side, referenced: Table | None = None) -> str:
    """The relation as `side` declares it; the referenced model and fields named as `referenced` (that
    source's referenced table) names them, else by their database names."""
    columns = _orm_columns(table, fk.columns)
    ref_columns = _orm_columns(referenced, fk.ref_columns) if referenced is not None else list(fk.ref_columns)
    ref_model = referenced.model if referenced is not None and referenced.model else fk.ref_table
    if side.kind == "prisma":
        return (
            f"`@relation(fields: [{', '.join(columns)}], references: [{', '.join(ref_columns)}], "
            f"onDelete: {_PRISMA_ACTIONS[fk.on_delete]}, onUpdate: {_PRISMA_ACTIONS[fk.on_update]})`"
        )
    if side.kind == "drizzle":
        return (
            f"`.references(() => {ref_model}.{ref_columns[0]}, "
            f'{{ onDelete: "{fk.on_delete.lower()}", onUpdate: "{fk.on_update.lower()}" }})`'
            f" on `{columns[0]}`"
        )
    return (
        f'`ForeignKey({_js(fk.ref_table + "." + fk.ref_columns[0])}, ondelete="{fk.on_delete}", '
        f'onupdate="{fk.on_update}")` on `{columns[0]}`'
    )


def check_missing(table: Table, check: Check, present: Side, absent: Side) -> Fix:
    return either(_add_check(table, check, absent), _remove_check(table, check, present))


def check_definition(table: Table, current: Check, wanted: Check, side: Side) -> Option:
    if side.live:
        added, validate = _add_check_sql(table, Check(current.name, wanted.expression))
        return Option(
            side,
            f"recreate {current.name} as CHECK ({wanted.expression})",
            _recreated(table, current.name, added, validate),
        )
    return _add_check(table, Check(current.name, wanted.expression), side)


def _add_check(table: Table, check: Check, side: Side) -> Option:
    if side.live:
        added, validate = _add_check_sql(table, check)
        return Option(side, f"add the check {check.name}", f"{added}\n{validate}")
    if side.kind == "drizzle":
        return Option(side, f"declare `check({_js(check.name)}, sql`{check.expression}`)`")
    if side.kind == "sqlalchemy":
        return Option(side, f"declare `CheckConstraint({_js(check.expression)}, name={_js(check.name)})`")
    return Option(side, f"declare CHECK ({check.expression}) in {_orm(side)}")


def _add_check_sql(table: Table, check: Check) -> tuple[str, str]:
    """ADD CONSTRAINT … CHECK … NOT VALID, and the VALIDATE that checks the existing rows."""
    name = identifier(check.name)
    return (
        f"ALTER TABLE {_table_sql(table)} ADD CONSTRAINT {name} CHECK ({check.expression}) NOT VALID;",
        "-- checks the existing rows without blocking writes; fails on a row that breaks the check\n"
        f"ALTER TABLE {_table_sql(table)} VALIDATE CONSTRAINT {name};",
    )


def _remove_check(table: Table, check: Check, side: Side) -> Option:
    if side.live:
        return Option(
            side,
            f"drop the check {check.name}",
            f"ALTER TABLE {_table_sql(table)} DROP CONSTRAINT {identifier(check.name)};",
        )
    return Option(side, f"remove the check {check.name}")


def name_difference(table: Table, kind: str, current: str, wanted: str, side: Side) -> Option:
    """`kind`: index, unique index, unique constraint, primary key or foreign key."""
    if side.live:
        if kind in ("index", "unique index"):
            sql = f"ALTER INDEX {qualified(table.schema, current)} RENAME TO {identifier(wanted)};"
        else:
            sql = f"ALTER TABLE {_table_sql(table)} RENAME CONSTRAINT {identifier(current)} TO {identifier(wanted)};"
        return Option(side, f"rename it to {wanted}", sql)
    if side.kind == "prisma":
        return Option(side, f"name it with `map: {_js(wanted)}`")
    if side.kind == "drizzle":
        return Option(side, f"name it in the call: `…({_js(wanted)})`")
    return Option(side, f"name it with `name={_js(wanted)}`")


# --- enums ----------------------------------------------------------------------------------------------


def enum_missing(enum: EnumType, present: Side, absent: Side) -> Fix:
    return either(_add_enum(enum, absent), _remove_enum(enum, present))


def _add_enum(enum: EnumType, side: Side) -> Option:
    values = ", ".join(_literal(v) for v in enum.values)
    if side.live:
        return Option(
            side, f"create the enum {enum.qualified}", f"CREATE TYPE {_enum_sql(enum)} AS ENUM ({values});"
        )
    if side.kind == "prisma":
        return Option(side, f"add `enum {enum.name} {{ {' '.join(enum.values)} }}`")
    if side.kind == "drizzle":
        return Option(side, f"add `pgEnum({_js(enum.name)}, [{', '.join(_js(v) for v in enum.values)}])`")
    return Option(side, f"add `Enum({', '.join(repr(v) for v in enum.values)}, name={_js(enum.name)})`")


def _remove_enum(enum: EnumType, side: Side) -> Option:
    if side.live:
        return Option(
            side,
            f"drop the enum {enum.qualified} (fails while a column uses it)",
            f"DROP TYPE {_enum_sql(enum)};",
        )
    return Option(side, f"remove the enum {enum.name}")


def enum_values(enum: EnumType, wanted: tuple[str, ...], side: Side) -> Option:
    """Make `enum` (this side's) hold exactly `wanted`, in that order."""
    missing = [v for v in wanted if v not in enum.values]
    extra = [v for v in enum.values if v not in wanted]
    if side.live:
        if extra or not missing:
            return Option(
                side,
                "PostgreSQL cannot drop or reorder enum values: create a new type, move the columns to it "
                f"(ALTER COLUMN … TYPE … USING …::text::…), drop {enum.qualified} — rows holding "
                f"{', '.join(extra) or 'the moved values'} must be changed first",
            )
        statements = []
        for value in missing:
            position = wanted.index(value)
            anchor = next((v for v in reversed(wanted[:position]) if v in enum.values or v in missing), None)
            where = f" AFTER {_literal(anchor)}" if anchor else ""
            statements.append(f"ALTER TYPE {_enum_sql(enum)} ADD VALUE {_literal(value)}{where};")
        return Option(side, f"add {', '.join(missing)} to the enum", "\n".join(statements))
    listed = ", ".join(wanted)
    if side.kind == "prisma":
        return Option(side, f"list the values {listed} in `enum {enum.model or enum.name}`")
    if side.kind == "drizzle":
        return Option(side, f"list [{', '.join(_js(v) for v in wanted)}] in `pgEnum({_js(enum.name)}, …)`")
    return Option(side, f"list {listed} in `Enum(…, name={_js(enum.name)})`")


# --- rendering helpers ----------------------------------------------------------------------------------


def create_index_sql(table: Table, index: Index) -> str:
    """The SQL that creates `index` on the live `table` without blocking writes, `;` included, one statement
    a line, to be run one at a time outside a transaction block: CREATE INDEX CONCURRENTLY; on a partitioned
    table, where PostgreSQL refuses CONCURRENTLY, its lock-free build over the table's partitions (CREATE
    INDEX ON ONLY the table, CONCURRENTLY on each leaf, ON ONLY on a sub-partitioned one, each attached to
    its parent's index; pgdba.advisor.partitioned_build); where that cannot be (a foreign-table partition,
    the partitions unknown) the one statement that blocks writes, said so."""
    unique = "UNIQUE " if index.unique else ""
    definition = _index_definition_sql(table, index)
    if not table.partitioned:
        return (
            "-- CONCURRENTLY: writes go on while it builds (not inside a transaction block)\n"
            f"CREATE {unique}INDEX CONCURRENTLY {identifier(index.name)} ON {_table_sql(table)} {definition};"
        )
    if not table.partitions or any(p.kind == "f" for p in table.partitions):
        return (
            "-- a partitioned table: PostgreSQL refuses CONCURRENTLY here, and this blocks writes to every "
            "partition while it builds\n"
            f"CREATE {unique}INDEX {identifier(index.name)} ON {_table_sql(table)} {definition};"
        )
    lines = [
        "-- a partitioned table, where PostgreSQL refuses CONCURRENTLY: built without blocking writes, ON ONLY "
        "the table, CONCURRENTLY on each partition and attached (run one statement at a time, not inside a "
        "transaction block); the table's index is valid once the last is attached",
        f"CREATE {unique}INDEX {identifier(index.name)} ON ONLY {_table_sql(table)} {definition};",
    ]
    names = {(table.schema, table.name): (table.schema, index.name)}
    taken: set[tuple[str, str]] = set()
    for p in table.partitions:
        name = partition_index_name(index.name, table.name, p.schema, p.name, taken)
        taken.add((p.schema, name))
        names[(p.schema, p.name)] = (p.schema, name)
        on = f"{identifier(name)} ON ONLY" if p.kind == "p" else f"CONCURRENTLY {identifier(name)} ON"
        lines.append(f"CREATE {unique}INDEX {on} {qualified(p.schema, p.name)} {definition};")
        lines.append(
            f"ALTER INDEX {qualified(*names[(p.parent_schema, p.parent_name)])} ATTACH PARTITION "
            f"{qualified(p.schema, name)};"
        )
    return "\n".join(lines)


def _index_definition_sql(table: Table, index: Index) -> str:
    """What follows the table in CREATE INDEX: `USING gin (…) INCLUDE (…) NULLS NOT DISTINCT WHERE …`."""
    parts = []
    for column in index.columns:
        text = (
            identifier(column.expression) if column.expression in table.columns else f"({column.expression})"
        )
        if column.opclass:
            text += f" {column.opclass}"
        if column.descending:
            text += " DESC" + ("" if column.nulls_first else " NULLS LAST")
        elif column.nulls_first:
            text += " NULLS FIRST"
        parts.append(text)
    sql = f"USING {index.method} " if index.method != "btree" else ""
    sql += f"({', '.join(parts)})"
    if index.include:
        sql += f" INCLUDE ({', '.join(identifier(c) for c in index.include)})"
    if index.nulls_not_distinct:
        sql += " NULLS NOT DISTINCT"
    if index.predicate:
        sql += f" WHERE {index.predicate}"
    return sql


def _drop_index_sql(table: Table, name: str) -> str:
    """DROP INDEX CONCURRENTLY; on a partitioned table, where PostgreSQL refuses CONCURRENTLY, DROP INDEX,
    which drops every partition's part too and locks the table and its partitions while it runs."""
    if table.partitioned:
        return (
            "-- a partitioned table: PostgreSQL refuses CONCURRENTLY here; this drops every partition's part "
            "too and locks the table and its partitions while it runs\n"
            f"DROP INDEX {qualified(table.schema, name)};"
        )
    return f"DROP INDEX CONCURRENTLY {qualified(table.schema, name)};"


def describe_index(index: Index) -> str:
    """`USING gin (tags jsonb_path_ops DESC NULLS LAST) WHERE …` — the definition as compared."""
    parts = []
    for column in index.columns:
        text = column.expression
        if column.opclass:
            text += f" {column.opclass}"
        if column.descending:
            text += " DESC" + ("" if column.nulls_first else " NULLS LAST")
        elif column.nulls_first:
            text += " NULLS FIRST"
        parts.append(text)
    head = "" if index.method == "btree" else f"USING {index.method} "
    text = f"{head}({', '.join(parts)})"
    if index.include:
        text += f" INCLUDE ({', '.join(index.include)})"
    if index.nulls_not_distinct:
        text += " NULLS NOT DISTINCT"
    if index.predicate:
        text += f" WHERE {index.predicate}"
    return text


def _table_sql(table: Table) -> str:
    return identifier(table.name) if table.schema == "public" else qualified(table.schema, table.name)


def _enum_sql(enum: EnumType) -> str:
    return identifier(enum.name) if enum.schema == "public" else qualified(enum.schema, enum.name)


def _orm(side: Side) -> str:
    return ORM_NAMES.get(side.kind, side.label)


def _orm_table(table: Table, side: Side) -> str:
    if side.kind == "prisma":
        return f"`model {table.model or table.name}`"
    if side.kind == "drizzle":
        return f"the pgTable `{table.model or table.name}`"
    return f"the model of table {table.name}"


def _orm_columns(table: Table, names: tuple[str, ...]) -> list[str]:
    """Database column names as the ORM's fields name them."""
    columns = [table.columns.get(name) for name in names]
    return [c.field or c.name if c is not None else name for c, name in zip(columns, names, strict=True)]


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _js(value: str) -> str:
    """A string literal as Prisma, JavaScript and Python all read it (a JSON string)."""
    return json.dumps(value, ensure_ascii=False)


WILDCARD = "*"  # "some database default" (compare.WILDCARD_DEFAULT): no SQL says it


def _default_sql(default: Default, column_type: str = "") -> str | None:
    """The default as SQL when it is a database expression PostgreSQL's parser accepts; None for "some
    default" (Prisma's `dbgenerated()`, SQLAlchemy's unreadable server default). The comparison drops a
    cast to the column's own type; an array constructor gets it back (`ARRAY[]::text[]`: PostgreSQL cannot
    type an empty one, and `ARRAY['a']` is text[], not the column's enum[])."""
    if default.kind is not DefaultKind.EXPRESSION or default.canonical == WILDCARD:
        return None
    try:
        statements = pglast.parse_sql(f"SELECT {default.canonical}")
    except pglast.parser.ParseError:
        return None
    targets = getattr(statements[0].stmt, "targetList", None) if len(statements) == 1 else None
    if not targets or len(targets) != 1:
        return None
    if column_type and isinstance(targets[0].val, ast.A_ArrayExpr):
        return f"{default.canonical}::{column_type}"
    return default.canonical


_STRING = re.compile(r"^'((?:[^']|'')*)'$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_NOW = ("now()", "CURRENT_TIMESTAMP")


def _unquote(body: str) -> str:
    return body.replace("''", "'")


def _prisma_default(default: Default, column_type: str = "") -> str:
    value = default.canonical
    if value == "ARRAY[]":
        return "@default([])"
    value = _default_sql(default, column_type) or value
    if value in _NOW:
        return "@default(now())"
    if string := _STRING.match(value):
        return f"@default({_js(_unquote(string.group(1)))})"
    if _NUMBER.match(value) or value in ("TRUE", "FALSE"):
        return f"@default({value.lower()})"
    return f"@default(dbgenerated({_js(value)}))"


def _drizzle_default(default: Default, column_type: str = "") -> str:
    value = default.canonical
    if value == "ARRAY[]":
        return ".default([])"
    value = _default_sql(default, column_type) or value
    if value in _NOW:
        return ".defaultNow()"
    if string := _STRING.match(value):
        return f".default({_js(_unquote(string.group(1)))})"
    if _NUMBER.match(value) or value in ("TRUE", "FALSE"):
        return f".default({value.lower()})"
    return f".default(sql`{value}`)"


_VARCHAR = re.compile(r"^character varying\((\d+)\)$")
_NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")
_TIMESTAMP = re.compile(r"^(timestamp|time)(?:\((\d)\))? (with|without) time zone$")
_PRISMA_SCALARS = {
    "text": "String",
    "integer": "Int",
    "bigint": "BigInt",
    "boolean": "Boolean",
    "double precision": "Float",
    "jsonb": "Json",
    "numeric": "Decimal",
    "bytea": "Bytes",
    "timestamp(3) without time zone": "DateTime",
    "uuid": "String @db.Uuid",
    "date": "DateTime @db.Date",
    "character varying": "String @db.VarChar",
    "json": "Json @db.Json",
}


def _prisma_type(column: Column, *, nullable: bool | None = None) -> str:
    """The Prisma field type (and native type attribute) that makes `column.type`."""
    optional = "?" if (column.nullable if nullable is None else nullable) else ""
    base, array = column.type.removesuffix("[]"), column.type.endswith("[]")
    suffix = "[]" if array else optional
    if base in _PRISMA_SCALARS:
        scalar, _, attribute = _PRISMA_SCALARS[base].partition(" ")
        return f"{scalar}{suffix}{' ' + attribute if attribute else ''}"
    if match := _VARCHAR.match(base):
        return f"String{suffix} @db.VarChar({match.group(1)})"
    if match := _NUMERIC.match(base):
        return f"Decimal{suffix} @db.Decimal({match.group(1)}, {match.group(2)})"
    if match := _TIMESTAMP.match(base):
        native = match.group(1).capitalize() + ("tz" if match.group(3) == "with" else "")
        precision = f"({match.group(2)})" if match.group(2) else ""
        return f"DateTime{suffix} @db.{native}{precision}"
    if base.startswith('"') or base.isidentifier():
        return base.strip('"') + suffix  # an enum
    return f"Unsupported({_js(base)}){suffix}"


_DRIZZLE_BUILDERS = {
    "text": "text",
    "integer": "integer",
    "bigint": "bigint",
    "boolean": "boolean",
    "double precision": "doublePrecision",
    "jsonb": "jsonb",
    "json": "json",
    "uuid": "uuid",
    "date": "date",
    "numeric": "numeric",
}


def _drizzle_builder(column: Column, *, modifiers: bool = True) -> str:
    base, array = column.type.removesuffix("[]"), column.type.endswith("[]")
    name = _js(column.name)
    if base in _DRIZZLE_BUILDERS:
        call = f"{_DRIZZLE_BUILDERS[base]}({name})"
    elif match := _VARCHAR.match(base):
        call = f"varchar({name}, {{ length: {match.group(1)} }})"
    elif match := _NUMERIC.match(base):
        call = f"numeric({name}, {{ precision: {match.group(1)}, scale: {match.group(2)} }})"
    elif match := _TIMESTAMP.match(base):
        options = [f"precision: {match.group(2)}"] if match.group(2) else []
        options += ["withTimezone: true"] if match.group(3) == "with" else []
        config = ", { " + ", ".join(options) + " }" if options else ""
        call = f"{match.group(1)}({name}{config})"
    else:
        call = f"customType(…)({name}) /* {base} */"
    if array:
        call += ".array()"
    if not modifiers:
        return call
    if column.default.kind is DefaultKind.SEQUENCE and column.type in SERIAL_TYPES:
        return f"{SERIAL_TYPES[column.type]}({name})"  # NOT NULL, with a sequence of its own
    if column.generated:
        call += f".generatedAlwaysAs(sql`{column.generated}`)"
    elif column.identity:
        call += (
            ".generatedAlwaysAsIdentity()"
            if column.identity == "always"
            else ".generatedByDefaultAsIdentity()"
        )
    elif column.default.in_database and column.default.canonical != WILDCARD:
        call += _drizzle_default(column.default, column.type)
    if not column.nullable and not column.identity:
        call += ".notNull()"
    return call


_SQLALCHEMY_TYPES = {
    "text": "Text",
    "integer": "Integer",
    "bigint": "BigInteger",
    "boolean": "Boolean",
    "double precision": "Double",
    "jsonb": "JSONB",
    "uuid": "Uuid",
    "date": "Date",
    "timestamp without time zone": "DateTime",
    "timestamp with time zone": "DateTime(timezone=True)",
}


def _sqlalchemy_type(pg_type: str) -> str:
    if pg_type in _SQLALCHEMY_TYPES:
        return _SQLALCHEMY_TYPES[pg_type]
    if match := _VARCHAR.match(pg_type):
        return f"String({match.group(1)})"
    if match := _NUMERIC.match(pg_type):
        return f"Numeric({match.group(1)}, {match.group(2)})"
    return f"a type compiled as {pg_type}"
