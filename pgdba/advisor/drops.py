"""Indexes to drop: never scanned, or a left prefix of another index — never unique, PK or constraint ones."""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass

from psycopg import sql

from pgdba.advisor.catalog import ExistingIndex, TableInfo
from pgdba.stats.indexes import kept_of_twins, may_cover, same_key_order


@dataclass(frozen=True)
class DropAdvice:
    """An existing index the workload does not need, and what dropping it saves."""

    index: ExistingIndex
    reason: str  # "unused" or "redundant"
    detail: str
    writes_saved: int  # index entries written since the statistics reset

    def ddl(self) -> sql.Composed:
        # PostgreSQL refuses CONCURRENTLY for an index on a partitioned table: it goes whole, with its parts
        drop = (
            "DROP INDEX IF EXISTS {}.{}"
            if self.index.partitioned
            else "DROP INDEX CONCURRENTLY IF EXISTS {}.{}"
        )
        return sql.SQL(drop).format(sql.Identifier(self.index.schema), sql.Identifier(self.index.name))

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.index.qualified_name,
            "table": f"{self.index.schema}.{self.index.table}",
            "reason": self.reason,
            "detail": self.detail,
            "size_bytes": self.index.size_bytes,
            "scans": self.index.scans,
            "writes_saved": self.writes_saved,
            "sql": self.ddl().as_string(None),
        }


@dataclass
class Drops:
    """Indexes to drop, and the unscanned ones too young to call unused (created after the judging window
    began: their counters started at zero then)."""

    advice: list[DropAdvice]
    not_judged: list[ExistingIndex]


def indexes_to_drop(
    tables: Iterable[TableInfo],
    used_by_workload: set[str],
    *,
    judge_unused: bool = True,
    min_size_bytes: int = 0,
    young: frozenset[int] = frozenset(),
) -> Drops:
    """Unused (zero scans, not serving a foreign key) and redundant (its key columns lead another btree,
    which holds its INCLUDE columns too) indexes. One in the workload's plans is neither, unless another is
    identical to it (nothing costs the plans without it). An index on a partitioned table is judged whole:
    its parts' scans summed, in the workload's plans when any part is.

    judge_unused: False on a replica or when statistics are too young — then only redundancy is reported.
    used_by_workload: index names that appear in the workload's current plans.
    young: OIDs of indexes created after the judging window began: not called unused (redundancy still is).
    """
    advice: list[DropAdvice] = []
    not_judged: list[ExistingIndex] = []
    for table in tables:
        dropped: set[str] = set()
        # widest first, so a narrower index is never called redundant because of one that goes too
        for index in sorted(table.indexes, key=lambda i: (-len(i.columns), -len(i.include_columns), i.name)):
            if index.protected or not index.is_valid or index.size_bytes < min_size_bytes:
                continue
            if index.attached_to is not None:
                continue  # a partition's part of a partitioned index: DROP INDEX refuses it alone
            kept = [other for other in table.indexes if other.name not in dropped]
            # in the workload's plans, only an identical cover gives the same plans without it: nothing costs
            # them otherwise, and a wider cover may plan worse (its key reads more pages; the one it replaces
            # may have served an index-only scan)
            in_plans = _in_plans(index, used_by_workload)
            cover = _covering_index(index, kept, identical_only=in_plans)
            if cover is None and in_plans:
                continue
            if cover is None and index.serves_foreign_key:
                continue  # unscanned, but deletes on the referenced table need it for the FK check
            if cover is not None:
                advice.append(DropAdvice(index, "redundant", f"its columns lead {cover.name}", table.writes))
                dropped.add(index.name)
            elif judge_unused and index.scans == 0 and index.oid in young:
                not_judged.append(index)
            elif judge_unused and index.scans == 0:
                advice.append(DropAdvice(index, "unused", _unused_detail(index), table.writes))
                dropped.add(index.name)
    return Drops(sorted(advice, key=lambda a: -a.index.size_bytes), not_judged)


def _unused_detail(index: ExistingIndex) -> str:
    if not index.partitioned:
        return "no scans since the statistics reset"
    return (
        f"no scans on any of its {len(index.part_names)} partitions since the statistics reset; the DROP "
        "locks the table and its partitions (no CONCURRENTLY on a partitioned table)"
    )


def _in_plans(index: ExistingIndex, used_by_workload: Set[str]) -> bool:
    """The workload's plans use it (a partitioned index's plans name its partitions' parts)."""
    return not used_by_workload.isdisjoint((index.name, *index.part_names))


def _covering_index(
    index: ExistingIndex,
    others: list[ExistingIndex],
    *,
    identical_only: bool = False,
) -> ExistingIndex | None:
    """Another valid btree on the same table whose leading columns are all of this index's key columns, with
    the same operator classes and collations, in the same order (or its exact reverse, scanned backward), and
    that holds its INCLUDE columns among its own keys or INCLUDE columns. Of two identical ones (the same
    keys and INCLUDE columns) the one kept is a protected one, else the one scanned more, else the first by
    name (kept_of_twins): the plans use the one kept as they used the other. An unscanned index covers none
    in use (may_cover). identical_only: only an identical one covers it."""
    if index.access_method != "btree" or index.is_partial or "" in index.columns:
        return None
    for other in others:
        if (
            other.name == index.name
            or other.access_method != "btree"
            or not other.is_valid
            or other.is_partial
        ):
            continue
        n = len(index.columns)
        leads = (
            other.columns[:n] == index.columns
            and other.key_opclasses[:n] == index.key_opclasses
            and same_key_order(index.key_options, other.key_options[:n])
        )
        holds_included = set(index.include_columns) <= {*other.columns, *other.include_columns}
        if not (leads and holds_included) or not may_cover(other, index.scans):
            continue
        identical = other.columns == index.columns and set(other.include_columns) == set(
            index.include_columns
        )
        if identical_only and not identical:
            continue
        # of two identical unprotected indexes the one kept_of_twins keeps, as the check-up keeps it: the
        # two never advise dropping both
        if (
            not identical
            or other.protected
            or kept_of_twins(other.scans, other.name, index.scans, index.name)
        ):
            return other
    return None
