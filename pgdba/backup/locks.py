"""Why a backup could not lock its tables: which other session holds (or queues for) an ACCESS EXCLUSIVE
lock on which table, told in one line.

pg_dump takes ACCESS SHARE on every table it dumps, and so do pgdba's size and catalog queries; the only
mode that conflicts with it is ACCESS EXCLUSIVE (DDL such as ALTER TABLE, DROP, TRUNCATE, VACUUM FULL).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row

from pgdba.stats.locks import OTHER_SESSIONS_EXCLUSIVE_LOCKS

# ACCESS EXCLUSIVE locks of other sessions on table-like relations of this database (pgdba.stats.locks)
EXCLUSIVE_TABLE_LOCKS_SQL = f"""
SELECT format('%I.%I', n.nspname, c.relname) AS table_name,
       l.pid,
       l.granted
  FROM pg_locks l
  JOIN pg_class c ON c.oid = l.relation
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE {OTHER_SESSIONS_EXCLUSIVE_LOCKS}
   AND c.relkind IN ('r', 'p', 'm', 'f')
 ORDER BY l.granted DESC, 1, l.pid
"""

MAX_TABLES_NAMED = 3


@dataclass(frozen=True)
class TableLock:
    """An ACCESS EXCLUSIVE lock another session holds (granted) or waits for on a table."""

    table_name: str
    pid: int
    granted: bool

    def describe(self) -> str:
        verb = "holds" if self.granted else "is queued for"
        return f"session {self.pid} {verb} an ACCESS EXCLUSIVE lock on {self.table_name}"


def exclusive_table_locks(conn: psycopg.Connection) -> list[TableLock]:
    with conn.cursor(row_factory=dict_row) as cur:
        return [TableLock(**row) for row in cur.execute(EXCLUSIVE_TABLE_LOCKS_SQL).fetchall()]


def lock_conflict_message(step: str, locks: list[TableLock] | None, lock_timeout_ms: int) -> str:
    """One line: the step that gave up, who holds the conflicting lock on which table, what to do.
    locks None: pg_locks could not be read."""
    if locks:
        named = "; ".join(lock.describe() for lock in locks[:MAX_TABLES_NAMED])
        more = len(locks) - MAX_TABLES_NAMED
        culprit = named + (f" (and {more} more)" if more > 0 else "")
    elif locks is None:
        culprit = "another session holds a conflicting lock on a table (pg_locks could not be read)"
    else:
        culprit = "another session held a conflicting lock on a table (released since)"
    return (
        f"{step} gave up after waiting {lock_timeout_ms} ms for a table lock: {culprit}; nothing stored — "
        "retry once that session has finished, or raise --lock-timeout"
    )
