"""What to do about a statement: its issues, an index on the columns its WHERE / JOIN / ORDER BY use (from
PostgreSQL's own parse tree), and VACUUM ANALYZE when the statistics of the tables it reads are stale."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pgdba.advisor.candidates import Candidate, identifier_prefix
from pgdba.advisor.catalog import key_function
from pgdba.advisor.partitioned_build import Buildable, PartitionIndex, inheritance_steps, lock_free_statements
from pgdba.advisor.query_columns import QueryColumns, Role, columns_by_role
from pgdba.advisor.trigram import SearchIndexAdvice, TrigramExtension, is_trigram_opclass
from pgdba.checks.statement_issues import (
    StatementIssue,
    low_cache_hit,
    n_plus_one,
    slow_query,
    unstable_plan,
)
from pgdba.errors import InputError
from pgdba.statement_text import shortened
from pgdba.statement_tree import CATALOG_SCHEMAS, DML_STATEMENTS
from pgdba.stats.indexes import IndexStats
from pgdba.stats.partitions import Partition
from pgdba.stats.statements import StatementStats
from pgdba.stats.tables import TableStats

MAX_INDEX_COLUMNS = 3


def statement_kind(columns: QueryColumns) -> str | None:
    """select / insert / update / delete / merge, or None for utility statements."""
    return DML_STATEMENTS.get(columns.statement)


def is_application_query(columns: QueryColumns | None) -> bool:
    """DML on user tables: not DDL / maintenance, not a bare `SELECT 1`, not a catalog-only query
    (monitoring tools, pgdba itself)."""
    if columns is None:
        return False
    kind = statement_kind(columns)
    if kind is None:
        return False
    if kind != "select":
        return True
    tables = [t for block in columns.blocks for t in block.tables]
    return any(not (t.table.startswith("pg_") or (t.schema or "") in CATALOG_SCHEMAS) for t in tables)


@dataclass(frozen=True)
class Recommendation:
    action: str  # create_index | create_search_index | vacuum_analyze
    description: str
    table: str
    columns: tuple[str, ...] = ()
    sql: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "description": self.description,
            "table": self.table,
            "columns": list(self.columns),
            "sql": self.sql,
        }


@dataclass
class QueryRecommendation:
    stats: StatementStats
    issues: list[StatementIssue]
    recommendations: list[Recommendation] = field(default_factory=list)

    def short_query(self, width: int) -> str:
        return shortened(self.stats.query, width)

    def to_dict(self) -> dict[str, Any]:
        ratio = self.stats.cache_hit_ratio
        return {
            "queryid": str(self.stats.queryid),
            "query": self.stats.query,
            "metrics": {
                "calls": self.stats.calls,
                "meanTime": round(self.stats.mean_ms, 2),
                "totalTime": round(self.stats.total_ms, 2),
                "cacheHitRatio": None if ratio is None else round(ratio, 1),
                "rowsPerCall": round(self.stats.rows_per_call, 2),
                "stddevTime": round(self.stats.stddev_ms, 2),
            },
            "issues": [issue.__dict__ for issue in self.issues],
            "recommendations": [r.to_dict() for r in self.recommendations],
        }


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _unquote(expression: str) -> str:
    if len(expression) >= 2 and expression[0] == expression[-1] == '"':
        return expression[1:-1].replace('""', '"')
    return expression


def _tables_by_name(tables: Sequence[TableStats]) -> dict[str, TableStats]:
    """Tables by the names a query may use: `table` (first schema wins, like public on the search_path)
    and `schema.table`."""
    named: dict[str, TableStats] = {}
    for table in sorted(tables, key=lambda t: t.schema != "public"):
        named.setdefault(table.table, table)
        named[table.qualified_name] = table
    return named


def parse_statement(query: str) -> QueryColumns | None:
    """The statement's columns by role, or None when PostgreSQL's parser rejects the text."""
    try:
        return columns_by_role(query)
    except InputError:
        return None


def is_single_table_key_lookup(columns: QueryColumns) -> bool:
    """One block reading one table, filtered only by equality, no join, grouping or sort."""
    if len(columns.blocks) != 1 or len(columns.blocks[0].tables) != 1:
        return False
    roles = {use.role for use in columns.uses}
    return roles == {Role.EQUALITY} and all(use.conjunctive for use in columns.uses)


def index_candidate(columns: QueryColumns, relation: str) -> tuple[str, ...]:
    """Key columns for one table of the query: equality filters first, then one range filter or the
    ORDER BY columns (a btree serves either after the equalities, not both), then join keys."""
    # (a column used inside lower() / upper() / ::date needs an expression index, a LIKE under most
    # collations a pattern operator class, and a column cast to text an index only if it is text or varchar:
    # the advisor's job, which knows the collation and the types)
    uses = [
        u
        for u in columns.for_table(relation)
        if u.conjunctive and not u.column.function and not u.column.cast and u.operator != "LIKE"
    ]
    equality = [u.column.column for u in uses if u.role is Role.EQUALITY]
    ranges = [u.column.column for u in uses if u.role is Role.RANGE]
    order_by = [u.column.column for u in sorted(uses, key=lambda u: u.position) if u.role is Role.ORDER_BY]
    joins = [u.column.column for u in uses if u.role is Role.JOIN]
    key = list(dict.fromkeys(equality))
    if order_by and not ranges:
        key += [c for c in order_by if c not in key]
    elif ranges:
        key += [c for c in ranges[:1] if c not in key]
    if not key:
        key = list(dict.fromkeys(joins))[:1]
    return tuple(key[:MAX_INDEX_COLUMNS])


def equality_prefix(columns: QueryColumns, relation: str, key: tuple[str, ...]) -> int:
    """How many of the candidate key's leading columns are equality filters (their order is free)."""
    equality = {
        u.column.column for u in columns.for_table(relation) if u.conjunctive and u.role is Role.EQUALITY
    }
    count = 0
    while count < len(key) and key[count] in equality:
        count += 1
    return count


def covered_by_existing(
    table: TableStats, key: tuple[str, ...], indexes: Sequence[IndexStats], *, equalities: int | None = None
) -> bool:
    """An existing valid, non-partial btree leads with the candidate's columns: its first `equalities`
    (default: all) in any order, the range or sort columns after them in the same place. (created_at,
    user_id) does not serve `user_id = $1 AND created_at > $2` the way (user_id, created_at) does."""
    free = len(key) if equalities is None else equalities
    for ix in indexes:
        if ix.schema != table.schema or ix.table != table.table or not ix.is_valid or ix.method != "btree":
            continue
        leading = tuple(_unquote(c) for c in ix.columns[: len(key)])
        if ix.is_partial or len(leading) < len(key):
            continue
        if set(leading[:free]) == set(key[:free]) and leading[free:] == key[free:]:
            return True
    return False


def search_index_hint(
    columns: QueryColumns,
    relation: str,
    table: TableStats,
    indexes: Sequence[IndexStats],
    *,
    min_table_rows: int,
    partitions: Mapping[tuple[str, str], Sequence[Partition]] | None = None,
    partition_indexes: Mapping[tuple[str, str], Sequence[PartitionIndex]] | None = None,
) -> Recommendation | None:
    """A trigram (pg_trgm GIN) index for the first pattern search of the statement on `relation` (the
    table as the statement names it) that no
    btree serves (`title ILIKE $1`, `LIKE '%abc%'`, `~*`; not the ambiguous `LIKE $n`), unless a GIN or
    GiST trigram index already keys that column. The SQL creates pg_trgm first (IF NOT EXISTS); `pgdba
    advise indexes --verify` measures it, which HypoPG cannot. On a partitioned table the SQL builds it
    without blocking writes over its `partitions` (see _lock_free_sql)."""
    if max(table.estimated_rows, table.live_rows) < min_table_rows:
        return None
    trigram_indexed = _trigram_keys(indexes, table)
    for search in columns.searches:
        column, function = search.column.column, search.column.function
        if search.column.relation != relation or search.ambiguous or not search.conjunctive:
            continue
        if (column, function) in trigram_indexed:
            continue
        key = f"{function}({_quote(column)})" if function else _quote(column)
        name = _quote(
            identifier_prefix("_".join(p for p in (table.table, function, column, "trgm_idx") if p))
        )
        searched = f"{function}({column})" if function else column
        create = (
            f"CREATE INDEX CONCURRENTLY {name} ON {_quote(table.schema)}.{_quote(table.table)} "
            f"USING gin ({key} gin_trgm_ops);"
        )
        if table.kind == "partitioned table":
            search_index = SearchIndexAdvice(
                table.schema,
                table.table,
                column,
                [],
                TrigramExtension(available=True),
                function=function,
                partitioned=True,
            )
            create = _lock_free_sql(search_index, partitions, partition_indexes)
        return Recommendation(
            "create_search_index",
            f"Pattern search on {searched} ({search.operator}): no btree serves it, a trigram index does "
            "(`pgdba advise indexes --verify` measures it)",
            table.qualified_name,
            (column,),
            f"CREATE EXTENSION IF NOT EXISTS pg_trgm; {create}",
        )
    return None


def _lock_free_sql(
    index: Buildable,
    partitions: Mapping[tuple[str, str], Sequence[Partition]] | None,
    partition_indexes: Mapping[tuple[str, str], Sequence[PartitionIndex]] | None,
) -> str:
    """The SQL of `index` on its partitioned table: the lock-free build (pgdba.advisor.partitioned_build)
    over the table's `partitions`, one statement a line (PostgreSQL refuses CONCURRENTLY there); the one
    statement that blocks writes where the partitions are unknown or one is a foreign table."""
    steps = lock_free_statements(index, partitions, partition_indexes)
    return index.ddl(concurrently=False).as_string(None) + ";" if steps is None else "\n".join(steps)


def _children_lacking(
    children: Sequence[Partition],
    named: Mapping[str, TableStats],
    key: tuple[str, ...],
    indexes: Sequence[IndexStats],
    equalities: int,
    min_table_rows: int,
) -> list[Partition]:
    """The inheritance children (plain tables) of at least `min_table_rows` rows that no existing index
    serves `key` on."""
    lacking = []
    for child in children:
        stats = named.get(f"{child.schema}.{child.name}")
        if child.kind != "r" or stats is None or max(stats.estimated_rows, stats.live_rows) < min_table_rows:
            continue
        if not covered_by_existing(stats, key, indexes, equalities=equalities):
            lacking.append(child)
    return lacking


def _trigram_keys(indexes: Sequence[IndexStats], table: TableStats) -> set[tuple[str, str]]:
    """(column, function) of each key a valid, full GIN or GiST index of the table has with a trigram
    operator class: `title` → ("title", ""), `lower(title)` → ("title", "lower")."""
    keys: set[tuple[str, str]] = set()
    for index in indexes:
        if (index.schema, index.table) != (table.schema, table.table) or index.method not in ("gin", "gist"):
            continue
        if not index.is_valid or index.is_partial:
            continue
        for text, opclass in zip(index.columns, index.key_opclasses, strict=False):
            if is_trigram_opclass(opclass):
                expression = key_function(text)
                keys.add((expression[1], expression[0]) if expression else (_unquote(text), ""))
    return keys


def stale_statistics(table: TableStats, *, scale_factor: float = 0.1, threshold: int = 50) -> str | None:
    """Why the planner's statistics of a table are stale, or None. The default mirrors autovacuum's analyze
    trigger (threshold + scale_factor × rows)."""
    rows = max(table.estimated_rows, table.live_rows)
    # last_analyze is an activity counter (a reset clears it); statistics in pg_stats mean it was analysed
    if table.last_analyzed is None and table.has_stats is not True and rows > 0:
        return "never analysed"
    if table.modified_since_analyze > threshold + scale_factor * rows:
        return f"{table.modified_since_analyze:,} rows changed since the last ANALYZE"
    if table.dead_rows > 1000 and table.dead_ratio > 0.2:
        return f"{table.dead_ratio:.0%} dead rows"
    return None


def issues_by_numbers(stmt: StatementStats, *, threshold_ms: float, key_lookup: bool) -> list[StatementIssue]:
    """The statement's issues by its counters; `key_lookup`: its text is a single-table lookup by key repeated
    per listed row (an N+1 needs it; True asks whether its numbers alone would make one)."""
    found = [
        slow_query(stmt, threshold_ms=threshold_ms),
        low_cache_hit(stmt),
        n_plus_one(stmt, is_single_table_key_lookup=key_lookup),
        unstable_plan(stmt),
    ]
    return [issue for issue in found if issue is not None]


def analyze_statement(
    stmt: StatementStats,
    tables: Sequence[TableStats],
    indexes: Sequence[IndexStats],
    *,
    threshold_ms: float = 100.0,
    min_table_rows: int = 10_000,
    columns: QueryColumns | None = None,
    repeated_per_listed_row: bool = False,
    partitions: Mapping[tuple[str, str], Sequence[Partition]] | None = None,
    partition_indexes: Mapping[tuple[str, str], Sequence[PartitionIndex]] | None = None,
    inheritance: Mapping[tuple[str, str], Sequence[Partition]] | None = None,
) -> QueryRecommendation | None:
    """The statement's issues and recommendations, or None when it has no issue or is not an application
    query (see is_application_query). `columns`: the statement already parsed, if the caller has it.
    `partitions` (pgdba.stats.partitions.partition_trees) and their indexes (partition_indexes): an index
    on a partitioned table is built over them without blocking writes. `inheritance`
    (pgdba.stats.partitions.inheritance_trees): a table's inheritance children, whose rows a query of it
    reads too; the index is advised on each of them that lacks it.
    `repeated_per_listed_row`: list queries were found whose rows its calls track (see
    pgdba.checks.queries.list_queries_behind); without them a hot key lookup is no N+1."""
    if columns is None:
        columns = parse_statement(stmt.query)
    if columns is None or not is_application_query(columns):
        return None
    kind = statement_kind(columns)
    # an N+1 is a read per listed row; a loop of single-row writes is a different problem
    key_lookup = kind == "select" and repeated_per_listed_row and is_single_table_key_lookup(columns)
    issues = issues_by_numbers(stmt, threshold_ms=threshold_ms, key_lookup=key_lookup)
    if not issues:
        return None
    result = QueryRecommendation(stmt, issues)
    named = _tables_by_name(tables)
    for relation in columns.tables:
        table = named.get(relation)
        if table is None:
            continue
        key = index_candidate(columns, relation)
        rows = max(table.estimated_rows, table.live_rows)
        equalities = equality_prefix(columns, relation, key)
        children = (inheritance or {}).get((table.schema, table.table), [])
        if key and children:
            lacking = _children_lacking(children, named, key, indexes, equalities, min_table_rows)
            served = covered_by_existing(table, key, indexes, equalities=equalities)
            if lacking or (rows >= min_table_rows and not served):
                candidate = Candidate(table.schema, table.table, key, inherited=True)
                steps = inheritance_steps(candidate, lacking)[1 if served else 0 :]  # (the table's own first)
                result.recommendations.append(
                    Recommendation(
                        "create_index",
                        f"Consider index on: {', '.join(key)} (on the table and its inheritance children)",
                        table.qualified_name,
                        key,
                        "\n".join(step.statement.as_string(None) + ";" for step in steps),
                    )
                )
        elif (
            key
            and rows >= min_table_rows
            and not covered_by_existing(table, key, indexes, equalities=equalities)
        ):
            cols = ", ".join(_quote(c) for c in key)
            name = _quote(identifier_prefix(f"{table.table}_{'_'.join(key)}_idx"))
            create = (
                f"CREATE INDEX CONCURRENTLY {name} ON {_quote(table.schema)}.{_quote(table.table)} ({cols});"
            )
            if table.kind == "partitioned table":
                candidate = Candidate(table.schema, table.table, key, partitioned=True)
                create = _lock_free_sql(candidate, partitions, partition_indexes)
            result.recommendations.append(
                Recommendation(
                    "create_index", f"Consider index on: {', '.join(key)}", table.qualified_name, key, create
                )
            )
        search = search_index_hint(
            columns,
            relation,
            table,
            indexes,
            min_table_rows=min_table_rows,
            partitions=partitions,
            partition_indexes=partition_indexes,
        )
        if search is not None:
            result.recommendations.append(search)
        reason = stale_statistics(table)
        if reason:
            result.recommendations.append(
                Recommendation(
                    "vacuum_analyze",
                    f"Statistics of {table.qualified_name} are stale ({reason}): run VACUUM (ANALYZE)",
                    table.qualified_name,
                    sql=f"VACUUM (ANALYZE) {_quote(table.schema)}.{_quote(table.table)};",
                )
            )
    return result
