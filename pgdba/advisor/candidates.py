"""Index candidates from the columns each query uses: equality columns first, then range or sort columns.

A candidate is a btree on one table: key columns, optional INCLUDE columns and an optional partial predicate
on one column: `= constant` (a constant several queries share), `IS NULL` (a query asks only for the rows
where it is null, and they are the minority: the soft-delete and job-queue pattern) or `IS NOT NULL` (a key
column that is mostly null and that the query compares with a strict operator, so the null rows never
match: the same plans from a smaller index). Candidates an existing index already serves (same leading
columns; for a partial index, the same predicate too) are left out.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import pglast
import psycopg
from pglast import ast, enums
from psycopg import sql

from pgdba.advisor.catalog import ExistingIndex, TableInfo
from pgdba.advisor.parse_tree import column_name, constant_text
from pgdba.advisor.query_columns import KEY_FUNCTIONS, ColumnUse, QueryColumns, Role

DEFAULT_MAX_WIDTH = 3
# A `column = constant` predicate seen in at least this many workload queries yields partial candidates.
PARTIAL_MIN_QUERIES = 2
# Partial predicates only on columns with few distinct values (a status, a flag), where they pay off.
PARTIAL_MAX_DISTINCT = 50
# IS NULL / IS NOT NULL partial candidates only where the predicate leaves out at least this share of rows.
PARTIAL_MIN_LEFT_OUT = 0.5
NULL_TESTS = ("IS NULL", "IS NOT NULL")
IDENTIFIER_MAX = 63  # bytes: PostgreSQL keeps NAMEDATALEN - 1 of an identifier
BTREE_DEFAULT_FILLFACTOR = 90
# Covering candidates carry at most this many INCLUDE columns (wider ones cost more space than they save).
MAX_INCLUDE = 3
# the operator classes that compare strings character by character: a btree of them serves LIKE 'abc%'
PATTERN_OPS = "_pattern_ops"
PATTERN_OPCLASSES = frozenset(f"{t}{PATTERN_OPS}" for t in ("text", "varchar", "bpchar"))


def identifier_prefix(text: str, limit: int = IDENTIFIER_MAX) -> str:
    """The longest start of `text` that fits `limit` bytes of UTF-8, never half a character: PostgreSQL cuts
    a longer identifier at 63 bytes itself, and a cut inside a character is not valid text."""
    # the cut can only leave an incomplete character at the end, which "ignore" drops
    return text.encode()[:limit].decode(errors="ignore")


def partitioned_build_note(tables: Sequence[str]) -> str:
    """Why the SQL of an index on a partitioned table (`schema.table`) blocks writes, and the lock-free
    route: the advice's note, and the check-up's on an index it proposes there."""
    named = (
        f"partitioned table {tables[0]}: PostgreSQL cannot build its indexes"
        if len(tables) == 1
        else f"partitioned tables ({', '.join(tables)}): PostgreSQL cannot build their indexes"
    )
    return (
        f"{named} CONCURRENTLY, so the SQL blocks writes to every partition while it runs; to avoid that, "
        "CREATE INDEX ON ONLY the table, CREATE INDEX CONCURRENTLY on each partition, then ALTER INDEX … "
        "ATTACH PARTITION each one"
    )


def index_name(base: str, definition: str, *, exact: bool = True) -> str:
    """`<base>_idx` when it fits IDENTIFIER_MAX bytes (and `exact`: the base spells the definition
    faithfully); else the base cut to fit, then a hash of `definition` that tells such names apart."""
    if exact and len(base.encode()) <= IDENTIFIER_MAX - 4:
        return base + "_idx"
    digest = hashlib.sha1(definition.encode()).hexdigest()[:8]
    return f"{identifier_prefix(base, IDENTIFIER_MAX - 4 - 9)}_{digest}_idx"


@dataclass(frozen=True)
class Candidate:
    """A btree index that may be created (ordered by table, then columns, for stable output)."""

    schema: str
    table: str
    columns: tuple[str, ...]
    include: tuple[str, ...] = ()
    where_column: str | None = None
    where_value: str | int | float | bool | None = None
    where_operator: str = "="  # "=" (with where_value), "IS NULL" or "IS NOT NULL"
    fillfactor: int | None = None  # None: PostgreSQL's btree default (90)
    # on a partitioned table: CREATE INDEX builds it on every partition; CONCURRENTLY is refused there
    partitioned: bool = False
    # on a table with inheritance children: a query of it scans them too, and an index on it covers its own
    # rows only, so the same index is built on each of them as well (pgdba.advisor.partitioned_build)
    inherited: bool = False
    # (key column, operator class) of the keys that serve `LIKE 'abc%'` under a non-C collation
    # (text_pattern_ops …); the other keys take their type's default operator class
    pattern_ops: tuple[tuple[str, str], ...] = ()
    # (key column, function) of the keys that are an expression of one column: `lower(email)` serves
    # `lower(email) = $1` (KEY_FUNCTIONS); the other keys are plain columns
    key_functions: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.where_operator not in ("=", *NULL_TESTS):
            raise ValueError(f"unsupported partial predicate operator {self.where_operator!r}")
        if self.fillfactor is not None and not 10 <= self.fillfactor <= 100:
            raise ValueError(f"btree fillfactor must be 10..100, not {self.fillfactor}")
        if self.fillfactor == BTREE_DEFAULT_FILLFACTOR:
            object.__setattr__(self, "fillfactor", None)  # one spelling of the default
        if any(
            column not in self.columns or opclass not in PATTERN_OPCLASSES
            for column, opclass in self.pattern_ops
        ):
            raise ValueError(f"pattern operator classes only on key columns, not {self.pattern_ops!r}")
        object.__setattr__(self, "pattern_ops", tuple(sorted(set(self.pattern_ops))))
        if any(column not in self.columns or f not in KEY_FUNCTIONS for column, f in self.key_functions):
            raise ValueError(f"key functions only on key columns, not {self.key_functions!r}")
        object.__setattr__(self, "key_functions", tuple(sorted(set(self.key_functions))))

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.table}"

    def _key(self) -> tuple[str, str, tuple[str, ...], tuple[str, ...], str, str, str, int, str, str]:
        return (
            self.schema,
            self.table,
            self.columns,
            self.include,
            self.where_column or "",
            self.where_operator,
            repr(self.where_value),
            self.fillfactor or 0,
            repr(self.pattern_ops),
            repr(self.key_functions),
        )

    def __lt__(self, other: Candidate) -> bool:
        return self._key() < other._key()

    @property
    def is_partial(self) -> bool:
        return self.where_column is not None

    def opclass(self, column: str) -> str:
        """The operator class of a key column: "" for its type's default."""
        return dict(self.pattern_ops).get(column, "")

    def function(self, column: str) -> str:
        """The function a key applies to its column (`lower`), "" for a plain column key."""
        return dict(self.key_functions).get(column, "")

    @property
    def keys(self) -> tuple[tuple[str, str, str], ...]:
        """(column, operator class, function) of each key: an index serves another's queries only when its
        keys start with the other's keys, operator classes and expressions included."""
        return tuple((c, self.opclass(c), self.function(c)) for c in self.columns)

    def key_text(self, column: str) -> str:
        """A key as written in CREATE INDEX, unquoted: `email`, `lower(email)`, `email text_pattern_ops`."""
        text = f"{self.function(column)}({column})" if self.function(column) else column
        return f"{text} {self.opclass(column)}" if self.opclass(column) else text

    def name(self) -> str:
        """PostgreSQL's (and Prisma's) default naming: table_col1_col2_idx (INCLUDE columns too), at most 63
        bytes (index_name), and different for every candidate: the advisor maps the indexes a plan uses back by
        name, and `CREATE INDEX IF NOT EXISTS` would skip a second index of the same name. A name that had
        to be shortened, or a predicate constant that is not a plain word, ends in a hash of the definition.
        """
        keys = (
            "_".join(p for p in (self.function(c), c, "pattern" if self.opclass(c) else "") if p)
            for c in self.columns
        )
        parts = [self.table, *keys, *self.include]
        exact = True
        if self.where_column is not None:
            parts.append(f"where_{self.where_column}")
            if self.where_operator == "=":
                word = re.sub(r"[^0-9A-Za-z]+", "_", str(self.where_value)).strip("_")
                exact = word == str(self.where_value)
                parts.append(word)
            else:
                parts.append(self.where_operator.lower().replace("is ", "").replace(" ", ""))
        return index_name("_".join(part for part in parts if part), self.label(), exact=exact)

    def predicate(self) -> str | None:
        """The partial predicate as text (`status = 'new'`, `deleted_at IS NULL`), None for a full index."""
        if self.where_column is None:
            return None
        if self.where_operator in NULL_TESTS:
            return f"{self.where_column} {self.where_operator}"
        return f"{self.where_column} = {self.where_value!r}"

    def predicate_key(self) -> tuple[str, str, str] | None:
        """The predicate as `predicate_key` reads an existing partial index's, to compare the two."""
        if self.where_column is None:
            return None
        if self.where_operator in NULL_TESTS:
            return (self.where_column, self.where_operator, "")
        value = self.where_value
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return (self.where_column, "=", text)

    def label(self) -> str:
        text = f"{self.relation}({', '.join(self.key_text(c) for c in self.columns)})"
        if self.include:
            text += f" INCLUDE ({', '.join(self.include)})"
        if self.where_column is not None:
            text += f" WHERE {self.predicate()}"
        return text

    def ddl(
        self,
        *,
        concurrently: bool,
        named: bool = True,
        on: tuple[str, str] | None = None,
        only: bool = False,
    ) -> sql.Composed:
        """The CREATE INDEX statement, identifiers quoted, the predicate constant as a literal (never
        CONCURRENTLY on a partitioned table, which PostgreSQL refuses). on: (schema, table) to build it on
        instead (one partition, for a what-if index); only: ON ONLY a partitioned table, its partitions
        left out (pgdba.advisor.partitioned_build)."""
        schema, table = on or (self.schema, self.table)
        parts: list[sql.Composable] = [sql.SQL("CREATE INDEX ")]
        if concurrently and not self.partitioned:
            parts.append(sql.SQL("CONCURRENTLY "))
        if named:
            parts.append(sql.SQL("IF NOT EXISTS {} ").format(sql.Identifier(self.name())))
        parts.append(
            sql.SQL("ON {}{}.{} USING btree ({})").format(
                sql.SQL("ONLY " if only else ""),
                sql.Identifier(schema),
                sql.Identifier(table),
                sql.SQL(", ").join(self._key_sql(c) for c in self.columns),
            )
        )
        if self.include:
            parts.append(
                sql.SQL(" INCLUDE ({})").format(sql.SQL(", ").join(sql.Identifier(c) for c in self.include))
            )
        if self.fillfactor is not None:
            parts.append(sql.SQL(" WITH (fillfactor = {})").format(sql.Literal(self.fillfactor)))
        if self.where_column is not None and self.where_operator in NULL_TESTS:
            parts.append(
                sql.SQL(" WHERE {} {}").format(
                    sql.Identifier(self.where_column), sql.SQL(self.where_operator)
                )
            )
        elif self.where_column is not None:
            parts.append(
                sql.SQL(" WHERE {} = {}").format(
                    sql.Identifier(self.where_column), sql.Literal(self.where_value)
                )
            )
        return sql.Composed(parts)

    def _key_sql(self, column: str) -> sql.Composable:
        key: sql.Composable = sql.Identifier(column)
        if self.function(column):
            key = sql.SQL("{}({})").format(sql.SQL(self.function(column)), key)  # one of KEY_FUNCTIONS
        if self.opclass(column):
            key = sql.SQL("{} {}").format(key, sql.SQL(self.opclass(column)))  # one of PATTERN_OPCLASSES
        return key

    def sql_text(self, conn: psycopg.Connection | None = None, *, concurrently: bool = True) -> str:
        return self.ddl(concurrently=concurrently).as_string(conn)

    def keyed(self, columns: tuple[str, ...], include: tuple[str, ...] = ()) -> Candidate:
        """A full (not partial) index on the same table with these keys, built with the same fillfactor (and
        the same operator class on the keys it keeps)."""
        return Candidate(
            self.schema,
            self.table,
            columns,
            include,
            fillfactor=self.fillfactor,
            partitioned=self.partitioned,
            inherited=self.inherited,
            pattern_ops=tuple((c, o) for c, o in self.pattern_ops if c in columns),
            key_functions=tuple((c, f) for c, f in self.key_functions if c in columns),
        )

    def extended(self, column: str) -> Candidate:
        """One more key column (taken out of INCLUDE when it was there)."""
        return self.keyed((*self.columns, column), tuple(c for c in self.include if c != column))

    def to_dict(self) -> dict[str, object]:
        return {
            "schema": self.schema,
            "table": self.table,
            "columns": list(self.columns),
            "include": list(self.include),
            "where": self.predicate(),
            "fillfactor": self.fillfactor or BTREE_DEFAULT_FILLFACTOR,
            "opclasses": dict(self.pattern_ops),  # key column → operator class, where not the default
            "functions": dict(self.key_functions),  # key column → the function the key applies to it
            "name": self.name(),
        }


@dataclass
class CandidateSet:
    """All candidates, and for each query the tables it reads and the columns it uses per table."""

    candidates: set[Candidate] = field(default_factory=set)
    by_query: dict[int, set[Candidate]] = field(default_factory=dict)
    query_tables: dict[int, set[str]] = field(default_factory=dict)  # query → relations (schema.table)
    query_columns: dict[int, dict[str, set[str]]] = field(default_factory=dict)  # query → relation → columns


def served_by_existing(candidate: Candidate, table: TableInfo) -> bool:
    """An existing valid btree whose leading keys are the candidate's keys (the same columns or
    expressions, with operator classes that serve the same operators) serves it: a full one always, a
    partial one when its predicate is the candidate's (`finished_at IS NULL`, `status = 'new'`). On a table
    with inheritance children, on it and on each child."""
    if not _served_by(table.indexes, candidate):
        return False
    # a table with inheritance children: only when each of them has such an index too (one on the table
    # itself serves none of their rows)
    return all(_served_by(indexes, candidate) for indexes in table.children_indexes)


def _served_by(indexes: Iterable[ExistingIndex], candidate: Candidate) -> bool:
    for index in indexes:
        if index.access_method != "btree" or not index.is_valid or not _leads_with(index, candidate):
            continue
        if not index.is_partial:
            return True
        if candidate.is_partial and predicate_key(index.predicate) == candidate.predicate_key():
            return True
    return False


def _leads_with(index: ExistingIndex, candidate: Candidate) -> bool:
    """Are the index's first keys the candidate's keys?"""
    if len(index.columns) < len(candidate.columns):
        return False
    for position, column in enumerate(candidate.columns):
        function = candidate.function(column)
        existing = index.key_functions[position] if position < len(index.key_functions) else None
        if (existing != (function, column)) if function else (index.columns[position] != column):
            return False
        opclass = index.key_opclasses[position] if position < len(index.key_opclasses) else ""
        if not _serves_like(opclass) if candidate.opclass(column) else _serves_like(opclass, collation=False):
            return False
    return True


def _serves_like(key_opclass: str, *, collation: bool = True) -> bool:
    """Does an existing index key ("opclass/collation", as ExistingIndex.key_opclasses) serve LIKE 'abc%':
    a pattern operator class does (and serves nothing but `=` besides), so does a "C" / "POSIX" collation
    when `collation`."""
    opclass, _, collation_name = key_opclass.partition("/")
    return opclass.endswith(PATTERN_OPS) or (collation and collation_name in ("C", "POSIX"))


def predicate_key(text: str | None) -> tuple[str, str, str] | None:
    """(column, "=" / "IS NULL" / "IS NOT NULL", constant as text) of a one-column predicate as PostgreSQL
    prints a partial index's (`(status = 'new'::text)`, `(NOT is_read)`); None for any other predicate."""
    if not text:
        return None
    try:
        statements = pglast.parse_sql(f"SELECT 1 WHERE {text}")
    except pglast.parser.ParseError:
        return None
    where = statements[0].stmt.whereClause if len(statements) == 1 else None  # type: ignore[union-attr]
    if isinstance(where, ast.NullTest):
        column = column_name(where.arg)
        operator = "IS NULL" if where.nulltesttype == enums.NullTestType.IS_NULL else "IS NOT NULL"
        return (column, operator, "") if column else None
    if isinstance(where, ast.BoolExpr) and where.boolop == enums.BoolExprType.NOT_EXPR:
        column = column_name(where.args[0]) if where.args and len(where.args) == 1 else None
        return (column, "=", "false") if column else None
    if isinstance(where, ast.ColumnRef):
        column = column_name(where)
        return (column, "=", "true") if column else None
    if isinstance(where, ast.A_Expr) and where.kind == enums.A_Expr_Kind.AEXPR_OP:
        if [n.sval for n in where.name or ()] != ["="]:
            return None
        column, value = column_name(where.lexpr), constant_text(where.rexpr)
        return (column, "=", value) if column and value is not None else None
    return None


def _literal_value(constant: str | None) -> str | int | float | bool | None:
    """The Python value of a literal as pglast printed it ('text', 42, 1.5, true)."""
    if constant is None:
        return None
    text = constant.split("::", 1)[0].strip()
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def generate_candidates(
    queries: Sequence[QueryColumns],
    tables: dict[str, TableInfo],
    *,
    max_width: int = DEFAULT_MAX_WIDTH,
    fixed: Iterable[tuple[str, str, str]] = (),
    fillfactors: Mapping[str, int] | None = None,
) -> CandidateSet:
    """Candidates for every query. `tables` maps relation names as the queries wrote them to TableInfo.

    fixed: (schema.table, column, constant) for `column = $n` parameters that receive one constant (nearly)
      every time (pgdba.advisor.observed): partial predicates like constants written in several queries.
    fillfactors: schema.table → the btree fillfactor its candidates are built with (tables nothing writes
      get 100: leaf pages packed full); the others keep PostgreSQL's default.
    """
    result = CandidateSet()
    partial_predicates = _recurring_constants(queries, tables, fixed)
    for number, query in enumerate(queries):
        result.by_query[number] = set()
        result.query_tables[number] = set()
        result.query_columns[number] = {}
        for block in query.blocks:
            for relation in dict.fromkeys(t.relation for t in block.tables):
                table = tables.get(relation)
                if table is None:
                    continue
                result.query_tables[number].add(table.qualified_name)
                uses = [u for u in query.uses if u.block == block.number and u.column.relation == relation]
                used = result.query_columns[number].setdefault(table.qualified_name, set())
                used.update(u.column.column for u in uses)
                uses = [u for u in uses if _keyable(u, table)]
                plain = [u for u in uses if not u.column.function]  # (`lower(email)` needs its own key)
                order_uses = [u for u in query.uses if u.block == block.number and u.role is Role.ORDER_BY]
                read = [c.column for c in query.referenced.get(block.number, []) if c.relation == relation]
                predicates: list[tuple[str, str, str | int | float | bool | None]] = [
                    (column, "=", value) for column, value in partial_predicates.get(table.qualified_name, ())
                ]
                predicates += [(column, "IS NULL", None) for column in _rare_nulls(plain, table)]
                block_keys = _BlockKeys(
                    table,
                    plain,
                    read,
                    predicates,
                    (fillfactors or {}).get(table.qualified_name),
                    _one_row_expressions(uses, table),
                )
                for columns in _column_lists(plain, _sort_key(order_uses, relation), table, max_width):
                    for pattern in _opclass_variants(columns, plain, _like_opclasses(plain, table)):
                        block_keys.add_variants(result, number, columns, pattern)
                for columns, functions, pattern in _function_key_lists(uses, table, max_width):
                    block_keys.add_variants(result, number, columns, pattern, functions)
    return result


@dataclass
class _BlockKeys:
    """What one query block does with one table, for the variants of each key list: plain, covering
    (INCLUDE the other columns the block reads) and partial."""

    table: TableInfo
    uses: list[ColumnUse]
    read: list[str]  # every column of the table the block reads
    predicates: list[tuple[str, str, str | int | float | bool | None]]  # partial: (column, operator, value)
    fillfactor: int | None
    # expression keys that find about one row (see _one_row_expressions): (column, function)
    one_row_expressions: frozenset[tuple[str, str]] = frozenset()

    def add_variants(
        self,
        result: CandidateSet,
        number: int,
        columns: tuple[str, ...],
        pattern: tuple[tuple[str, str], ...],
        functions: tuple[tuple[str, str], ...] = (),
    ) -> None:
        table = self.table
        expression_keys = {c for c, _ in functions}

        def candidate(
            keys: tuple[str, ...],
            include: tuple[str, ...] = (),
            where: tuple[str, str, str | int | float | bool | None] | None = None,  # column, operator, value
        ) -> Candidate:
            where_column, operator, value = where or (None, "=", None)
            return Candidate(
                table.schema,
                table.name,
                keys,
                include,
                where_column,
                value,
                operator,
                pattern_ops=tuple((c, o) for c, o in pattern if c in keys),
                key_functions=tuple((c, f) for c, f in functions if c in keys),
            )

        _add(result, number, candidate(columns), table, self.fillfactor)
        # (a column under an expression key is not in the index: it can still be INCLUDEd)
        plain_keys = set(columns) - expression_keys
        rest = tuple(sorted(c for c in set(self.read) - plain_keys if c in table.columns))
        if self.read and 0 < len(rest) <= MAX_INCLUDE and not self.one_row_expressions & set(functions):
            # every column the block reads: an index-only scan never visits the table
            _add(result, number, candidate(columns, rest), table, self.fillfactor)
        for where in self.predicates:
            if where[0] in plain_keys and len(columns) > 1:
                keys = tuple(c for c in columns if c != where[0])
                _add(result, number, candidate(keys, where=where), table, self.fillfactor)
        if columns[0] in _sparse_strict(self.uses, table):
            # the same keys without the null rows no filter of this block can match
            not_null = (columns[0], "IS NOT NULL", None)
            _add(result, number, candidate(columns, where=not_null), table, self.fillfactor)


# KEY_FUNCTIONS that keep nearly as many distinct values as their column has (`date` does not)
CASE_FUNCTIONS = frozenset({"lower", "upper"})


def _one_row_expressions(uses: list[ColumnUse], table: TableInfo) -> frozenset[tuple[str, str]]:
    """(column, function) of each `lower(email) = …` the block compares by `=` on a column with about one
    row per value, through a function that keeps values apart (lower, upper; not date). Such a lookup
    finds about one row, so covering it saves about one heap fetch for a wider index; but the planner has
    no statistics for a hypothetical expression index, prices the lookup at 0.5 % of the rows, and a
    covering variant would look to save hundreds. A plain column's lookup is estimated from its own
    statistics, and its covering variant judged on them."""
    return frozenset(
        (u.column.column, u.column.function)
        for u in uses
        if u.column.function in CASE_FUNCTIONS
        and u.role is Role.EQUALITY
        and u.operator == "="
        and u.conjunctive
        and u.column.column in table.columns
        and table.rows <= 2 * table.columns[u.column.column].n_distinct
    )


def _function_key_lists(
    uses: list[ColumnUse], table: TableInfo, max_width: int
) -> Iterator[tuple[tuple[str, ...], tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]]:
    """(key columns, key functions, pattern operator classes) for each column a block filters or sorts on
    through one of KEY_FUNCTIONS (`lower(email) = $1`): the expression alone, after the block's equality
    columns (most selective first), and, when the block compares it with `=`, before each range column."""
    plain = [u for u in uses if not u.column.function and u.conjunctive and u.column.column in table.columns]
    equality = sorted(
        dict.fromkeys(u.column.column for u in plain if u.role is Role.EQUALITY),
        key=lambda c: -table.columns[c].n_distinct,
    )
    ranges = list(dict.fromkeys(u.column.column for u in plain if u.role is Role.RANGE))
    for use in uses:
        column, function = use.column.column, use.column.function
        info = table.columns.get(column)
        if not function or info is None or not info.btree_ok:
            continue
        if use.role not in (Role.EQUALITY, Role.RANGE, Role.ORDER_BY) or not use.conjunctive:
            continue
        functions = ((column, function),)
        pattern = ((column, info.like_opclass),) if use.operator == "LIKE" and info.like_opclass else ()
        others = [c for c in equality if c != column and table.columns[c].btree_ok]
        for width in range(0, min(len(others), max_width - 1) + 1):
            yield (*others[:width], column), functions, pattern
        if use.role is Role.EQUALITY:
            for after in ranges:
                if after != column and table.columns[after].btree_ok:
                    yield (column, after), functions, pattern


def _keyable(use: ColumnUse, table: TableInfo) -> bool:
    """An index key can serve this use as the query writes it: a column cast to text / varchar only when it
    is text or varchar (on other types the cast is a function of the column), the date of a column only
    when it is a timestamp without time zone or a date (on a timestamptz it depends on the TimeZone:
    PostgreSQL refuses such an index)."""
    info = table.columns.get(use.column.column)
    if info is None:
        return True
    if use.column.cast and not (info.type_name == "text" or info.type_name.startswith("character varying")):
        return False
    if use.column.function == "date":
        return info.type_name == "date" or (
            info.type_name.startswith("timestamp") and info.type_name.endswith("without time zone")
        )
    return True


def timestamptz_day_notes(queries: Sequence[QueryColumns], tables: Mapping[str, TableInfo]) -> list[str]:
    """A note per timestamptz column a query filters by its day (`seen_at::date = $1`, `date(seen_at)`): no
    index can serve that (the day depends on the session's TimeZone, so PostgreSQL refuses the index), and
    the fix is in the query, a range on the column itself."""
    notes: dict[str, str] = {}
    for query in queries:
        for use in query.uses:
            table = tables.get(use.column.relation)
            info = table.columns.get(use.column.column) if table is not None else None
            if use.column.function != "date" or info is None or info.type_name != "timestamp with time zone":
                continue
            if use.role not in (Role.EQUALITY, Role.RANGE):
                continue
            assert table is not None
            column = f"{table.qualified_name}.{use.column.column}"
            notes[column] = (
                f"{column} is filtered by its day ({use.column.column}::date): no index can serve that on a "
                "timestamptz (the day depends on the session's TimeZone); compare the column with a range "
                f"instead, `{use.column.column} >= $1 AND {use.column.column} < $1 + interval '1 day'` (the "
                "day's start as a timestamptz), which a plain index on it serves"
            )
    return list(notes.values())


def _like_opclasses(uses: list[ColumnUse], table: TableInfo) -> dict[str, str]:
    """Columns a block compares with `LIKE 'abc%'` (conjunctively) whose collation needs a pattern operator
    class for a btree to serve it → that operator class."""
    return {
        u.column.column: opclass
        for u in uses
        if u.operator == "LIKE"
        and u.conjunctive
        and u.column.column in table.columns
        and (opclass := table.columns[u.column.column].like_opclass)
    }


def _opclass_variants(
    columns: tuple[str, ...], uses: list[ColumnUse], like: Mapping[str, str]
) -> list[tuple[tuple[str, str], ...]]:
    """The operator classes to try for one key list: the defaults; with the LIKE keys in their pattern
    class too, or only so when the block uses such a key for nothing but LIKE (the default class would serve
    none of its uses)."""
    pattern = tuple((c, like[c]) for c in columns if c in like)
    if not pattern:
        return [()]
    like_only = any(all(u.operator == "LIKE" for u in uses if u.column.column == c) for c, _ in pattern)
    return [pattern] if like_only else [(), pattern]


def _rare_nulls(uses: list[ColumnUse], table: TableInfo) -> list[str]:
    """Columns a block requires to be null (`deleted_at IS NULL`) where most rows are not null: an index
    over only the null rows is small and serves that block (no recurrence needed, it is not a constant)."""
    return list(
        dict.fromkeys(
            u.column.column
            for u in uses
            if u.operator == "IS NULL"
            and u.conjunctive
            and u.column.column in table.columns
            and table.columns[u.column.column].null_frac <= 1 - PARTIAL_MIN_LEFT_OUT
        )
    )


def _sparse_strict(uses: list[ColumnUse], table: TableInfo) -> set[str]:
    """Mostly-null columns a block compares with a strict operator (`=`, `<`, `IN`, a join key) in a
    conjunctive filter: such a filter never matches a null row, so the index may leave them out."""
    return {
        u.column.column
        for u in uses
        if u.conjunctive
        and u.role in (Role.EQUALITY, Role.RANGE, Role.JOIN)
        and u.operator not in (None, *NULL_TESTS)
        and u.column.column in table.columns
        and table.columns[u.column.column].null_frac >= PARTIAL_MIN_LEFT_OUT
    }


def _add(
    result: CandidateSet, number: int, candidate: Candidate, table: TableInfo, fillfactor: int | None
) -> None:
    if not candidate.columns or served_by_existing(candidate, table):
        return
    if fillfactor is not None:
        candidate = replace(candidate, fillfactor=fillfactor)
    if table.partitioned:
        candidate = replace(candidate, partitioned=True)
    elif table.inheritance_children:
        candidate = replace(candidate, inherited=True)
    result.candidates.add(candidate)
    result.by_query[number].add(candidate)


def _sort_key(order_uses: list[ColumnUse], relation: str) -> tuple[str, ...]:
    """ORDER BY columns when all of them are on this table in one direction (else no index can sort)."""
    if not order_uses or any(u.column.relation != relation or u.column.function for u in order_uses):
        return ()
    if len({u.descending for u in order_uses}) > 1:
        return ()
    ordered = sorted(order_uses, key=lambda u: u.position)
    return tuple(dict.fromkeys(u.column.column for u in ordered))


def _column_lists(
    uses: list[ColumnUse], sort_key: tuple[str, ...], table: TableInfo, max_width: int
) -> Iterable[tuple[str, ...]]:
    """Key column lists for one table of one query block, equality columns first."""

    def usable(columns: Iterable[str]) -> list[str]:
        return [c for c in dict.fromkeys(columns) if c in table.columns and table.columns[c].btree_ok]

    def by_selectivity(columns: list[str]) -> list[str]:
        return sorted(columns, key=lambda c: -table.columns[c].n_distinct)

    equality = by_selectivity(
        usable(u.column.column for u in uses if u.role is Role.EQUALITY and u.conjunctive)
    )
    ranges = usable(u.column.column for u in uses if u.role is Role.RANGE and u.conjunctive)
    joins = usable(u.column.column for u in uses if u.role is Role.JOIN)
    groups = usable(
        u.column.column for u in sorted(uses, key=lambda u: u.position) if u.role is Role.GROUP_BY
    )
    loose = usable(
        u.column.column for u in uses if not u.conjunctive and u.role in (Role.EQUALITY, Role.RANGE)
    )
    sort = tuple(usable(sort_key)) if len(usable(sort_key)) == len(sort_key) else ()

    lists: list[tuple[str, ...]] = [(c,) for c in [*equality, *ranges, *joins, *groups, *loose, *sort]]
    lists.extend(tuple(equality[:width]) for width in range(2, min(len(equality), max_width) + 1))
    eq_prefixes = [tuple(equality[:k]) for k in range(0, min(len(equality), max_width - 1) + 1)]
    for prefix in eq_prefixes:
        for column in [*ranges, *joins]:
            if column not in prefix:
                lists.append((*prefix, column))
        if sort:
            lists.append((*prefix, *[c for c in sort if c not in prefix]))
        if groups:
            lists.append((*prefix, *[c for c in groups if c not in prefix]))
    for join in joins:  # join key first, then the filters (serves a nested-loop inner side)
        for column in [*equality, *ranges]:
            if column != join:
                lists.append((join, column))
    for columns in lists:
        trimmed = tuple(dict.fromkeys(columns))[:max_width]
        if trimmed:
            yield trimmed


def _recurring_constants(
    queries: Sequence[QueryColumns], tables: dict[str, TableInfo], fixed: Iterable[tuple[str, str, str]] = ()
) -> dict[str, list[tuple[str, str | int | float | bool]]]:
    """`column = constant` predicates on low-cardinality columns seen in several queries (or sent every
    time, `fixed`), per table."""
    seen: Counter[tuple[str, str, str | int | float | bool]] = Counter()
    for query in queries:
        found: set[tuple[str, str, str | int | float | bool]] = set()
        for use in query.uses:
            if (
                use.role is not Role.EQUALITY
                or use.operator != "="
                or not use.conjunctive
                or use.column.function
            ):
                continue
            value = _literal_value(use.constant)
            table = tables.get(use.column.relation)
            if value is None or table is None or use.column.column not in table.columns:
                continue
            if table.columns[use.column.column].n_distinct <= PARTIAL_MAX_DISTINCT:
                found.add((table.qualified_name, use.column.column, value))
        seen.update(found)
    by_name = {t.qualified_name: t for t in tables.values()}
    for relation, column, constant in fixed:
        info = by_name.get(relation)
        if (
            info is not None
            and column in info.columns
            and info.columns[column].n_distinct <= PARTIAL_MAX_DISTINCT
        ):
            value = _typed(constant, info.columns[column].type_name)
            seen[(relation, column, value)] = max(seen[(relation, column, value)], PARTIAL_MIN_QUERIES)
    result: dict[str, list[tuple[str, str | int | float | bool]]] = {}
    for (relation, column, value), count in seen.items():
        if count >= PARTIAL_MIN_QUERIES:
            result.setdefault(relation, []).append((column, value))
    return result


def _typed(constant: str, type_name: str) -> str | int | bool:
    """A constant's text as the Python value a literal of that column's type parses to (so `= false`
    written in a query and `false` sent for a parameter are one predicate)."""
    if type_name == "boolean" and constant in ("true", "false"):
        return constant == "true"
    if type_name in ("smallint", "integer", "bigint"):
        try:
            return int(constant)
        except ValueError:
            return constant
    return constant
