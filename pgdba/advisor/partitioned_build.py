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
from pgdba.stats.partitions import Partition, partition_trees


@dataclass(frozen=True)
class BuildStep:
    """One statement of the lock-free build, and the index it creates (None for an ATTACH)."""

    statement: sql.Composed
    creates: tuple[str, str] | None = None  # (schema, index name)
    concurrently: bool = False


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
