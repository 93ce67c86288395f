"""Index checks as Findings: unused, duplicate and redundant, invalid, missing FK indexes, bloat, hit rate."""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence

from pgdba.advisor.candidates import Candidate, identifier_prefix, partitioned_build_note
from pgdba.advisor.partitioned_build import PartitionIndex, lock_free_statements, partition_index_name
from pgdba.checks.indexes import StatsAge, unused_indexes
from pgdba.findings import Finding, Severity
from pgdba.sql_text import identifier, qualified, unquoted
from pgdba.stats.bloat import BloatEstimate
from pgdba.stats.database import DatabaseStats
from pgdba.stats.foreign_keys import ForeignKey
from pgdba.stats.indexes import IndexStats, kept_of_twins, may_cover, same_key_order
from pgdba.stats.partitions import Partition
from pgdba.units import format_bytes


def _drop(ix: IndexStats) -> str:
    return ix.drop_sql


def unused_index_findings(
    indexes: Sequence[IndexStats], stats_age: StatsAge, *, max_scans: int = 0, min_size_bytes: int = 1024**2
) -> list[Finding]:
    """Indexes scanned at most `max_scans` times since the stats reset and at least `min_size_bytes`
    (1 MB) large; never unique / primary-key / constraint indexes. One serving a foreign key is reported
    as kept (info, no DROP). Nothing while the statistics are too young to judge (the check-up names that
    as skipped)."""
    if stats_age.too_young:
        return []
    return [
        _kept_for_foreign_key(ix) if ix.serves_foreign_key else _unused(ix)
        for ix in unused_indexes(indexes, max_scans=max_scans, min_size_bytes=min_size_bytes)
    ]


def _unused(ix: IndexStats) -> Finding:
    return Finding(
        "index.unused",
        Severity.WARNING,
        f"Unused index ({ix.scans} scans, {format_bytes(ix.size_bytes)})",
        ix.qualified_name,
        {"scans": ix.scans, "size_bytes": ix.size_bytes, "table": ix.qualified_table},
        "Drop it after checking replicas and periodic jobs (its writes cost on every INSERT/UPDATE)",
        _drop(ix),
    )


def _kept_for_foreign_key(ix: IndexStats) -> Finding:
    """Unscanned, but not a drop candidate: without it the missing-FK check fires."""
    return Finding(
        "index.unused",
        Severity.INFO,
        f"Unused index kept: it serves foreign key {ix.serves_foreign_key} ({ix.scans} scans, "
        f"{format_bytes(ix.size_bytes)})",
        ix.qualified_name,
        {
            "scans": ix.scans,
            "size_bytes": ix.size_bytes,
            "table": ix.qualified_table,
            "serves_foreign_key": ix.serves_foreign_key,
        },
        f"Keep it: without it every DELETE or key UPDATE on the referenced table scans {ix.qualified_table} "
        f"to check {ix.serves_foreign_key}",
    )


def _predicate(ix: IndexStats) -> str:
    _, _, where = ix.definition.partition(" WHERE ")
    return where


def duplicate_indexes(indexes: Sequence[IndexStats]) -> list[Finding]:
    """Index pairs on one table with the same method and predicate where one's key columns, with their
    operator classes, collations and sort order (or its exact reverse), equal (duplicate) or lead (redundant)
    the other's, which holds its INCLUDE columns too (among its keys or its own INCLUDE columns: an
    index-only scan needs them). The one to drop is never unique, primary-key, constraint-backing or a
    partition's part of a partitioned index; a unique index covering a prefix is kept (it enforces
    something); of two plain duplicates the one scanned more is kept, else the first by name
    (kept_of_twins, as the advisor keeps it); an unscanned index stands in for none in use (may_cover)."""
    groups: dict[tuple[str, str, str, str], list[IndexStats]] = defaultdict(list)
    for ix in indexes:
        if ix.is_valid:
            groups[(ix.schema, ix.table, ix.method, _predicate(ix))].append(ix)
    found: list[Finding] = []
    reported: set[str] = set()
    for members in groups.values():
        for ix in sorted(members, key=lambda i: (len(i.columns), len(i.include_columns), i.index)):
            if ix.protected or ix.index in reported:
                continue
            for other in members:
                if other is ix or other.index in reported:
                    continue
                n = len(ix.columns)
                leads = (
                    other.columns[:n] == ix.columns
                    and other.key_opclasses[:n] == ix.key_opclasses
                    and _same_order(ix, other, n)
                )
                same = (
                    leads
                    and len(other.columns) == n
                    and set(other.include_columns) == set(ix.include_columns)
                )
                prefix = (
                    ix.method == "btree"
                    and leads
                    and not same
                    and set(ix.include_columns) <= {*other.columns, *other.include_columns}
                )
                if (
                    same
                    and not other.protected
                    and kept_of_twins(ix.scans, ix.index, other.scans, other.index)
                ):
                    continue  # of two plain duplicates, report the one kept_of_twins drops
                if not (same or prefix) or not may_cover(other, ix.scans):
                    continue
                code = "index.duplicate" if same else "index.redundant"
                found.append(
                    Finding(
                        code,
                        Severity.WARNING,
                        f"{'Duplicate of' if same else 'Covered by'} {other.index} "
                        f"({format_bytes(ix.size_bytes)})",
                        ix.qualified_name,
                        {
                            "columns": list(ix.columns),
                            "covered_by": other.qualified_name,
                            "covered_by_columns": list(other.columns),
                            "size_bytes": ix.size_bytes,
                            "scans": ix.scans,
                        },
                        f"{other.index} serves every query this index serves; drop this one",
                        _drop(ix),
                    )
                )
                reported.add(ix.index)
                break
    return found


def _same_order(ix: IndexStats, other: IndexStats, n: int) -> bool:
    """`other`'s first n keys return rows in ix's order (or its exact reverse); a non-btree has no order."""
    return ix.method != "btree" or same_key_order(ix.key_options, other.key_options[:n])


def invalid_indexes(
    indexes: Sequence[IndexStats], partitions: Mapping[tuple[str, str], Sequence[Partition]] | None = None
) -> list[Finding]:
    """Indexes left invalid by a failed CREATE INDEX CONCURRENTLY: written to, never used by the planner. An
    index on a partitioned table is invalid while some partition has no valid index attached to it (the
    lock-free CREATE INDEX … ON ONLY route, half done): that one is completed, not dropped, with the steps
    that complete it when the partitions (`partitions`, pgdba.stats.partitions) are known. An invalid index
    attached to another (which cannot be dropped alone), or one those steps rebuild and attach, is one of
    those steps, not a finding of its own."""
    children: dict[tuple[str, str], list[Partition]] = defaultdict(list)
    for tree in (partitions or {}).values():
        for p in tree:
            children[(p.parent_schema, p.parent_name)].append(p)
    steps: dict[tuple[str, str], list[str]] = {}
    rebuilt: set[tuple[str, str]] = set()  # partitions' invalid indexes those steps rebuild and attach
    for ix in indexes:
        if ix.partitioned and not ix.is_valid and ix.attached_to is None:
            completion = _completion_steps(ix, indexes, children)
            if completion is not None:
                steps[(ix.schema, ix.index)] = completion[0]
                rebuilt |= completion[1]
    return [
        _unfinished_partitioned(ix, steps.get((ix.schema, ix.index), [])) if ix.partitioned else _invalid(ix)
        for ix in indexes
        # an attached one: its (invalid) top index's finding
        if not ix.is_valid and ix.attached_to is None and (ix.schema, ix.index) not in rebuilt
    ]


def _invalid(ix: IndexStats) -> Finding:
    return Finding(
        "index.invalid",
        Severity.WARNING,
        f"Invalid index ({format_bytes(ix.size_bytes)}), left by a failed CREATE INDEX CONCURRENTLY",
        ix.qualified_name,
        {"size_bytes": ix.size_bytes, "definition": ix.definition},
        "Drop it and create it again (CONCURRENTLY), or REINDEX INDEX CONCURRENTLY",
        _drop(ix),
    )


def _unfinished_partitioned(ix: IndexStats, steps: list[str]) -> Finding:
    recommendation = (
        "Create the missing partition's index CONCURRENTLY and ALTER INDEX … ATTACH PARTITION it (or rebuild "
        "a partition's failed one with REINDEX INDEX CONCURRENTLY and attach it again: PostgreSQL marks the "
        "table's index valid on an ATTACH only): until then queries on that partition go without the index"
    )
    if steps:
        recommendation = (
            "Complete it without blocking writes, one statement at a time: each partition without a valid "
            "index attached gets its own (an index of the same definition it already has is attached; an "
            "invalid one is rebuilt CONCURRENTLY). Until then queries on those partitions go without the index"
        )
        if _constraint_kind(ix) is not None:
            recommendation += (
                f". Each partition's index is made its {_constraint_kind(ix)} constraint first (ADD CONSTRAINT "
                "… USING INDEX, or on ONLY a sub-partitioned one): an ACCESS EXCLUSIVE lock for a moment, no "
                "rows read; run those with a short lock_timeout"
            )
    return Finding(
        "index.invalid",
        Severity.WARNING,
        "Partitioned index not valid yet: a partition has no valid index attached to it",
        ix.qualified_name,
        {"size_bytes": ix.size_bytes, "definition": ix.definition},
        recommendation,
        "\n".join(steps) if steps else None,
    )


def _completion_steps(
    ix: IndexStats, indexes: Sequence[IndexStats], children: Mapping[tuple[str, str], Sequence[Partition]]
) -> tuple[list[str], set[tuple[str, str]]] | None:
    """The statements that make the partitioned index `ix` valid without blocking writes: below it, each
    partition without a valid index attached gets one attached (its own of the same definition, else one
    built CONCURRENTLY; a sub-partitioned one ON ONLY, completed in turn), an invalid attached one rebuilt
    CONCURRENTLY (only an ATTACH makes PostgreSQL mark the table's index valid: with nothing else left to do,
    one attached index is attached again); and (schema, name) of the partitions' unattached indexes they
    rebuild or complete and attach. The index of a primary key or unique constraint (`ALTER TABLE ONLY … ADD
    PRIMARY KEY`, half done) gets the same, each partition's index made its constraint first (PostgreSQL
    attaches no other there): a leaf's with ADD CONSTRAINT … USING INDEX, a sub-partitioned one's with ADD
    CONSTRAINT on ONLY it. None when they cannot be told: `ix` read while locked, an exclusion constraint or
    over a foreign-table partition, which no index can cover; a partition with a primary key of its own that
    is not the one needed, or a sub-partitioned partition whose index of the same definition is no
    constraint (PostgreSQL has no USING INDEX there)."""
    kind = _constraint_kind(ix)
    if ix.locked or (ix.backs_constraint and kind is None) or _key_text(ix) is None:
        return None
    on_table: dict[tuple[str, str], list[IndexStats]] = defaultdict(list)
    for other in indexes:
        on_table[(other.schema, other.table)].append(other)
    taken = {(other.schema, other.index) for other in indexes}
    steps: list[str] = []
    rebuilt: set[tuple[str, str]] = set()

    def complete(parent: IndexStats, schema: str, table: str) -> bool:
        for p in children.get((schema, table), ()):
            if p.kind == "f":
                return False
            mine = [
                i for i in on_table[(p.schema, p.name)] if _attached_to(i) == (parent.schema, parent.index)
            ]
            same = [
                i
                for i in on_table[(p.schema, p.name)]
                if i.attached_to is None
                and i.is_unique == ix.is_unique
                and _key_text(i) == _key_text(ix)
                and (kind is None or _constraint_kind(i) in (None, kind))
            ]
            part = next(iter(mine or same), None)
            if kind == "PRIMARY KEY" and any(
                i.is_primary and i is not part for i in on_table[(p.schema, p.name)]
            ):
                return False  # a partition has one primary key at most
            if part is not None:
                if part.is_valid and mine:
                    continue
                if kind is not None and _constraint_kind(part) is None and p.kind == "p":
                    return False
                if not part.is_valid and p.kind == "p" and not complete(part, p.schema, p.name):
                    return False
                if not part.is_valid and p.kind != "p":
                    steps.append(f"REINDEX INDEX CONCURRENTLY {qualified(part.schema, part.index)};")
                if not part.is_valid and not mine:
                    rebuilt.add((part.schema, part.index))
                if kind is not None and _constraint_kind(part) is None:
                    steps.append(_add_constraint_sql(ix, p.schema, p.name, part.index))
                # attached (again, for one attached invalid: only an ATTACH makes PostgreSQL check whether
                # the parent's index is complete, not the REINDEX)
                steps.append(_attach_sql(parent, part.schema, part.index))
                continue
            name = partition_index_name(ix.index, ix.table, p.schema, p.name, taken)
            taken.add((p.schema, name))
            unique = "UNIQUE " if ix.is_unique else ""
            if p.kind == "p" and kind is not None:  # the constraint makes its (invalid) index ON ONLY it
                steps.append(
                    f"ALTER TABLE ONLY {qualified(p.schema, p.name)} ADD CONSTRAINT {identifier(name)} "
                    f"{ix.constraint_definition};"
                )
            elif p.kind == "p":  # its own partitions get theirs first; it is valid once they are attached
                steps.append(
                    f"CREATE {unique}INDEX {identifier(name)} ON ONLY {qualified(p.schema, p.name)} "
                    f"{_key_text(ix)};"
                )
            else:
                steps.append(
                    f"CREATE {unique}INDEX CONCURRENTLY {identifier(name)} ON {qualified(p.schema, p.name)} "
                    f"{_key_text(ix)};"
                )
                if kind is not None:
                    steps.append(_add_constraint_sql(ix, p.schema, p.name, name))
            if p.kind == "p":
                made = dataclasses.replace(ix, schema=p.schema, table=p.name, index=name, is_valid=False)
                if not complete(made, p.schema, p.name):
                    return False
            steps.append(_attach_sql(parent, p.schema, name))
        return True

    if not complete(ix, ix.schema, ix.table):
        return None
    if not steps:  # every partition's index valid and attached, yet not marked (a REINDEX of one since)
        first = next(
            (
                i
                for p in children.get((ix.schema, ix.table), ())
                for i in on_table[(p.schema, p.name)]
                if _attached_to(i) == (ix.schema, ix.index)
            ),
            None,
        )
        if first is None:
            return None
        steps.append(_attach_sql(ix, first.schema, first.index))  # an ATTACH again checks it
    return steps, rebuilt


def _constraint_kind(ix: IndexStats) -> str | None:
    """`PRIMARY KEY` or `UNIQUE` for the index of such a constraint, else None (an exclusion constraint's
    too)."""
    definition = ix.constraint_definition or ""
    return next((kind for kind in ("PRIMARY KEY", "UNIQUE") if definition.startswith(f"{kind} ")), None)


def _add_constraint_sql(ix: IndexStats, schema: str, table: str, index: str) -> str:
    """The statement that makes the valid unique `index` of partition `table` the constraint `ix` is (its
    name the index's, its kind and deferrability `ix`'s): ACCESS EXCLUSIVE for a moment, no rows read (the
    key columns are NOT NULL already under a primary key)."""
    definition = ix.constraint_definition or ""
    # pg_get_constraintdef ends with them (a quoted column name may hold the words too)
    attributes = next(
        (a for a in (" DEFERRABLE INITIALLY DEFERRED", " DEFERRABLE") if definition.endswith(a)), ""
    )
    return (
        f"ALTER TABLE {qualified(schema, table)} ADD CONSTRAINT {identifier(index)} "
        f"{_constraint_kind(ix)} USING INDEX {identifier(index)}{attributes};"
    )


def _key_text(ix: IndexStats) -> str | None:
    """What pg_get_indexdef prints after the table: `USING btree (kind) INCLUDE (at) WHERE (…)`; the same on
    two indexes means the same definition (keys, operator classes, collations, order, predicate)."""
    start = ix.definition.find(f" USING {ix.method} (", ix.definition.find(" ON "))
    return None if start < 0 else ix.definition[start + 1 :]


_QUALIFIED = re.compile(r'^("(?:[^"]|"")*"|[^."]+)\.("(?:[^"]|"")*"|[^."]+)$')


def _attached_to(ix: IndexStats) -> tuple[str, str] | None:
    """(schema, name) of the index `ix` is attached to (IndexStats.attached_to, quoted as quote_ident)."""
    match = _QUALIFIED.match(ix.attached_to or "")
    return None if match is None else (unquoted(match[1]), unquoted(match[2]))


def _attach_sql(parent: IndexStats, schema: str, index: str) -> str:
    return (
        f"ALTER INDEX {qualified(parent.schema, parent.index)} ATTACH PARTITION {qualified(schema, index)};"
    )


def missing_fk_indexes(
    fks: Sequence[ForeignKey],
    partitions: Mapping[tuple[str, str], Sequence[Partition]] | None = None,
    partition_indexes: Mapping[tuple[str, str], Sequence[PartitionIndex]] | None = None,
    *,
    min_rows: int = 10_000,
) -> list[Finding]:
    """Foreign keys with no index leading with their columns, on referencing tables of ≥ `min_rows` rows (a
    partitioned table's: its partitions'): every DELETE / key UPDATE on the referenced table then scans the
    whole referencing table. A partitioned table's is built the lock-free way over its `partitions`
    (pgdba.advisor.partitioned_build; a partition's own index of the same definition, of
    `partition_indexes`, attached rather than built again); where they are unknown, with the one statement
    that blocks writes and the lock-free route named. (A table with a foreign key has no foreign-table
    partition: PostgreSQL refuses one.) A partitioned table's key is served when each of its leaf partitions
    has such an index (pgdba.stats.foreign_keys)."""
    found = []
    for fk in fks:
        if fk.has_index or fk.table_rows < min_rows:
            continue
        cols = ", ".join(identifier(c) for c in fk.columns)
        name = identifier(identifier_prefix(f"{fk.table}_{'_'.join(fk.columns)}_idx"))
        recommendation = (
            "Index the referencing columns: joins on the key and deletes on the parent need it (an index "
            "leading with them, such as a composite one `pgdba advise indexes` proposes, serves it too: "
            "create one of the two)"
        )
        concurrently = "" if fk.partitioned else " CONCURRENTLY"
        statement = f"CREATE INDEX{concurrently} {name} ON {qualified(fk.schema, fk.table)} ({cols});"
        candidate = Candidate(fk.schema, fk.table, fk.columns, partitioned=True)
        steps = lock_free_statements(candidate, partitions, partition_indexes) if fk.partitioned else None
        if steps is not None:
            recommendation += (
                "; on a partitioned table without blocking writes: ON ONLY the table, CONCURRENTLY on each "
                "partition, attached to it"
            )
            statement = "\n".join(steps)
        elif fk.partitioned:
            recommendation += f"; {partitioned_build_note([fk.qualified_table])}"
        found.append(
            Finding(
                "index.missing_fk",
                Severity.WARNING,
                f"Foreign key {fk.constraint} ({', '.join(fk.columns)} → {fk.ref_table}) has no index",
                fk.qualified_table,
                {
                    "constraint": fk.constraint,
                    "columns": list(fk.columns),
                    "references": fk.qualified_ref_table,
                    "table_rows": fk.table_rows,
                },
                recommendation,
                statement,
            )
        )
    return found


def index_bloat_findings(
    estimates: Sequence[BloatEstimate], *, min_bytes: int = 10 * 1024**2, warning_ratio: float = 0.7
) -> list[Finding]:
    """Btree indexes ≥ `min_bytes` (10 MB) whose estimated bloat is ≥ `warning_ratio` (70 %, Netdata's
    index bloat warning) of their size."""
    return [
        Finding(
            "index.bloat",
            Severity.WARNING,
            f"Index bloat ~{e.bloat_ratio:.0%} ({format_bytes(e.bloat_bytes)} of {format_bytes(e.actual_bytes)})",
            e.object,
            {
                "actual_bytes": e.actual_bytes,
                "expected_bytes": e.expected_bytes,
                "bloat_ratio": round(e.bloat_ratio, 3),
            },
            "Rebuild it without blocking writes",
            f"REINDEX INDEX CONCURRENTLY {qualified(e.schema, e.index or '')};",
        )
        for e in estimates
        if e.index and e.estimable and e.actual_bytes >= min_bytes and e.bloat_ratio >= warning_ratio
    ]


def low_index_hit_rate(
    db: DatabaseStats, *, min_ratio: float = 99.0, critical_below: float = 90.0, min_blocks: int = 10_000
) -> list[Finding]:
    """Index blocks found in shared buffers under `min_ratio` % (PgHero's 99 %); critical under
    `critical_below` % (the user's 90 % alert); only once `min_blocks` index blocks were read."""
    ratio = db.index_hit_ratio
    if ratio is None or db.idx_blks_hit + db.idx_blks_read < min_blocks or ratio >= min_ratio:
        return []
    return [
        Finding(
            "index.low_hit_rate",
            Severity.CRITICAL if ratio < critical_below else Severity.WARNING,
            f"Index cache hit rate {ratio:.1f}% (target ≥ {min_ratio:g}%)",
            db.database,
            {"hit_pct": round(ratio, 2), "blocks_read": db.idx_blks_read, "blocks_hit": db.idx_blks_hit},
            "The working set of the indexes does not fit in shared_buffers: raise it, or drop unused indexes",
        )
    ]
