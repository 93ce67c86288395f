"""The one schema description every source is normalised to, in live-catalog terms.

Names are database names (after Prisma's @map/@@map, Drizzle's column name argument …); types are what
PostgreSQL's format_type() prints; defaults are normalised expressions (see defaults.py) or "client-side".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pgdba.stats.partitions import Partition


class DefaultKind(StrEnum):
    NONE = "none"
    EXPRESSION = "expression"
    SEQUENCE = "sequence"  # serial / autoincrement(): nextval of an owned sequence
    CLIENT = "client"  # computed by the ORM (uuid(), cuid(), @updatedAt, $defaultFn): no database default


@dataclass(frozen=True)
class Default:
    kind: DefaultKind = DefaultKind.NONE
    canonical: str = ""  # normalised expression, compared
    shown: str = ""  # as the source wrote it, reported

    @classmethod
    def none(cls) -> Default:
        return cls()

    @property
    def in_database(self) -> bool:
        return self.kind in (DefaultKind.EXPRESSION, DefaultKind.SEQUENCE)

    def describe(self) -> str:
        if self.kind is DefaultKind.NONE:
            return "no default"
        if self.kind is DefaultKind.SEQUENCE:
            return f"sequence ({self.shown})" if self.shown else "sequence"
        if self.kind is DefaultKind.CLIENT:
            return f"client-side {self.shown}".strip()
        return self.shown or self.canonical


# the migration tools' own tables: no source's model, left out of every comparison
BOOKKEEPING_TABLES = frozenset(
    {"_prisma_migrations", "__drizzle_migrations", "alembic_version", "django_migrations"}
)


@dataclass
class Column:
    name: str  # database name
    type: str  # canonical (format_type) form, e.g. "character varying(200)", "\"Role\"[]"
    nullable: bool = True
    default: Default = field(default_factory=Default.none)
    field: str = ""  # the ORM's field / property name when it differs from the database name
    identity: str = ""  # "always" / "by default" / ""
    generated: str = ""  # normalised GENERATED ALWAYS AS expression
    # Prisma's @default(dbgenerated("expr")): the database computes the value with expr, as a default or as
    # a generated column (db pull writes a generated column so); its normalised expression, "*" without one
    computed_by_database: str = ""
    # the column's collation as SQL names it (`"C"`, `"app"."und_ci"` outside pg_catalog and public), ""
    # for its type's default one
    collation: str = ""


@dataclass(frozen=True)
class IndexColumn:
    expression: str  # a column's database name, or a normalised expression
    descending: bool = False
    nulls_first: bool = False
    opclass: str = ""  # empty when it is the type's default operator class
    collation: str = ""


@dataclass
class Index:
    name: str
    columns: tuple[IndexColumn, ...]
    unique: bool = False
    method: str = "btree"
    predicate: str = ""
    include: tuple[str, ...] = ()
    nulls_not_distinct: bool = False
    is_constraint: bool = False  # a UNIQUE constraint rather than a CREATE UNIQUE INDEX
    name_explicit: bool = True  # False when the source leaves the name to its tool's convention


@dataclass
class PrimaryKey:
    columns: tuple[str, ...]
    name: str = ""
    name_explicit: bool = True


@dataclass
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_schema: str
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"
    name_explicit: bool = True


@dataclass
class Check:
    name: str
    expression: str  # normalised
    shown: str = ""
    name_explicit: bool = True  # False when the source leaves the name to PostgreSQL


@dataclass
class Table:
    schema: str
    name: str
    model: str = ""  # the ORM's model / variable name
    columns: dict[str, Column] = field(default_factory=dict)
    primary_key: PrimaryKey | None = None
    indexes: list[Index] = field(default_factory=list)  # unique constraints included (is_constraint)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    location: str = ""  # file:line where the source defines it
    unknown_columns: list[str] = field(default_factory=list)  # columns the source could not evaluate
    # a partitioned table (the live database's; an ORM does not say): PostgreSQL before 18 refuses a NOT VALID
    # foreign key on it
    partitioned: bool = False
    # a partitioned table's partitions at every level, parents first (the live database's): a fix builds an
    # index over them without blocking writes
    partitions: tuple[Partition, ...] = field(default=(), compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)

    @property
    def qualified(self) -> str:
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"

    @property
    def column_types(self) -> dict[str, str]:
        """Each column's type by its database name: what a literal compared with the column is read as."""
        return {name: column.type for name, column in self.columns.items()}

    def column_label(self, column: Column) -> str:
        """`Model.field` as the ORM names it, with the database name when it differs."""
        owner = self.model or self.name
        if column.field and column.field != column.name:
            return f"{owner}.{column.field} ({self.name}.{column.name})"
        return f"{owner}.{column.name}"


@dataclass
class EnumType:
    schema: str
    name: str
    values: tuple[str, ...]
    model: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)

    @property
    def qualified(self) -> str:
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Capabilities:
    """What a source can express; a property one side cannot express is not compared."""

    checks: bool = True
    foreign_keys: bool = True
    index_predicates: bool = True
    constraint_names: bool = True
    identity: bool = True  # identity columns; without: autoincrement() ≡ GENERATED BY DEFAULT
    expression_indexes: bool = True  # without: an expression index it lacks is a note, not drift
    list_nullability: bool = True  # without: an array column's NULL / NOT NULL is not compared
    column_collations: bool = True  # without: a column's collation on the other side is a note, not drift


@dataclass
class SchemaModel:
    """One source's description of the database."""

    source: str  # the spec as given: prisma:PATH, drizzle:PATH, sqlalchemy:MOD:ATTR, live
    kind: str  # prisma / drizzle / sqlalchemy / live
    tables: dict[tuple[str, str], Table] = field(default_factory=dict)
    enums: dict[tuple[str, str], EnumType] = field(default_factory=dict)
    capabilities: Capabilities = field(default_factory=Capabilities)
    notes: list[str] = field(default_factory=list)  # what could not be evaluated, and other caveats
    label: str = ""  # short name shown in the report
    location: str = ""  # the file, folder, module or (password-masked) DSN it was read from
    unevaluated_tables: set[str] = field(default_factory=set)  # tables it implies but does not describe

    def add_table(self, table: Table) -> None:
        self.tables[table.key] = table

    def add_enum(self, enum: EnumType) -> None:
        self.enums[enum.key] = enum

    @property
    def schemas(self) -> set[str]:
        return {t.schema for t in self.tables.values()} | {e.schema for e in self.enums.values()}
