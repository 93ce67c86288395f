"""Creating advised indexes on the target: CREATE INDEX CONCURRENTLY, checked to be valid afterwards."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import psycopg
from psycopg import sql

from pgdba.advisor.advise import Advice
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
    """--apply without --verify builds on large tables only when the user said --yes."""
    large = [r for r in advice.recommendations if r.table_bytes > APPLY_UNVERIFIED_MAX_TABLE_BYTES]
    if large and not yes:
        names = ", ".join(r.candidate.relation for r in large)
        raise InputError(
            f"refusing --apply without --verify on tables over {APPLY_UNVERIFIED_MAX_TABLE_BYTES // 2**20} MB "
            f"({names}): add --verify to measure first, or --yes"
        )


def create_indexes(
    conn: psycopg.Connection, advice: Advice, relations: Collection[str] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run each CREATE INDEX CONCURRENTLY (only on `relations`, schema.table, when given); an index left
    invalid by a failed build is dropped again."""
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
        row = conn.execute(INDEX_STATE_SQL, {"schema": candidate.schema, "name": candidate.name()}).fetchone()
        if row is None:
            continue
        if not row[0]:
            # (a partitioned index cannot be dropped CONCURRENTLY)
            drop = (
                "DROP INDEX IF EXISTS {}.{}"
                if candidate.partitioned
                else "DROP INDEX CONCURRENTLY IF EXISTS {}.{}"
            )
            conn.execute(
                sql.SQL(drop).format(sql.Identifier(candidate.schema), sql.Identifier(candidate.name()))
            )
            failed.append(f"{candidate.name()}: the build left it invalid; dropped it again")
            continue
        created.append({"index": candidate.name(), "size_bytes": int(row[1])})
    return created, failed


def apply_indexes(target: Target, advice: Advice) -> dict[str, Any]:
    """Create the advised indexes on the target (no statement timeout: builds take as long as they take)."""
    build_target = Target(target.dsn, target.source, 0, target.lock_timeout_ms, target.connect_timeout_s)
    with build_target.connect(apply=True) as conn:
        created, failed = create_indexes(conn, advice)
    return {"where": "target", "created": created, "failed": failed}
