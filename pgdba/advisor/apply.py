"""Creating advised indexes on the target: CREATE INDEX CONCURRENTLY (on a partitioned table its lock-free
build: pgdba.advisor.partitioned_build), checked to be valid afterwards (and CREATE EXTENSION pg_trgm first
when a search index needs it and it is not installed)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import psycopg
from psycopg import sql

from pgdba.advisor.advise import Advice
from pgdba.advisor.candidates import Candidate
from pgdba.advisor.partitioned_build import Buildable, BuildStep, lock_free_build
from pgdba.advisor.trigram import EXTENSION, NOT_AVAILABLE_NOTE, SearchIndexAdvice
from pgdba.errors import InputError
from pgdba.stats.partitions import leaf_partitions
from pgdba.target import Target

# Without --verify, --apply is refused on tables larger than this unless --yes.
APPLY_UNVERIFIED_MAX_TABLE_BYTES = 100 * 1024 * 1024

INDEX_STATE_SQL = f"""
SELECT i.indisvalid,
       CASE WHEN c.relkind = 'I'  -- a partitioned index has no storage: its partitions' indexes have
            THEN (SELECT coalesce(sum(pg_relation_size(part.oid)), 0) FROM {leaf_partitions("i.indexrelid")} AS part)
            ELSE pg_relation_size(i.indexrelid)
       END
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema)s
   AND c.relname = %(name)s
"""


def refuse_unverified_apply(advice: Advice, *, yes: bool) -> None:
    """--apply without --verify builds on large tables only when the user said --yes (search indexes too:
    a GIN build on a large table takes longer than a btree's)."""
    large = [
        r.candidate.relation
        for r in advice.recommendations
        if r.table_bytes > APPLY_UNVERIFIED_MAX_TABLE_BYTES
    ]
    large += [s.relation for s in advice.search_indexes if s.table_bytes > APPLY_UNVERIFIED_MAX_TABLE_BYTES]
    if large and not yes:
        names = ", ".join(dict.fromkeys(large))
        raise InputError(
            f"refusing --apply without --verify on tables over {APPLY_UNVERIFIED_MAX_TABLE_BYTES // 2**20} MB "
            f"({names}): add --verify to measure first, or --yes"
        )


def create_indexes(
    conn: psycopg.Connection, advice: Advice, relations: Collection[str] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run each CREATE INDEX CONCURRENTLY (only on `relations`, schema.table, when given), the search
    indexes' after CREATE EXTENSION pg_trgm when it is not installed; an index left invalid by a failed
    build is dropped again."""
    created: list[dict[str, Any]] = []
    failed: list[str] = []
    for recommendation in advice.recommendations:
        candidate = recommendation.candidate
        if relations is not None and candidate.relation not in relations:
            continue
        _build(conn, candidate, created, failed)
    searches = [s for s in advice.search_indexes if relations is None or s.relation in relations]
    if searches and _trigram_ready(conn, searches[0], failed):
        for search in searches:
            _build(conn, search, created, failed)
    return created, failed


def _build(
    conn: psycopg.Connection, index: Buildable, created: list[dict[str, Any]], failed: list[str]
) -> None:
    """Build one advised index (CONCURRENTLY; on a partitioned table its lock-free build), then check it."""
    try:
        steps = lock_free_build(conn, index)  # the partitions and their indexes as they are now
    except psycopg.Error as exc:  # a partition locked since the lock check: nothing built yet
        failed.append(f"{index.name()}: {str(exc).splitlines()[0]}")
        return
    kept: list[str] = []  # partitions' own indexes the lock-free build attached
    if steps is not None:
        attached = _build_lock_free(conn, index.name(), steps, failed)
        if attached is None:
            return
        kept = attached
    else:
        try:
            conn.execute(index.ddl(concurrently=True))
        except psycopg.Error as exc:
            failed.append(f"{index.name()}: {str(exc).splitlines()[0]}")
    if isinstance(index, Candidate) and index.inherited:  # on the table and each inheritance child lacking it
        for step in steps or []:
            if step.creates is not None:
                _check_built(conn, *step.creates, False, created, failed)
        return
    _check_built(conn, index.schema, index.name(), index.partitioned, created, failed, kept)


def _build_lock_free(
    conn: psycopg.Connection, name: str, steps: list[BuildStep], failed: list[str]
) -> list[str] | None:
    """Run the lock-free build of an index on a partitioned table. When a step fails, the indexes this run
    created are dropped again (the table's first: that drops the partitions' indexes attached to it) and
    the failure is in `failed` (and None returned); once a partition's own earlier index is attached (those
    steps come last), nothing is dropped, as that would drop it too: the same steps run again finish the
    build. Returns the partitions' own indexes it attached."""
    made: list[BuildStep] = []
    attached_existing: list[str] = []
    for step in steps:
        state = None if step.creates is None else _index_state(conn, *step.creates)
        fresh = step.creates is not None and state is None
        statement: sql.Composed = step.statement
        if step.concurrently and step.creates is not None and state is not None and not state[0]:
            # a partition's index left invalid by an interrupted build (CREATE … IF NOT EXISTS would skip
            # it, and an invalid one attached keeps the table's index invalid): built again in place
            statement = sql.SQL("REINDEX INDEX CONCURRENTLY {}.{}").format(*map(sql.Identifier, step.creates))
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            if attached_existing:
                failed.append(
                    f"{name}: {str(exc).splitlines()[0]}; left not valid yet, as dropping it would drop the "
                    f"partitions' own {', '.join(attached_existing)} attached to it: run --apply again to finish"
                )
                return None
            if fresh:  # a failed CONCURRENTLY build leaves an invalid index behind
                made.append(step)
            failed.append(f"{name}: {str(exc).splitlines()[0]}; dropped what it had built")
            for built in made:
                assert built.creates is not None
                drop = (
                    "DROP INDEX CONCURRENTLY IF EXISTS {}.{}"
                    if built.concurrently
                    else "DROP INDEX IF EXISTS {}.{}"
                )
                try:
                    conn.execute(sql.SQL(drop).format(*(sql.Identifier(part) for part in built.creates)))
                except psycopg.Error as drop_error:  # said, and the rest still dropped
                    failed.append(f"{built.creates[1]}: not dropped: {str(drop_error).splitlines()[0]}")
            return None
        if fresh:
            made.append(step)
        if step.attaches_existing is not None:
            attached_existing.append(".".join(step.attaches_existing))
    return attached_existing


def _index_state(conn: psycopg.Connection, schema: str, name: str) -> tuple[bool, int] | None:
    """(valid, size in bytes) of the index, None when there is none of that name."""
    row = conn.execute(INDEX_STATE_SQL, {"schema": schema, "name": name}).fetchone()
    return None if row is None else (bool(row[0]), int(row[1]))


def _trigram_ready(conn: psycopg.Connection, search: SearchIndexAdvice, failed: list[str]) -> bool:
    """pg_trgm installed (CREATE EXTENSION when the advice says it is missing), else why not in `failed`."""
    if not search.extension.available:
        failed.append(f"{search.name()}: {NOT_AVAILABLE_NOTE}")
        return False
    create = search.extension.create_statement()
    if create is None:
        return True
    try:
        conn.execute(create)
    except psycopg.Error as exc:
        failed.append(f"{EXTENSION}: {str(exc).splitlines()[0]}: no search index built")
        return False
    return True


def _check_built(
    conn: psycopg.Connection,
    schema: str,
    name: str,
    partitioned: bool,
    created: list[dict[str, Any]],
    failed: list[str],
    kept: Sequence[str] = (),
) -> None:
    """Add a built index to `created`; one a failed build left invalid is dropped again (in `failed`), but
    not a partitioned one with partitions' own earlier indexes attached (`kept`): they would go with it."""
    row = conn.execute(INDEX_STATE_SQL, {"schema": schema, "name": name}).fetchone()
    if row is None:
        return
    if not row[0] and kept:
        failed.append(
            f"{name}: not valid yet (a partition's index is not valid), kept, as dropping it would drop the "
            f"partitions' own {', '.join(kept)} attached to it"
        )
        return
    if not row[0]:
        # (a partitioned index cannot be dropped CONCURRENTLY)
        drop = "DROP INDEX IF EXISTS {}.{}" if partitioned else "DROP INDEX CONCURRENTLY IF EXISTS {}.{}"
        conn.execute(sql.SQL(drop).format(sql.Identifier(schema), sql.Identifier(name)))
        failed.append(f"{name}: the build left it invalid; dropped it again")
        return
    created.append({"index": name, "size_bytes": int(row[1])})


def apply_indexes(target: Target, advice: Advice) -> dict[str, Any]:
    """Create the advised indexes on the target (no statement timeout: builds take as long as they take)."""
    build_target = target.without_statement_timeout(advice.session_settings)
    with build_target.connect(apply=True) as conn:
        created, failed = create_indexes(conn, advice)
    return {"where": "target", "created": created, "failed": failed}
