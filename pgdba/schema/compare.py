"""Compare two SchemaModels: tables, columns (by database name), types, nullability, defaults, collations,
primary keys, uniques, indexes, foreign keys, checks and enums. Every difference is a Finding with a stable
code; names a source leaves implicit are information, not drift."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from typing import Any

from pgdba.findings import Finding, Severity
from pgdba.schema import fixes
from pgdba.schema.fixes import Fix, Side, describe_index, either
from pgdba.schema.model import Check, Column, Default, DefaultKind, ForeignKey, Index, SchemaModel, Table

UNKNOWN = "?"  # a type, default or predicate a source could not evaluate: never compared
WILDCARD_DEFAULT = "*"  # "some database default" (Prisma's dbgenerated()): only its presence is compared
RENAME_SIMILARITY = 0.6
# every finding code (after "schema."): ignore rules are checked against these
FINDING_CODES = (
    "table.missing",
    "table.renamed",
    "column.missing",
    "column.renamed",
    "column.type",
    "column.nullable",
    "column.default",
    "column.identity",
    "column.generated",
    "column.collation",
    "primary_key",
    "unique.missing",
    "unique.kind",
    "index.missing",
    "index.definition",
    "foreign_key.missing",
    "foreign_key.action",
    "check.missing",
    "check.definition",
    "enum.missing",
    "enum.values",
    "enum.order",
    "name",
)


@dataclass(frozen=True)
class CompareOptions:
    """Equivalences that can be switched off (all documented in the README)."""

    unique_index_equals_constraint: bool = True  # CREATE UNIQUE INDEX ≡ UNIQUE constraint
    compare_nulls_order: bool = True  # DESC NULLS LAST ≠ DESC (DESC ≡ DESC NULLS FIRST always)
    restrict_equals_no_action: bool = False  # ON DELETE RESTRICT ≡ NO ACTION (they differ only in timing)
    compare_names: bool = False  # report explicit-name differences as drift instead of information


@dataclass
class Counts:
    tables: int = 0
    columns: int = 0
    indexes: int = 0
    foreign_keys: int = 0
    enums: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class PairResult:
    left: SchemaModel
    right: SchemaModel
    findings: list[Finding] = field(default_factory=list)
    compared: Counts = field(default_factory=Counts)

    @property
    def drift(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is not Severity.INFO]

    @property
    def consistent(self) -> bool:
        return not self.drift


def compare_models(
    left: SchemaModel, right: SchemaModel, options: CompareOptions | None = None
) -> PairResult:
    return _Comparison(left, right, options or CompareOptions()).run()


class _Comparison:
    def __init__(self, left: SchemaModel, right: SchemaModel, options: CompareOptions) -> None:
        self.left, self.right, self.options = left, right, options
        self.result = PairResult(left, right)
        self.a, self.b = left.label or left.kind, right.label or right.kind
        self.a_side, self.b_side = Side(self.a, left.kind), Side(self.b, right.kind)

    def add(self, code: str, severity: Severity, title: str, obj: str, fix: Fix, **metrics: Any) -> None:
        if code not in FINDING_CODES:  # a new code must be listed there, or ignore rules would refuse it
            raise ValueError(f"finding code {code!r} is not in FINDING_CODES")
        self.result.findings.append(
            Finding(
                f"schema.{code}",
                severity,
                title,
                obj,
                {k: v for k, v in metrics.items()},
                fix.recommendation,
                fix.sql,
            )
        )

    def run(self) -> PairResult:
        self._tables()
        self._enums()
        return self.result

    # --- tables and columns ---------------------------------------------------------------------------

    def _tables(self) -> None:
        left_only = [t for k, t in self.left.tables.items() if k not in self.right.tables]
        right_only = [t for k, t in self.right.tables.items() if k not in self.left.tables]
        for a_table, b_table in _pair_renames(left_only, right_only, _table_similarity):
            left_only.remove(a_table)
            right_only.remove(b_table)
            self.add(
                "table.renamed",
                Severity.CRITICAL,
                f"table `{a_table.qualified}` in {self.a}, `{b_table.qualified}` in {self.b} — probably a rename",
                a_table.qualified,
                fixes.table_renamed(a_table, b_table, self.a_side, self.b_side),
                left=a_table.qualified,
                right=b_table.qualified,
            )
        for table in left_only:
            if table.name not in self.right.unevaluated_tables:
                self._missing_table(table, self.a_side, self.b_side)
        for table in right_only:
            if table.name not in self.left.unevaluated_tables:
                self._missing_table(table, self.b_side, self.a_side)
        for key, a_table in self.left.tables.items():
            b_table = self.right.tables.get(key)
            if b_table is not None:
                self.result.compared.tables += 1
                self._table(a_table, b_table)

    def _missing_table(self, table: Table, present: Side, absent: Side) -> None:
        label = self._table_name(table)
        self.add(
            "table.missing",
            Severity.CRITICAL,
            f"table {label} is in {present.label}, missing in {absent.label}",
            table.qualified,
            fixes.table_missing(table, present, absent),
            present_in=present.label,
            missing_in=absent.label,
        )

    def _table(self, a: Table, b: Table) -> None:
        owner = self._table_name(a, b)
        left_only = [c for name, c in a.columns.items() if name not in b.columns]
        right_only = [c for name, c in b.columns.items() if name not in a.columns]
        for a_column, b_column in _pair_renames(left_only, right_only, _column_similarity):
            left_only.remove(a_column)
            right_only.remove(b_column)
            self.add(
                "column.renamed",
                Severity.CRITICAL,
                f"{owner}: `{_field(a_column)}` in {self.a}, `{_field(b_column)}` in {self.b} — probably a rename",
                f"{a.qualified}.{a_column.name}",
                fixes.column_renamed(a, a_column, b_column, self.a_side, self.b_side),
                left=a_column.name,
                right=b_column.name,
            )
        for column in left_only:
            if not _maybe_unevaluated(column, b):
                self._missing_column(a, column, self.a_side, self.b_side)
        for column in right_only:
            if not _maybe_unevaluated(column, a):
                self._missing_column(b, column, self.b_side, self.a_side)
        for name, a_column in a.columns.items():
            b_column = b.columns.get(name)
            if b_column is not None:
                self.result.compared.columns += 1
                self._column(a, b, a_column, b_column)
        self._primary_key(a, b)
        self._indexes(a, b)
        if self.left.capabilities.foreign_keys and self.right.capabilities.foreign_keys:
            self._foreign_keys(a, b)
        if self.left.capabilities.checks and self.right.capabilities.checks:
            self._checks(a, b)

    def _missing_column(self, table: Table, column: Column, present: Side, absent: Side) -> None:
        self.add(
            "column.missing",
            Severity.CRITICAL,
            f"column {self._column_name(column, (table, None))} ({column.type}) is in {present.label}, missing in {absent.label}",
            f"{table.qualified}.{column.name}",
            fixes.column_missing(table, column, present, absent),
            present_in=present.label,
            missing_in=absent.label,
        )

    def _column(self, a_table: Table, b_table: Table, a: Column, b: Column) -> None:
        obj = f"{a_table.qualified}.{a.name}"
        label = self._column_name(a, (a_table, a), (b_table, b))
        # Prisma's @default(dbgenerated("expr")) facing a generated column is that generated column
        a, b = _as_generated(a, b), _as_generated(b, a)
        if a.type != b.type and UNKNOWN not in (a.type, b.type):
            self.add(
                "column.type",
                Severity.CRITICAL,
                f"{label}: type {a.type} in {self.a}, {b.type} in {self.b}",
                obj,
                fixes.column_type(a_table, a, b, self.a_side, self.b_side),
                left=a.type,
                right=b.type,
            )
        if a.nullable != b.nullable and self._nullability_expressible(a, b):
            self.add(
                "column.nullable",
                Severity.CRITICAL,
                f"{label}: {_nullability(a)} in {self.a}, {_nullability(b)} in {self.b}",
                obj,
                fixes.column_nullable(a_table, a, b, self.a_side, self.b_side),
                left=_nullability(a),
                right=_nullability(b),
            )
        if not _same_default(a, b):
            self.add(
                "column.default",
                Severity.WARNING,
                f"{label}: default {a.default.describe()} in {self.a}, {b.default.describe()} in {self.b}",
                obj,
                fixes.column_default(a_table, a, b, self.a_side, self.b_side),
                left=a.default.describe(),
                right=b.default.describe(),
            )
        if a.collation != b.collation:
            self._collation(a_table, b_table, a, b, label, obj)
        if a.identity != b.identity and not self._autoincrement_as_identity(a, b):
            self.add(
                "column.identity",
                Severity.WARNING,
                f"{label}: identity {a.identity or 'none'} in {self.a}, {b.identity or 'none'} in {self.b}",
                obj,
                either(
                    fixes.column_identity(a_table, a, self._identity_of(b, self.right), self.a_side),
                    fixes.column_identity(b_table, b, self._identity_of(a, self.left), self.b_side),
                ),
                left=a.identity,
                right=b.identity,
            )
        if a.generated != b.generated and UNKNOWN not in (a.generated, b.generated):
            self.add(
                "column.generated",
                Severity.WARNING,
                f"{label}: generated as {a.generated or 'nothing'} in {self.a}, {b.generated or 'nothing'} in {self.b}",
                obj,
                either(
                    fixes.column_generated(a_table, a, b.generated, self.a_side),
                    fixes.column_generated(b_table, b, a.generated, self.b_side),
                ),
                left=a.generated,
                right=b.generated,
            )

    def _collation(self, a_table: Table, b_table: Table, a: Column, b: Column, label: str, obj: str) -> None:
        """A collation the other side cannot declare at all (Prisma, Drizzle) is a note: that source can never
        say it, so it is not drift; one both sides can declare is."""
        mute = next(
            (
                side
                for column, side, model in ((a, self.a_side, self.left), (b, self.b_side, self.right))
                if not column.collation and not model.capabilities.column_collations
            ),
            None,
        )
        if mute is not None:
            orm = fixes.ORM_NAMES.get(mute.kind, mute.label)
            self.add(
                "column.collation",
                Severity.INFO,
                f"{label}: collation {a.collation or b.collation} in {self.b if mute is self.a_side else self.a}, "
                f"which {mute.label} cannot declare (not drift)",
                obj,
                Fix(f"nothing to do: {orm} cannot declare a column's collation; keep it in a migration"),
                left=a.collation,
                right=b.collation,
            )
            return
        self.add(
            "column.collation",
            Severity.WARNING,
            f"{label}: {_described_collation(a)} in {self.a}, {_described_collation(b)} in {self.b}",
            obj,
            fixes.column_collation(a_table, a, b, self.a_side, self.b_side),
            left=a.collation,
            right=b.collation,
        )

    def _nullability_expressible(self, a: Column, b: Column) -> bool:
        """False for an array column of a source that cannot say whether one is NULL (Prisma: `String[]`
        is created nullable and `String[]?` is not Prisma syntax, so db pull writes a NOT NULL one so too)."""
        return not any(
            column.type.endswith("[]") and not model.capabilities.list_nullability
            for column, model in ((a, self.left), (b, self.right))
        )

    def _autoincrement_as_identity(self, a: Column, b: Column) -> bool:
        """A serial column of a source that cannot declare identity columns (Prisma's autoincrement(), as
        db pull writes GENERATED BY DEFAULT AS IDENTITY) ≡ a GENERATED BY DEFAULT identity column."""
        return any(
            not model.capabilities.identity
            and not x.identity
            and x.default.kind is DefaultKind.SEQUENCE
            and y.identity == "by default"
            for x, y, model in ((a, b, self.left), (b, a, self.right))
        )

    @staticmethod
    def _identity_of(column: Column, model: SchemaModel) -> str:
        """The identity to give the other side's column: a serial column of a source without identity
        columns asks for GENERATED BY DEFAULT, its equivalent."""
        if (
            not column.identity
            and not model.capabilities.identity
            and column.default.kind is DefaultKind.SEQUENCE
        ):
            return "by default"
        return column.identity

    def _side_of(self, table: Table) -> Side:
        return self.a_side if self.left.tables.get(table.key) is table else self.b_side

    def _table_name(self, a: Table, b: Table | None = None) -> str:
        """The database name, then each ORM side's model / variable name when it differs: `Course [drizzle: course]`."""
        aliases = [
            f"{side.label}: {table.model}"
            for table, side in ((a, self.a_side), (b, self.b_side))
            if table is not None and not side.live and table.model and table.model != table.name
        ]
        if b is None and aliases:  # one table: it belongs to whichever side holds it
            aliases = [f"{self._side_of(a).label}: {a.model}"]
        return f"{a.qualified} [{', '.join(aliases)}]" if aliases else a.qualified

    def _column_name(self, column: Column, *owners: tuple[Table, Column | None]) -> str:
        """`Course.title [drizzle: course.title]`: the database name, then the ORM's model.field where it differs."""
        table = owners[0][0]
        database = f"{table.qualified}.{column.name}"
        aliases = []
        for owner, own_column in owners:
            own = own_column or column
            orm = f"{owner.model or owner.name}.{own.field or own.name}"
            side = self._side_of(owner)
            if not side.live and orm != f"{owner.name}.{own.name}":
                aliases.append(f"{side.label}: {orm}")
        return f"{database} [{', '.join(aliases)}]" if aliases else database

    # --- keys and indexes -----------------------------------------------------------------------------

    def _name_difference(
        self,
        tables: tuple[Table, Table],
        kind: str,
        what: str,
        obj: str,
        a_name: str,
        a_explicit: bool,
        b_name: str,
        b_explicit: bool,
    ) -> None:
        """`kind`: index, unique index, unique constraint, primary key or foreign key."""
        if a_name == b_name:
            return
        drift = self.options.compare_names and a_explicit and b_explicit
        implicit = [side for side, explicit in ((self.a, a_explicit), (self.b, b_explicit)) if not explicit]
        note = f" ({' and '.join(implicit)} leaves the name to its tool's convention)" if implicit else ""
        self.add(
            "name",
            Severity.WARNING if drift else Severity.INFO,
            f"{what} is named `{a_name}` in {self.a}, `{b_name}` in {self.b}{note}",
            obj,
            either(
                fixes.name_difference(tables[0], kind, a_name, b_name, self.a_side),
                fixes.name_difference(tables[1], kind, b_name, a_name, self.b_side),
            ),
            left=a_name,
            right=b_name,
        )

    def _primary_key(self, a: Table, b: Table) -> None:
        a_pk, b_pk = a.primary_key, b.primary_key
        if a_pk is None and b_pk is None:
            return
        if a_pk is None or b_pk is None or a_pk.columns != b_pk.columns:
            self.add(
                "primary_key",
                Severity.CRITICAL,
                f"{self._table_name(a, b)}: primary key ({_columns(a_pk)}) in {self.a}, ({_columns(b_pk)}) in {self.b}",
                a.qualified,
                either(
                    fixes.primary_key(a, b_pk.columns if b_pk else (), self.a_side),
                    fixes.primary_key(b, a_pk.columns if a_pk else (), self.b_side),
                ),
                left=_columns(a_pk),
                right=_columns(b_pk),
            )
            return
        self._name_difference(
            (a, b),
            "primary key",
            f"primary key of {a.qualified}",
            a.qualified,
            a_pk.name,
            a_pk.name_explicit,
            b_pk.name,
            b_pk.name_explicit,
        )

    def _indexes(self, a: Table, b: Table) -> None:
        predicates = self.left.capabilities.index_predicates and self.right.capabilities.index_predicates
        left = list(a.indexes)
        right = list(b.indexes)
        pairs: list[tuple[Index, Index]] = []
        for a_index in list(left):
            match = next((i for i in right if self._same_index(a_index, i, predicates)), None)
            if match is not None:
                pairs.append((a_index, match))
                left.remove(a_index)
                right.remove(match)
        for a_index, b_index in pairs:
            self.result.compared.indexes += 1
            obj = f"{a.qualified}.{a_index.name}"
            self._name_difference(
                (a, b),
                _index_kind(a_index),
                _index_kind(a_index),
                obj,
                a_index.name,
                a_index.name_explicit,
                b_index.name,
                b_index.name_explicit,
            )
            if a_index.is_constraint != b_index.is_constraint:
                self.add(
                    "unique.kind",
                    Severity.INFO,
                    f"unique ({_index_columns(a_index)}) on {a.qualified} is a {_unique_kind(a_index)} in {self.a}, "
                    f"a {_unique_kind(b_index)} in {self.b} (equivalent)",
                    obj,
                    Fix(
                        "nothing to do: they are equivalent "
                        "(unique_index_equals_constraint = false in the config makes them differ)"
                    ),
                )
        for a_index in list(left):  # same name, different definition
            # an index name is unique in its schema, so the same name is the same index, also where a source
            # left the name to its tool's convention (Prisma's Member_email_key) — unless they are not even
            # the same kind of object (a unique index vs a UNIQUE constraint, when those differ)
            match = next(
                (
                    i
                    for i in right
                    if i.name == a_index.name
                    and (
                        (a_index.name_explicit and i.name_explicit)
                        or self.options.unique_index_equals_constraint
                        or a_index.is_constraint == i.is_constraint
                    )
                ),
                None,
            )
            if match is None:
                continue
            left.remove(a_index)
            right.remove(match)
            self.add(
                "index.definition",
                Severity.CRITICAL if a_index.unique or match.unique else Severity.WARNING,
                f"{_index_kind(a_index)} {a_index.name} on {a.qualified}: {describe_index(a_index)} in {self.a}, "
                f"{describe_index(match)} in {self.b}",
                f"{a.qualified}.{a_index.name}",
                either(
                    fixes.index_definition(a, a_index, match, self.a_side),
                    fixes.index_definition(b, match, a_index, self.b_side),
                ),
                left=describe_index(a_index),
                right=describe_index(match),
            )
        for index in left:
            self._missing_index(a, index, self.a_side, self.b_side, b)
        for index in right:
            self._missing_index(b, index, self.b_side, self.a_side, a)

    def _same_index(self, a: Index, b: Index, predicates: bool) -> bool:
        if a.unique != b.unique or a.method != b.method or a.include != b.include:
            return False
        if a.nulls_not_distinct != b.nulls_not_distinct:
            return False
        if (
            a.unique
            and not self.options.unique_index_equals_constraint
            and a.is_constraint != b.is_constraint
        ):
            return False
        if predicates and a.predicate != b.predicate and UNKNOWN not in (a.predicate, b.predicate):
            return False
        if len(a.columns) != len(b.columns):
            return False
        for x, y in zip(a.columns, b.columns, strict=True):
            if x.expression != y.expression or x.descending != y.descending or x.opclass != y.opclass:
                return False
            if self.options.compare_nulls_order and x.nulls_first != y.nulls_first:
                return False
        return True

    def _model_of(self, side: Side) -> SchemaModel:
        return self.left if side is self.a_side else self.right

    def _missing_index(
        self, table: Table, index: Index, present: Side, absent: Side, counterpart: Table
    ) -> None:
        """`counterpart`: the same table in the source without the index."""
        absent_model = self._model_of(absent)
        expressions = [c.expression for c in index.columns if c.expression not in table.columns]
        if expressions and not absent_model.capabilities.expression_indexes:
            self.add(
                "unique.missing" if index.unique else "index.missing",
                Severity.INFO,
                f"{_index_kind(index)} {index.name} {describe_index(index)} on {table.qualified} is in "
                f"{present.label}, not in {absent.label}, which cannot declare an index on an expression "
                "(not drift)",
                f"{table.qualified}.{index.name}",
                Fix(
                    f"nothing to do: {fixes.ORM_NAMES.get(absent.kind, absent.label)} cannot declare an index "
                    f"on {', '.join(expressions)}; keep it in a migration"
                ),
                present_in=present.label,
                missing_in=absent.label,
                name=index.name,
            )
            return
        self.add(
            "unique.missing" if index.unique else "index.missing",
            Severity.CRITICAL if index.unique else Severity.WARNING,
            f"{_index_kind(index)} {index.name} {describe_index(index)} on {table.qualified} "
            f"is in {present.label}, missing in {absent.label}",
            f"{table.qualified}.{index.name}",
            fixes.index_missing(table, index, present, absent, counterpart),
            present_in=present.label,
            missing_in=absent.label,
            name=index.name,
        )

    def _foreign_keys(self, a: Table, b: Table) -> None:
        right = list(b.foreign_keys)
        for a_fk in a.foreign_keys:
            match = next((f for f in right if _fk_shape(f) == _fk_shape(a_fk)), None)
            if match is None:
                self._missing_fk(a, a_fk, self.a_side, self.b_side, b)
                continue
            right.remove(match)
            self.result.compared.foreign_keys += 1
            obj = f"{a.qualified}.{a_fk.name}"
            for what, x, y in (
                ("ON DELETE", a_fk.on_delete, match.on_delete),
                ("ON UPDATE", a_fk.on_update, match.on_update),
            ):
                if self._same_action(x, y):
                    continue
                self.add(
                    "foreign_key.action",
                    Severity.WARNING,
                    f"foreign key {a.qualified}({', '.join(a_fk.columns)}) → {a_fk.ref_table}: {what} {x} in {self.a}, {y} in {self.b}",
                    obj,
                    either(
                        fixes.foreign_key_action(a, a_fk, match, self.a_side),
                        fixes.foreign_key_action(b, match, a_fk, self.b_side),
                    ),
                    left=x,
                    right=y,
                )
            self._name_difference(
                (a, b),
                "foreign key",
                "foreign key",
                obj,
                a_fk.name,
                a_fk.name_explicit,
                match.name,
                match.name_explicit,
            )
        for fk in right:
            self._missing_fk(b, fk, self.b_side, self.a_side, a)

    def _same_action(self, x: str, y: str) -> bool:
        if x == y:
            return True
        return self.options.restrict_equals_no_action and {x, y} == {"RESTRICT", "NO ACTION"}

    def _missing_fk(
        self, table: Table, fk: ForeignKey, present: Side, absent: Side, counterpart: Table
    ) -> None:
        """`counterpart`: the same table in the source without the key."""
        referenced = self._model_of(absent).tables.get((fk.ref_schema, fk.ref_table))
        self.add(
            "foreign_key.missing",
            Severity.WARNING,
            f"foreign key {table.qualified}({', '.join(fk.columns)}) → {fk.ref_table}({', '.join(fk.ref_columns)}) "
            f"is in {present.label}, missing in {absent.label}",
            f"{table.qualified}.{fk.name}",
            fixes.foreign_key_missing(table, fk, present, absent, (counterpart, referenced)),
            present_in=present.label,
            missing_in=absent.label,
        )

    def _checks(self, a: Table, b: Table) -> None:
        right = list(b.checks)
        # by name where both sides name the check, then by normalised expression whatever the names (an
        # unnamed check is named by PostgreSQL, `{table}_{column}_check`, not as the ORM guesses)
        paired: dict[int, Check] = {}
        for position, check in enumerate(a.checks):
            other = next((c for c in right if _same_check_name(c, check)), None)
            if other is not None:
                paired[position] = other
                right.remove(other)
        for position, check in enumerate(a.checks):
            if position not in paired:
                other = next((c for c in right if c.expression == check.expression), None)
                if other is not None:
                    paired[position] = other
                    right.remove(other)
        for position, check in enumerate(a.checks):
            other = paired.get(position)
            if other is None:
                self.add(
                    "check.missing",
                    Severity.WARNING,
                    f"check {check.name} on {a.qualified} ({check.shown or check.expression}) is in {self.a}, missing in {self.b}",
                    f"{a.qualified}.{check.name}",
                    fixes.check_missing(a, check, self.a_side, self.b_side),
                )
            elif other.expression != check.expression:
                self.add(
                    "check.definition",
                    Severity.WARNING,
                    f"check {check.name} on {a.qualified}: {check.expression} in {self.a}, {other.expression} in {self.b}",
                    f"{a.qualified}.{check.name}",
                    either(
                        fixes.check_definition(a, check, other, self.a_side),
                        fixes.check_definition(b, other, check, self.b_side),
                    ),
                    left=check.expression,
                    right=other.expression,
                )
        for check in right:
            self.add(
                "check.missing",
                Severity.WARNING,
                f"check {check.name} on {b.qualified} ({check.shown or check.expression}) is in {self.b}, missing in {self.a}",
                f"{b.qualified}.{check.name}",
                fixes.check_missing(b, check, self.b_side, self.a_side),
            )

    # --- enums ----------------------------------------------------------------------------------------

    def _enums(self) -> None:
        for key, a_enum in self.left.enums.items():
            b_enum = self.right.enums.get(key)
            if b_enum is None:
                self.add(
                    "enum.missing",
                    Severity.CRITICAL,
                    f"enum {a_enum.qualified} is in {self.a}, missing in {self.b}",
                    a_enum.qualified,
                    fixes.enum_missing(a_enum, self.a_side, self.b_side),
                )
                continue
            self.result.compared.enums += 1
            if a_enum.values == b_enum.values:
                continue
            only_a = [v for v in a_enum.values if v not in b_enum.values]
            only_b = [v for v in b_enum.values if v not in a_enum.values]
            if not only_a and not only_b:
                self.add(
                    "enum.order",
                    Severity.WARNING,
                    f"enum {a_enum.qualified}: values ordered {', '.join(a_enum.values)} in {self.a}, "
                    f"{', '.join(b_enum.values)} in {self.b}",
                    a_enum.qualified,
                    either(
                        fixes.enum_values(a_enum, b_enum.values, self.a_side),
                        fixes.enum_values(b_enum, a_enum.values, self.b_side),
                    ),
                )
                continue
            parts = []
            if only_a:
                parts.append(f"{', '.join(only_a)} only in {self.a}")
            if only_b:
                parts.append(f"{', '.join(only_b)} only in {self.b}")
            self.add(
                "enum.values",
                Severity.CRITICAL,
                f"enum {a_enum.qualified}: " + "; ".join(parts),
                a_enum.qualified,
                either(
                    fixes.enum_values(a_enum, b_enum.values, self.a_side),
                    fixes.enum_values(b_enum, a_enum.values, self.b_side),
                ),
                left=list(a_enum.values),
                right=list(b_enum.values),
            )
        for key, b_enum in self.right.enums.items():
            if key not in self.left.enums:
                self.add(
                    "enum.missing",
                    Severity.CRITICAL,
                    f"enum {b_enum.qualified} is in {self.b}, missing in {self.a}",
                    b_enum.qualified,
                    fixes.enum_missing(b_enum, self.b_side, self.a_side),
                )


def _same_default(a: Column, b: Column) -> bool:
    x, y = a.default, b.default
    if UNKNOWN in (x.canonical, y.canonical):
        return True
    if WILDCARD_DEFAULT in (x.canonical, y.canonical):
        return x.in_database == y.in_database or (
            x.kind is DefaultKind.EXPRESSION and y.kind is DefaultKind.EXPRESSION
        )
    if not x.in_database and not y.in_database:
        return True  # none, or computed by the ORM: the database has no default either way
    if (a.identity or b.identity) and not (x.in_database and y.in_database):
        return True  # identity vs serial is reported as an identity difference
    return x.kind == y.kind and x.canonical == y.canonical


def _as_generated(column: Column, other: Column) -> Column:
    """`column` as the generated column its @default(dbgenerated(…)) describes, when `other` is one."""
    if not column.computed_by_database or not other.generated or column.generated:
        return column
    expression = column.computed_by_database
    return replace(
        column,
        default=Default.none(),
        generated=other.generated if expression == WILDCARD_DEFAULT else expression,
    )


def _same_check_name(a: Check, b: Check) -> bool:
    return a.name_explicit and b.name_explicit and a.name == b.name


def _maybe_unevaluated(column: Column, other: Table) -> bool:
    """The other source has a column of this name it could not evaluate (its notes say so)."""
    return column.name in other.unknown_columns or (column.field or column.name) in other.unknown_columns


def _described_collation(column: Column) -> str:
    return f"collation {column.collation}" if column.collation else "the type's default collation"


def _nullability(column: Column) -> str:
    return "nullable" if column.nullable else "NOT NULL"


def _field(column: Column) -> str:
    return column.field if column.field and column.field != column.name else column.name


def _columns(pk: Any) -> str:
    return ", ".join(pk.columns) if pk is not None else "none"


def _fk_shape(fk: ForeignKey) -> tuple[Any, ...]:
    return (fk.columns, fk.ref_schema, fk.ref_table, fk.ref_columns)


def _index_kind(index: Index) -> str:
    if index.is_constraint:
        return "unique constraint"
    return "unique index" if index.unique else "index"


def _unique_kind(index: Index) -> str:
    return "UNIQUE constraint" if index.is_constraint else "unique index"


def _index_columns(index: Index) -> str:
    return ", ".join(c.expression for c in index.columns)


def _column_similarity(a: Column, b: Column) -> float:
    if a.type != b.type and UNKNOWN not in (a.type, b.type):
        return 0.0
    x, y = _field(a).lower(), _field(b).lower()
    ratio = SequenceMatcher(None, x, y).ratio()
    if x in y or y in x:
        ratio = max(ratio, 0.8)
    return ratio


def _table_similarity(a: Table, b: Table) -> float:
    x, y = set(a.columns), set(b.columns)
    if not x or not y:
        return 0.0
    overlap = len(x & y) / len(x | y)
    if _singular(a.name) == _singular(b.name):  # User / users, order_item / OrderItems
        return max(overlap, 0.9)
    return overlap


def _singular(name: str) -> str:
    return name.lower().replace("_", "").removesuffix("s")


def _pair_renames(left: list[Any], right: list[Any], similarity: Any) -> list[tuple[Any, Any]]:
    """Greedy best-first pairing of one-sided objects that are probably the same object renamed."""
    scored = sorted(
        ((similarity(a, b), i, j) for i, a in enumerate(left) for j, b in enumerate(right)),
        key=lambda t: -t[0],
    )
    used_left: set[int] = set()
    used_right: set[int] = set()
    pairs = []
    for score, i, j in scored:
        if score < RENAME_SIMILARITY:
            break
        if i in used_left or j in used_right:
            continue
        used_left.add(i)
        used_right.add(j)
        pairs.append((left[i], right[j]))
    return pairs
