"""Trigram search-index advice: a pg_trgm GIN index for the "contains" searches no btree serves.

`title ILIKE '%algebra%'`, Prisma's `contains` (`"title"::text ILIKE $1` with `%q%` as the value),
`title LIKE '%' || $1 || '%'` and regular expressions (`~`, `~*`) read every row without an index; a GIN index
over the column's trigrams (`USING gin (title gin_trgm_ops)`) finds the matching rows. The searches are
found by pgdba.advisor.query_columns (SearchUse); here they become one advice per (table, column) searched.

HypoPG cannot create hypothetical GIN indexes, so this advice is not costed: its status is "unverified"
until `--verify` measures it (pgdba.advisor.verify), and it is not counted in the btree budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from pgdba.advisor.candidates import index_name
from pgdba.advisor.catalog import TableInfo
from pgdba.advisor.observed import ObservedConstants, constants_key
from pgdba.advisor.query_columns import QueryColumns
from pgdba.advisor.workload import WorkloadQuery

EXTENSION = "pg_trgm"
OPCLASS = "gin_trgm_ops"
UNVERIFIED_REASON = "HypoPG cannot cost GIN indexes: --verify measures it"
AMBIGUOUS_NOTE = (
    "`LIKE $n` serves a search only if the application sends patterns that start with a wildcard "
    "(`%abc%`, Prisma's contains); for prefixes (`abc%`, startsWith) the btree advice serves it"
)
NOT_AVAILABLE_NOTE = "pg_trgm is not available on this server (install the PostgreSQL contrib package)"
# The btree path has no size floor (HypoPG's plans judge tiny tables); this advice is not costed, so it
# skips tables a sequential scan reads in a few dozen pages, where a GIN index rarely wins and still costs
# every write.
SEARCH_MIN_TABLE_BYTES = 256 * 1024
# A GIN trigram index's size, roughly: pg_trgm extracts about one trigram per character of a value (pg_stats'
# avg_width, in bytes), and GIN stores each (trigram, row) pair as a compressed item pointer in a posting
# list. With 2.5 bytes a pair, a 200,000-row title column of the tests is estimated at 10.5 MiB and builds
# to 9.7 MiB; posting lists of rare trigrams compress worse, of common ones better: a rough figure. pg_stats measures a value stored out of line (TOAST) by its pointer, so long texts are
# underestimated.
GIN_BYTES_PER_TRIGRAM = 2.5

# where pg_trgm is installed (NULL: not installed), whether that schema is on the search_path, and whether
# the server has it to install at all
TRIGRAM_EXTENSION_SQL = """
SELECT n.nspname AS schema,
       coalesce(n.nspname = ANY(current_schemas(false)), false) AS on_search_path,
       EXISTS (SELECT 1
                 FROM pg_available_extensions a
                WHERE a.name = 'pg_trgm') AS available
  FROM (SELECT 1) AS one
  LEFT JOIN pg_extension e ON e.extname = 'pg_trgm'
  LEFT JOIN pg_namespace n ON n.oid = e.extnamespace
"""

# the columns of a table whose type (through any domains) is text, varchar or bpchar: gin_trgm_ops indexes
# text, and those two are binary-coercible to it. citext is left out: its ILIKE is citext's own operator,
# which gin_trgm_ops does not serve.
TEXT_COLUMNS_SQL = """
WITH RECURSIVE types(name, type_oid) AS (
    SELECT a.attname, a.atttypid
      FROM pg_attribute a
     WHERE a.attrelid = %(oid)s
       AND a.attnum > 0
       AND NOT a.attisdropped
     UNION ALL
    SELECT types.name, t.typbasetype
      FROM types
      JOIN pg_type t ON t.oid = types.type_oid
     WHERE t.typtype = 'd'
)
SELECT name
  FROM types
 WHERE type_oid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype)
"""


@dataclass(frozen=True)
class TrigramExtension:
    """pg_trgm in the target database: where it is installed (None: it is not), whether that schema is on
    the search_path, and whether the server has it to install (the contrib package)."""

    available: bool
    schema: str | None = None
    on_search_path: bool = True

    @property
    def installed(self) -> bool:
        return self.schema is not None

    def opclass(self) -> sql.Composable:
        """gin_trgm_ops, schema-qualified when pg_trgm sits in a schema off the search_path."""
        if self.schema is not None and not self.on_search_path:
            return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.SQL(OPCLASS))
        return sql.SQL(OPCLASS)

    def create_statement(self) -> str | None:
        """CREATE EXTENSION when it is needed and can succeed (trusted since PostgreSQL 13: a database
        owner may run it), else None."""
        if self.installed or not self.available:
            return None
        return f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": EXTENSION,
            "installed": self.installed,
            "available": self.available,
            "schema": self.schema,
        }


def trigram_extension(conn: psycopg.Connection) -> TrigramExtension:
    """Where pg_trgm is in the database `conn` reads, and whether the server can install it."""
    row = conn.execute(TRIGRAM_EXTENSION_SQL).fetchone()
    assert row is not None  # one row always
    schema, on_search_path, available = row
    return TrigramExtension(bool(available) or schema is not None, schema, bool(on_search_path))


def text_columns(conn: psycopg.Connection, table_oid: int) -> set[str]:
    """The table's text / varchar / bpchar columns (domains over them too): those gin_trgm_ops indexes."""
    return {str(row[0]) for row in conn.execute(TEXT_COLUMNS_SQL, {"oid": table_oid}).fetchall()}


def is_trigram_opclass(key_opclass: str) -> bool:
    """A key's "operator class/collation" (as pgdba's catalog readers give them) is pg_trgm's
    (gin_trgm_ops, gist_trgm_ops)."""
    return key_opclass.split("/")[0].endswith("_trgm_ops")


def trigram_indexed_keys(table: TableInfo) -> set[tuple[str, str]]:
    """(column, function) of each key a valid, full GIN or GiST index of the table already has with a
    trigram operator class (function "" for the column itself, `lower` for `lower(title)`): such an index
    serves those searches already (from the indexes pgdba.advisor.catalog read)."""
    found: set[tuple[str, str]] = set()
    for index in table.indexes:
        if not index.is_valid or index.is_partial or index.access_method not in ("gin", "gist"):
            continue
        for position, opclass in enumerate(index.key_opclasses):
            if not is_trigram_opclass(opclass):
                continue
            column = index.columns[position] if position < len(index.columns) else ""
            function = index.key_functions[position] if position < len(index.key_functions) else None
            if column:
                found.add((column, ""))
            elif function is not None:
                found.add((function[1], function[0]))
    return found


@dataclass(frozen=True)
class SearchQuery:
    """One workload query that searches the column, and how (operator; `ambiguous`: `LIKE $n`, a search
    only when the application sends a pattern that starts with a wildcard)."""

    sql: str
    calls: int
    operator: str
    ambiguous: bool = False
    queryid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.sql,
            "calls": self.calls,
            "operator": self.operator,
            "ambiguous": self.ambiguous,
            "queryid": self.queryid,
        }


@dataclass
class SearchIndexAdvice:
    """A trigram GIN index to create on one column, the queries it serves, and pg_trgm's state."""

    schema: str
    table: str
    column: str
    queries: list[SearchQuery]
    extension: TrigramExtension
    # the case folding the queries apply to the column (`lower(title) LIKE …`, SEARCH_KEY_FUNCTIONS): the
    # index keys that expression; "" for the column itself
    function: str = ""
    table_bytes: int = 0
    partitioned: bool = False  # CONCURRENTLY is refused on a partitioned table
    # on a partitioned table: the statements that build it without blocking writes (`sql` blocks them),
    # empty where that is not possible (pgdba.advisor.partitioned_build)
    build_steps: list[str] = field(default_factory=list)
    status: str = "unverified"
    reason: str = UNVERIFIED_REASON
    # --verify's verdict on its queries (pgdba.advisor.verify.mark_measured); None: not verified
    measured: str | None = None
    # index entries written to the table in the workload's window (None: unknown, a query file)
    writes: float | None = None
    estimated_bytes: int = 0  # its rough size (estimated_gin_bytes); --verify reports the real one
    notes: list[str] = field(default_factory=list)

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def ambiguous(self) -> bool:
        """Every query it serves searches with `LIKE $n`: it pays only if they send `%…` patterns."""
        return all(q.ambiguous for q in self.queries)

    @property
    def key(self) -> str:
        """The indexed key as the queries write it: `title`, `lower(title)`."""
        return f"{self.function}({self.column})" if self.function else self.column

    def name(self) -> str:
        """`<table>_<column>_trgm_idx` (`<table>_lower_<column>_trgm_idx` for an expression, as
        Candidate.name names one), at most 63 bytes (a shortened one ends in a hash, as Candidate.name
        does)."""
        base = "_".join(p for p in (self.table, self.function, self.column, "trgm") if p)
        return index_name(base, f"{self.relation}({self.key} {OPCLASS})")

    def label(self) -> str:
        return f"{self.relation} USING gin ({self.key} {OPCLASS})"

    def ddl(self, *, concurrently: bool = True, only: bool = False) -> sql.Composed:
        """CREATE INDEX [CONCURRENTLY] IF NOT EXISTS … USING gin ("column" gin_trgm_ops) (or
        `lower("column") gin_trgm_ops`); only: ON ONLY a partitioned table, its partitions left out
        (pgdba.advisor.partitioned_build)."""
        key: sql.Composable = sql.Identifier(self.column)
        if self.function:
            key = sql.SQL("{}({})").format(sql.SQL(self.function), key)  # one of SEARCH_KEY_FUNCTIONS
        return sql.SQL("CREATE INDEX {}IF NOT EXISTS {} ON {}{}.{} USING gin ({} {})").format(
            sql.SQL("CONCURRENTLY " if concurrently and not self.partitioned else ""),
            sql.Identifier(self.name()),
            sql.SQL("ONLY " if only else ""),
            sql.Identifier(self.schema),
            sql.Identifier(self.table),
            key,
            self.extension.opclass(),
        )

    @property
    def sql(self) -> str:
        return self.ddl().as_string(None)

    def statements(self) -> list[str]:
        """The runnable SQL, without `;`: CREATE EXTENSION first when pg_trgm is not installed, then the
        lock-free steps or else the one statement; nothing when the server does not have pg_trgm (the
        statements would fail)."""
        if not self.extension.available:
            return []
        create = self.extension.create_statement()
        build = self.build_steps or [self.sql]
        return [create, *build] if create else build

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "table": self.table,
            "column": self.column,
            "function": self.function or None,
            "name": self.name(),
            "method": "gin",
            "opclass": OPCLASS,
            "sql": self.sql if self.extension.available else None,
            "statements": [s + ";" for s in self.statements()],
            "extension": self.extension.to_dict(),
            "status": self.status,
            "reason": self.reason,
            "measured": self.measured,
            "ambiguous": self.ambiguous,
            "table_bytes": self.table_bytes,
            "estimated_bytes": self.estimated_bytes,
            "writes": self.writes,
            "notes": self.notes,
            "queries": [q.to_dict() for q in self.queries],
            "build_steps": self.build_steps,
        }


def search_statements(searches: Sequence[SearchIndexAdvice]) -> list[str]:
    """The search indexes' SQL (without `;`): CREATE EXTENSION pg_trgm once, first, when it is needed."""
    statements: list[str] = []
    for search in searches:
        statements += [s for s in search.statements() if s not in statements]
    return sorted(statements, key=lambda s: not s.startswith("CREATE EXTENSION"))


def search_index_advice(
    conn: psycopg.Connection,
    queries: Sequence[WorkloadQuery],
    columns: Sequence[QueryColumns],
    tables: dict[str, TableInfo],
    *,
    min_table_bytes: int = SEARCH_MIN_TABLE_BYTES,
    writes: Mapping[str, float] | None = None,
    observed: ObservedConstants | None = None,
) -> tuple[list[SearchIndexAdvice], list[str]]:
    """One trigram index advice per (table, column) the workload searches (queries[n] analysed as
    columns[n]; tables: relation as the queries name it → table), heaviest first, and the notes on the
    searches left out. Left out: columns that are not text / varchar / bpchar, columns a trigram index
    already keys, tables under `min_table_bytes`. `writes`: index entries written per table (schema.table)
    in the workload's window; a table written more often than it is searched gets a note (a GIN index
    makes every write of the column slower, which the advice cannot weigh without a cost). `observed`:
    pg_qualstats' constants, which tell whether a `LIKE $n` sends prefixes or searches."""
    searched = _searches_by_column(queries, columns, tables, observed)
    if not searched:
        return [], []
    extension = trigram_extension(conn)
    found: list[SearchIndexAdvice] = []
    notes: list[str] = []
    texts: dict[int, set[str]] = {}  # table oid → its text columns (one catalog query a table)
    for table, column, function, found_queries in searched:
        if table.oid not in texts:
            texts[table.oid] = text_columns(conn, table.oid)
        if column not in texts[table.oid]:
            notes.append(
                f"{table.qualified_name}.{column} is searched with a pattern, but it is not a text column: "
                "no trigram index advised (index a text expression of it, or search another column)"
            )
            continue
        if (column, function) in trigram_indexed_keys(table):
            continue
        if table.size_bytes < min_table_bytes:
            continue
        advice = SearchIndexAdvice(
            table.schema,
            table.name,
            column,
            sorted(found_queries, key=lambda q: -q.calls),
            extension,
            table_bytes=table.size_bytes,
            partitioned=table.partitioned,
            writes=None if writes is None else float(writes.get(table.qualified_name, 0.0)),
            estimated_bytes=estimated_gin_bytes(table, column),
            function=function,
        )
        advice.notes = _advice_notes(advice)
        found.append(advice)
    found.sort(key=lambda advice: (-sum(q.calls for q in advice.queries), advice.name()))
    if found:
        notes.append(
            "search indexes (pg_trgm GIN) are not costed (HypoPG cannot create GIN indexes) nor counted in "
            "the budget: --verify measures them"
        )
        if not extension.available:
            notes.append(NOT_AVAILABLE_NOTE)
    return found, notes


def _advice_notes(advice: SearchIndexAdvice) -> list[str]:
    """What to know before creating it: larger than its table, served only if the application sends
    wildcards first (`LIKE $n`), on a table written more often than searched."""
    notes: list[str] = []
    if advice.estimated_bytes > advice.table_bytes:
        notes.append(
            f"about {advice.estimated_bytes / 2**20:,.0f} MB (a rough estimate), more than the table "
            f"({advice.table_bytes / 2**20:,.0f} MB): long values make many trigrams; --verify builds it and "
            "reports its real size"
        )
    if any(q.ambiguous for q in advice.queries):
        notes.append(AMBIGUOUS_NOTE)
    if advice.function:
        notes.append(
            f"it serves only searches written on {advice.key}; written as `{advice.column} ILIKE …` (the "
            f"same case-insensitive match), they would share one index on {advice.column} with its other "
            "searches"
        )
    searches = sum(q.calls for q in advice.queries)
    if advice.writes and advice.writes > searches:
        notes.append(
            f"{advice.relation} takes {advice.writes:,.0f} index entries written in the window of these "
            f"{searches:,} searches: a GIN index adds an entry per distinct trigram of {advice.column} to "
            "each (held in its pending list up to gin_pending_list_limit, merged by VACUUM); measure the "
            "writes' latency after creating it"
        )
    return notes


def estimated_gin_bytes(table: TableInfo, column: str) -> int:
    """A rough size of a GIN trigram index on the column: its non-null rows × its average width × the
    bytes a (trigram, row) pair takes (GIN_BYTES_PER_TRIGRAM); 0 when there are no statistics."""
    info = table.columns.get(column)
    if info is None:
        return 0
    return int(max(table.rows, 0) * (1 - info.null_frac) * info.avg_width * GIN_BYTES_PER_TRIGRAM)


def _searches_by_column(
    queries: Sequence[WorkloadQuery],
    columns: Sequence[QueryColumns],
    tables: dict[str, TableInfo],
    observed: ObservedConstants | None,
) -> list[tuple[TableInfo, str, str, list[SearchQuery]]]:
    """(table, column, the function the search applies to it ("" or one of SEARCH_KEY_FUNCTIONS), the
    queries searching it: one entry per query and operator), in workload order. A `LIKE $n` pg_qualstats
    saw is a search only if some pattern it sent starts with a wildcard, and then no longer ambiguous."""
    by_oid: dict[int, TableInfo] = {}
    searched: dict[tuple[int, str, str], dict[tuple[str, str], SearchQuery]] = {}
    for query, used in zip(queries, columns, strict=True):
        for search in used.searches:
            table = tables.get(search.column.relation)
            if table is None or search.column.column not in table.columns:
                continue
            ambiguous = search.ambiguous
            if ambiguous and observed is not None and not search.column.function:
                key = (table.schema, table.name, search.column.column, search.operator)
                sent = observed.patterns(constants_key(query.queryid, query.sql), key)
                if sent and not any(pattern[:1] in ("%", "_") for pattern in sent):
                    continue  # only prefixes: the btree advice serves it
                ambiguous = not sent
            by_oid[table.oid] = table
            key_of = (table.oid, search.column.column, search.column.function)
            entries = searched.setdefault(key_of, {})
            entries.setdefault(
                (query.sql, search.operator),
                SearchQuery(query.sql, query.calls, search.operator, ambiguous, query.queryid),
            )
    return [
        (by_oid[oid], column, function, list(entries.values()))
        for (oid, column, function), entries in searched.items()
    ]
