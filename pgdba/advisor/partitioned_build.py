"""An index on a partitioned table without blocking its writes.

PostgreSQL refuses CREATE INDEX CONCURRENTLY on a partitioned table, and a plain CREATE INDEX there holds a
SHARE lock on every partition until the last one is built. The lock-free route (PostgreSQL's manual, "Index
partitioning"): CREATE INDEX ON ONLY the table (an invalid index of the table alone), then on each
partition CREATE INDEX CONCURRENTLY (a sub-partitioned one: ON ONLY again, one level down) and ALTER INDEX
… ATTACH PARTITION it to its parent's index. Once every partition's index is attached, PostgreSQL marks the
table's index valid by itself.

A partition that already has an index of the same definition, attached to no other, gets that one attached
instead of a second built beside it: what a plain CREATE INDEX on the table does too. Those ATTACHes come
last: PostgreSQL has no DETACH of an index, so once one is attached, dropping the table's index would drop
the partition's own index with it (pgdba.advisor.apply never does that).

The same route serves a btree candidate (pgdba.advisor.candidates) and a trigram search index
(pgdba.advisor.trigram).

A foreign-table partition cannot be indexed, and its parent's index would then never be complete: such a
tree keeps the one blocking statement.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pgdba.advisor.candidates import IDENTIFIER_MAX, Candidate, identifier_prefix
from pgdba.advisor.catalog import key_function
from pgdba.advisor.query_columns import CAST_KEY_FUNCTIONS
from pgdba.advisor.trigram import OPCLASS, SearchIndexAdvice
from pgdba.stats.indexes import INCLUDE_COLUMNS_SQL, KEY_COLUMNS_SQL, KEY_DEFINITIONS_SQL
from pgdba.stats.locks import BLOCKED_RELATIONS
from pgdba.stats.partitions import Partition, inheritance_trees, partition_trees


@dataclass(frozen=True)
class BuildStep:
    """One statement of the lock-free build, and the index it creates (None for an ATTACH)."""

    statement: sql.Composed
    creates: tuple[str, str] | None = None  # (schema, index name)
    concurrently: bool = False
    # (schema, index name) of the index a partition had before the build, which this ATTACH attaches
    attaches_existing: tuple[str, str] | None = None


# what lock_free_steps builds: an advised btree index or a trigram search index
Buildable = Candidate | SearchIndexAdvice


@dataclass(frozen=True)
class PartitionIndex:
    """A valid, non-unique btree or GIN index of a partition: one that may be attached to the table's index
    instead of building another, when it is attached to no index yet (or already to that one: a build run
    again)."""

    schema: str
    table: str
    name: str
    columns: tuple[str, ...]  # "" for an expression key
    key_definitions: tuple[str, ...]  # each key as pg_get_indexdef prints it alone
    include: tuple[str, ...]
    definition: str  # pg_get_indexdef: operator classes, collations and orders only where not the default
    partial: bool
    attached_to: tuple[str, str] | None = None  # (schema, name) of the index it is attached to

    def matches(self, candidate: Candidate) -> bool:
        """Is this the index CREATE INDEX would build for `candidate` on the partition (PostgreSQL attaches
        only an index of the same definition)? Its keys are the candidate's columns and expressions, each
        with the operator class, collation and order CREATE INDEX gives it unasked (pg_get_indexdef prints
        no other), its INCLUDE columns the same; a partial index never (its predicate would have to be the
        same expression, not merely the same meaning)."""
        if self.partial or candidate.is_partial or self.include != candidate.include:
            return False
        if len(self.columns) != len(candidate.columns):
            return False
        printed = []
        for column, existing, key in zip(candidate.columns, self.columns, self.key_definitions, strict=True):
            function = candidate.function(column)
            if (key_function(key) != (function, column)) if function else existing != column:
                return False
            text = f"({key})" if function in CAST_KEY_FUNCTIONS else key  # a cast is printed in parentheses
            printed.append(f"{text} {candidate.opclass(column)}" if candidate.opclass(column) else text)
        whole = f" USING btree ({', '.join(printed)})"
        return self.definition.endswith(whole) or f"{whole} " in self.definition

    def serves_search(self, search: SearchIndexAdvice) -> bool:
        """Is this the trigram index `search` builds on the partition: GIN, one key, the searched column (or
        the same function of it) with gin_trgm_ops (wherever pg_trgm is installed), nothing else?"""
        if self.partial or self.include or len(self.key_definitions) != 1:
            return False
        key = self.key_definitions[0]
        if (
            (key_function(key) != (search.function, search.column))
            if search.function
            else (self.columns != (search.column,))
        ):
            return False
        whole = re.compile(rf" USING gin \({re.escape(key)} (?:\S+\.)?{OPCLASS}\)(?: |$)")
        return whole.search(self.definition) is not None

    def builds(self, index: Buildable) -> bool:
        """Is this the index lock_free_steps would build for `index` on the partition?"""
        return self.serves_search(index) if isinstance(index, SearchIndexAdvice) else self.matches(index)


# The indexes of the partitions named by %(schemas)s / %(names)s (NULL: of every partition) that may be
# attached to a partitioned table's index: valid btree or GIN, not unique, no exclusion constraint; and the
# index each is attached to. Not those of a partition another session holds or waits for an ACCESS
# EXCLUSIVE lock on (DDL in flight): pg_get_indexdef would wait for it.
PARTITION_INDEXES_SQL = f"""
WITH blocked AS ({BLOCKED_RELATIONS})
SELECT n.nspname AS schema,
       t.relname AS table_name,
       ic.relname AS name,
       {KEY_COLUMNS_SQL} AS columns,
       {KEY_DEFINITIONS_SQL} AS key_definitions,
       {INCLUDE_COLUMNS_SQL} AS include,
       pg_get_indexdef(i.indexrelid) AS definition,
       i.indpred IS NOT NULL AS partial,
       pn.nspname AS attached_schema,
       pc.relname AS attached_name
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_am am ON am.oid = ic.relam
  LEFT JOIN pg_inherits h ON h.inhrelid = i.indexrelid
  LEFT JOIN pg_class pc ON pc.oid = h.inhparent
  LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
 WHERE CASE WHEN %(schemas)s::text[] IS NULL THEN t.relispartition
            ELSE (n.nspname, t.relname) IN (SELECT * FROM unnest(%(schemas)s::text[], %(names)s::text[]))
       END
   AND am.amname IN ('btree', 'gin')
   AND i.indisvalid
   AND NOT i.indisunique
   AND NOT i.indisexclusion
   AND i.indrelid NOT IN (SELECT relation FROM blocked)
   AND i.indexrelid NOT IN (SELECT relation FROM blocked)
 ORDER BY n.nspname, t.relname, ic.relname
"""


def partition_indexes(
    conn: psycopg.Connection, partitions: Sequence[Partition] | None = None
) -> dict[tuple[str, str], list[PartitionIndex]]:
    """(schema, name) of each of `partitions` (None: of every partition of the database) → its indexes that
    may be attached to its table's index (none of a partition locked by DDL in flight: a build there waits
    for that lock anyway)."""
    params = {
        "schemas": None if partitions is None else [p.schema for p in partitions],
        "names": None if partitions is None else [p.name for p in partitions],
    }
    found: dict[tuple[str, str], list[PartitionIndex]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(PARTITION_INDEXES_SQL, params).fetchall():
            found.setdefault((row["schema"], row["table_name"]), []).append(
                PartitionIndex(
                    schema=row["schema"],
                    table=row["table_name"],
                    name=row["name"],
                    columns=tuple(row["columns"]),
                    key_definitions=tuple(row["key_definitions"]),
                    include=tuple(row["include"]),
                    definition=row["definition"],
                    partial=row["partial"],
                    attached_to=None
                    if row["attached_name"] is None
                    else (row["attached_schema"], row["attached_name"]),
                )
            )
    return found


def lock_free_steps(
    candidate: Buildable,
    partitions: Sequence[Partition],
    existing: Mapping[tuple[str, str], Sequence[PartitionIndex]] | None = None,
) -> list[BuildStep] | None:
    """The statements that build `candidate` on its partitioned table, whose partitions (parents first) are
    `partitions`, without blocking writes, in order; None when a partition is a foreign table. A partition
    with an index of `existing` (partition_indexes) that matches, attached to no index or to this one's
    parent index already, gets it attached, last (again: PostgreSQL does nothing then), and a partition of
    it nothing more (a valid partitioned index covers its own partitions)."""
    if any(p.kind == "f" for p in partitions):
        return None
    index_of: dict[tuple[str, str], Buildable] = {(candidate.schema, candidate.table): candidate}
    steps = [BuildStep(candidate.ddl(concurrently=False, only=True), (candidate.schema, candidate.name()))]
    reused: list[BuildStep] = []
    covered: set[tuple[str, str]] = set()  # partitions an attached existing index covers
    for p in partitions:
        if (p.parent_schema, p.parent_name) in covered:
            covered.add((p.schema, p.name))
            continue
        parent = index_of[(p.parent_schema, p.parent_name)]
        own = next(
            (
                ix
                for ix in (existing or {}).get((p.schema, p.name), ())
                if ix.attached_to in (None, (parent.schema, parent.name())) and ix.builds(candidate)
            ),
            None,
        )
        if own is not None:
            covered.add((p.schema, p.name))
            reused.append(
                BuildStep(_attach(parent, p.schema, own.name), attaches_existing=(p.schema, own.name))
            )
            continue
        part = dataclasses.replace(candidate, schema=p.schema, table=p.name, partitioned=p.kind == "p")
        index_of[(p.schema, p.name)] = part
        leaf = p.kind != "p"
        steps.append(BuildStep(part.ddl(concurrently=leaf, only=not leaf), (p.schema, part.name()), leaf))
        steps.append(BuildStep(_attach(parent, p.schema, part.name())))
    return steps + reused


def _attach(parent: Buildable, schema: str, index: str) -> sql.Composed:
    return sql.SQL("ALTER INDEX {}.{} ATTACH PARTITION {}.{}").format(
        sql.Identifier(parent.schema),
        sql.Identifier(parent.name()),
        sql.Identifier(schema),
        sql.Identifier(index),
    )


PartitionLayout = tuple[list[Partition], dict[tuple[str, str], list[PartitionIndex]]]


def partition_layout(conn: psycopg.Connection, schema: str, table: str) -> PartitionLayout:
    """The partitioned table's partitions (parents first) and their indexes, as they are now: what
    lock_free_steps builds over."""
    key = (schema, table)
    partitions = partition_trees(conn, key).get(key, [])
    return partitions, partition_indexes(conn, partitions)


def inheritance_layout(conn: psycopg.Connection, schema: str, table: str) -> PartitionLayout:
    """The table's inheritance children (every level, parents first) and their indexes and its own, as they
    are now: what inheritance_steps builds over."""
    children = inheritance_trees(conn, (schema, table)).get((schema, table), [])
    itself = Partition(schema, table, "r", schema, table)
    return children, partition_indexes(conn, [itself, *children])


def inheritance_steps(
    candidate: Candidate,
    children: Sequence[Partition],
    existing: Mapping[tuple[str, str], Sequence[PartitionIndex]] | None = None,
) -> list[BuildStep]:
    """The statements that build `candidate` on its table and on each of its inheritance children (a query of
    the table scans them too; an index on it covers its own rows only): CREATE INDEX CONCURRENTLY on each,
    the table's first. The table or a child that has an index of the same definition already (`existing`:
    partition_indexes) keeps it; a foreign-table child has none."""
    steps = []
    for schema, table, kind in [
        (candidate.schema, candidate.table, "r"),
        *((c.schema, c.name, c.kind) for c in children),
    ]:
        if kind != "r" or any(ix.matches(candidate) for ix in (existing or {}).get((schema, table), ())):
            continue
        own = dataclasses.replace(candidate, schema=schema, table=table)
        steps.append(BuildStep(own.ddl(concurrently=True), (schema, own.name()), True))
    return steps


def lock_free_build(conn: psycopg.Connection, candidate: Buildable) -> list[BuildStep] | None:
    """lock_free_steps over the table's partitions and their indexes as they are now (inheritance_steps over
    its inheritance children, on a table that has them); None for a table that is neither, or has a
    foreign-table partition."""
    if isinstance(candidate, Candidate) and candidate.inherited:
        return inheritance_steps(candidate, *inheritance_layout(conn, candidate.schema, candidate.table))
    if not candidate.partitioned:
        return None
    return lock_free_steps(candidate, *partition_layout(conn, candidate.schema, candidate.table))


def lock_free_statements(
    index: Buildable,
    partitions: Mapping[tuple[str, str], Sequence[Partition]] | None,
    existing: Mapping[tuple[str, str], Sequence[PartitionIndex]] | None,
) -> list[str] | None:
    """lock_free_steps of `index` over its table's partitions read beforehand (`partitions`: partition_trees,
    `existing`: partition_indexes), as statements ending in `;`; None when they are unknown or one is a
    foreign table (the one blocking statement is left)."""
    tree = (partitions or {}).get((index.schema, index.table))
    steps = lock_free_steps(index, tree, existing) if tree else None
    return None if steps is None else [step.statement.as_string(None) + ";" for step in steps]


def partition_index_name(
    index: str, table: str, schema: str, partition: str, taken: set[tuple[str, str]]
) -> str:
    """The name of the index `index` of `table` on its partition `schema`.`partition`: the partition's name in
    front of the rest in place of the table's (`event_kind_idx` → `event_2027_kind_idx`), none of `taken`
    ((schema, name) pairs), at most 63 bytes."""
    rest = index[len(table) :] if index.startswith(f"{table}_") else f"_{index}"
    name = identifier_prefix(f"{partition}{rest}")
    number = 0
    while (schema, name) in taken:
        number += 1
        name = identifier_prefix(f"{partition}{rest}", IDENTIFIER_MAX - len(str(number))) + str(number)
    return name
