"""Creating advised indexes on the target: CREATE INDEX CONCURRENTLY, checked to be valid afterwards (and
CREATE EXTENSION pg_trgm first when a search index needs it and it is not installed)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import psycopg
from psycopg import sql

from pgdba.advisor.advise import Advice
from pgdba.advisor.trigram import EXTENSION, NOT_AVAILABLE_NOTE, SearchIndexAdvice
from pgdba.errors import InputError
from pgdba.target import Target

# Without --verify, --apply is refused on tables larger than this unless --yes.
APPLY_UNVERIFIED_MAX_TABLE_BYTES = 100 * 1024 * 1024

INDEX_STATE_SQL = """
SELECT i.indisvalid,
       pg_relation_size(i.indexrelid)
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
        try:
            conn.execute(candidate.ddl(concurrently=True))
        except psycopg.Error as exc:
            failed.append(f"{candidate.name()}: {str(exc).splitlines()[0]}")
        _check_built(conn, candidate.schema, candidate.name(), candidate.partitioned, created, failed)
    searches = [s for s in advice.search_indexes if relations is None or s.relation in relations]
    if searches and _trigram_ready(conn, searches[0], failed):
        for search in searches:
            try:
                conn.execute(search.ddl(concurrently=True))
            except psycopg.Error as exc:
                failed.append(f"{search.name()}: {str(exc).splitlines()[0]}")
            _check_built(conn, search.schema, search.name(), search.partitioned, created, failed)
    return created, failed


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
) -> None:
    """Add a built index to `created`; one a failed build left invalid is dropped again (in `failed`)."""
    row = conn.execute(INDEX_STATE_SQL, {"schema": schema, "name": name}).fetchone()
    if row is None:
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
    build_target = Target(target.dsn, target.source, 0, target.lock_timeout_ms, target.connect_timeout_s)
    with build_target.connect(apply=True) as conn:
        created, failed = create_indexes(conn, advice)
    return {"where": "target", "created": created, "failed": failed}
