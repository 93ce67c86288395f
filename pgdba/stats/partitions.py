"""Partitions read lock-free: a partitioned table's leaf partitions (it has no storage of its own, so its rows
and sizes are its leaves'), every partition of a partitioned table with the table it belongs to, and the
inheritance children of a plain table (legacy partitioning) the same way."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

# TimescaleDB's chunks: pg_class OIDs (none where TimescaleDB is not installed)
TIMESCALE_CHUNKS_SQL = """SELECT k.oid FROM pg_class k JOIN pg_namespace kn ON kn.oid = k.relnamespace
     WHERE kn.nspname = '_timescaledb_internal'"""


def leaf_partitions(parent: str) -> str:
    """SQL: a subquery of the pg_class rows of the leaf partitions, at every level, of the partitioned table
    whose OID is the SQL expression `parent` (none for another relation). Read through pg_inherits:
    pg_partition_tree() locks every partition, and would wait behind another session's DDL on one."""
    return f"""(WITH RECURSIVE tree(relid) AS (
                SELECT h.inhrelid FROM pg_inherits AS h WHERE h.inhparent = {parent}
                UNION ALL
                SELECT h.inhrelid FROM pg_inherits AS h JOIN tree ON h.inhparent = tree.relid
            )
            SELECT leaf.*
              FROM tree
              JOIN pg_class AS leaf ON leaf.oid = tree.relid
             WHERE leaf.relkind <> 'p')"""


# Every partition below each partitioned table that is not itself a partition (or below the one table
# %(table)s names), parents before their partitions. pg_inherits, not pg_partition_tree, which takes a lock
# on every partition and would wait behind an ALTER TABLE in flight on one of them. {roots}: which tables
# the trees start from; {children}: which of their children count.
_TREES_SQL = """
WITH RECURSIVE tree AS (
    SELECT c.oid AS root, i.inhrelid AS relid, i.inhparent AS parent, 1 AS level
      FROM pg_class c
      JOIN pg_inherits i ON i.inhparent = c.oid
     WHERE {roots}
       AND NOT c.relispartition
       AND (%(table)s::text IS NULL OR c.oid = %(table)s::regclass)
       AND {children}
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
PARTITIONS_SQL = _TREES_SQL.format(roots="c.relkind = 'p'", children="true")
# Table inheritance (legacy partitioning): a plain table's children at every level, from each table that
# inherits from none (or from the one table %(table)s names). TimescaleDB's chunks inherit from their
# hypertable, and TimescaleDB builds a hypertable's indexes on them itself: they are not counted.
INHERITANCE_SQL = _TREES_SQL.format(
    roots="""c.relkind = 'r'
       AND (%(table)s::text IS NOT NULL OR NOT EXISTS (SELECT FROM pg_inherits h WHERE h.inhrelid = c.oid))""",
    children=f"i.inhrelid NOT IN ({TIMESCALE_CHUNKS_SQL})",
)


@dataclass(frozen=True)
class Partition:
    """A partition of a partitioned table, at any level, and the table it is a partition of (or, from
    inheritance_trees, an inheritance child and the table it inherits from)."""

    schema: str
    name: str
    kind: str  # pg_class.relkind: "r" a table, "p" partitioned in turn, "f" a foreign table
    parent_schema: str
    parent_name: str


def partition_trees(
    conn: psycopg.Connection, table: tuple[str, str] | None = None
) -> dict[tuple[str, str], list[Partition]]:
    """(schema, name) of each partitioned table (only `table`, when given) → its partitions at every
    level, parents first. Reads the catalog only: no partition is locked."""
    return _trees(conn, PARTITIONS_SQL, table)


def inheritance_trees(
    conn: psycopg.Connection, table: tuple[str, str] | None = None
) -> dict[tuple[str, str], list[Partition]]:
    """(schema, name) of each plain table with inheritance children that inherits from none (only `table`,
    when given) → its children at every level, parents first, as Partitions. Reads the catalog only."""
    return _trees(conn, INHERITANCE_SQL, table)


def _trees(
    conn: psycopg.Connection, query: str, table: tuple[str, str] | None
) -> dict[tuple[str, str], list[Partition]]:
    name = None if table is None else sql.Identifier(*table).as_string(conn)
    trees: dict[tuple[str, str], list[Partition]] = {}
    for root_schema, root_name, *partition in conn.execute(query, {"table": name}).fetchall():
        trees.setdefault((root_schema, root_name), []).append(Partition(*partition))
    return trees
