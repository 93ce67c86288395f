"""An index on a partitioned table without blocking its writes.

PostgreSQL refuses CREATE INDEX CONCURRENTLY on a partitioned table, and a plain CREATE INDEX there holds a
SHARE lock on every partition until the last one is built. The lock-free route (PostgreSQL's manual, "Index
partitioning"): CREATE INDEX ON ONLY the table (an invalid index of the table alone), then on each
partition CREATE INDEX CONCURRENTLY (a sub-partitioned one: ON ONLY again, one level down) and ALTER INDEX
… ATTACH PARTITION it to its parent's index. Once every partition's index is attached, PostgreSQL marks the
table's index valid by itself.

A foreign-table partition cannot be indexed, and its parent's index would then never be complete: such a
tree keeps the one blocking statement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from pgdba.advisor.candidates import Candidate

# Every partition below each partitioned table that is not itself a partition (or below the one table
# %(table)s names), parents before their partitions. pg_inherits, not pg_partition_tree, which takes a lock
# on every partition and would wait behind an ALTER TABLE in flight on one of them.
PARTITIONS_SQL = """
WITH RECURSIVE tree AS (
    SELECT c.oid AS root, i.inhrelid AS relid, i.inhparent AS parent, 1 AS level
      FROM pg_class c
      JOIN pg_inherits i ON i.inhparent = c.oid
     WHERE c.relkind = 'p'
       AND NOT c.relispartition
       AND (%(table)s::text IS NULL OR c.oid = %(table)s::regclass)
    UNION ALL
    SELECT t.root, i.inhrelid, i.inhparent, t.level + 1
      FROM tree t
      JOIN pg_inherits i ON i.inhparent = t.relid
)
SELECT rn.nspname AS root_schema,
       r.relname AS root_name,
       n.nspname AS schema,
       c.relname AS name,
       c.relkind::text AS kind,
       pn.nspname AS parent_schema,
       p.relname AS parent_name
  FROM tree t
  JOIN pg_class r ON r.oid = t.root
  JOIN pg_namespace rn ON rn.oid = r.relnamespace
  JOIN pg_class c ON c.oid = t.relid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_class p ON p.oid = t.parent
  JOIN pg_namespace pn ON pn.oid = p.relnamespace
 ORDER BY rn.nspname, r.relname, t.level, n.nspname, c.relname
"""


@dataclass(frozen=True)
class Partition:
    schema: str
    name: str
    kind: str  # pg_class.relkind: "r" a table, "p" partitioned in turn, "f" a foreign table
    parent_schema: str
    parent_name: str


@dataclass(frozen=True)
class BuildStep:
    """One statement of the lock-free build, and the index it creates (None for an ATTACH)."""

    statement: sql.Composed
    creates: tuple[str, str] | None = None  # (schema, index name)
    concurrently: bool = False


def partition_trees(
    conn: psycopg.Connection, table: tuple[str, str] | None = None
) -> dict[tuple[str, str], list[Partition]]:
    """(schema, name) of each partitioned table (only `table`, when given) → its partitions at every
    level, parents first. Reads the catalog only: no partition is locked."""
    name = None if table is None else sql.Identifier(*table).as_string(conn)
    trees: dict[tuple[str, str], list[Partition]] = {}
    for root_schema, root_name, *partition in conn.execute(PARTITIONS_SQL, {"table": name}).fetchall():
        trees.setdefault((root_schema, root_name), []).append(Partition(*partition))
    return trees


def lock_free_steps(candidate: Candidate, partitions: Sequence[Partition]) -> list[BuildStep] | None:
    """The statements that build `candidate` on its partitioned table, whose partitions (parents first) are
    `partitions`, without blocking writes, in order; None when a partition is a foreign table."""
    if any(p.kind == "f" for p in partitions):
        return None
    index_of: dict[tuple[str, str], Candidate] = {(candidate.schema, candidate.table): candidate}
    steps = [BuildStep(candidate.ddl(concurrently=False, only=True), (candidate.schema, candidate.name()))]
    for p in partitions:
        part = dataclasses.replace(candidate, schema=p.schema, table=p.name, partitioned=p.kind == "p")
        index_of[(p.schema, p.name)] = part
        leaf = p.kind != "p"
        steps.append(BuildStep(part.ddl(concurrently=leaf, only=not leaf), (p.schema, part.name()), leaf))
        parent = index_of[(p.parent_schema, p.parent_name)]
        steps.append(
            BuildStep(
                sql.SQL("ALTER INDEX {}.{} ATTACH PARTITION {}.{}").format(
                    sql.Identifier(parent.schema),
                    sql.Identifier(parent.name()),
                    sql.Identifier(p.schema),
                    sql.Identifier(part.name()),
                )
            )
        )
    return steps


def lock_free_build(conn: psycopg.Connection, candidate: Candidate) -> list[BuildStep] | None:
    """lock_free_steps over the table's partitions as they are now; None for a table that is not
    partitioned, or has a foreign-table partition."""
    if not candidate.partitioned:
        return None
    key = (candidate.schema, candidate.table)
    return lock_free_steps(candidate, partition_trees(conn, key).get(key, []))
