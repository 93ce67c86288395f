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
from dataclasses import dataclass

import psycopg
from psycopg import sql

from pgdba.advisor.candidates import Candidate

# Every partition below the table, parents before their partitions (pg_partition_tree's level).
PARTITIONS_SQL = """
SELECT n.nspname AS schema,
       c.relname AS name,
       c.relkind::text AS kind,
       pn.nspname AS parent_schema,
       p.relname AS parent_name
  FROM pg_partition_tree(%(table)s::regclass) t
  JOIN pg_class c ON c.oid = t.relid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_class p ON p.oid = t.parentrelid
  JOIN pg_namespace pn ON pn.oid = p.relnamespace
 WHERE t.level > 0
 ORDER BY t.level, n.nspname, c.relname
"""


@dataclass(frozen=True)
class BuildStep:
    """One statement of the lock-free build, and the index it creates (None for an ATTACH)."""

    statement: sql.Composed
    creates: tuple[str, str] | None = None  # (schema, index name)
    concurrently: bool = False


def lock_free_build(conn: psycopg.Connection, candidate: Candidate) -> list[BuildStep] | None:
    """The statements that build `candidate` on its partitioned table without blocking writes, in order;
    None when the table is not partitioned or a partition is a foreign table."""
    if not candidate.partitioned:
        return None
    table = sql.SQL("{}.{}").format(sql.Identifier(candidate.schema), sql.Identifier(candidate.table))
    rows = conn.execute(PARTITIONS_SQL, {"table": table.as_string(conn)}).fetchall()
    if any(kind == "f" for _schema, _name, kind, _ps, _pn in rows):
        return None
    index_of: dict[tuple[str, str], Candidate] = {(candidate.schema, candidate.table): candidate}
    steps = [BuildStep(candidate.ddl(concurrently=False, only=True), (candidate.schema, candidate.name()))]
    for schema, name, kind, parent_schema, parent_name in rows:
        part = dataclasses.replace(candidate, schema=schema, table=name, partitioned=kind == "p")
        index_of[(schema, name)] = part
        leaf = kind != "p"
        steps.append(
            BuildStep(
                part.ddl(concurrently=leaf, only=not leaf),
                (schema, part.name()),
                concurrently=leaf,
            )
        )
        parent = index_of[(parent_schema, parent_name)]
        steps.append(
            BuildStep(
                sql.SQL("ALTER INDEX {}.{} ATTACH PARTITION {}.{}").format(
                    sql.Identifier(parent.schema),
                    sql.Identifier(parent.name()),
                    sql.Identifier(schema),
                    sql.Identifier(part.name()),
                )
            )
        )
    return steps
