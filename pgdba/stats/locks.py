"""Relations pgdba must not touch with pg_*_size() right now: the size functions take ACCESS SHARE on the
relation and would queue behind an ACCESS EXCLUSIVE lock another session holds or waits for (DDL, VACUUM
FULL, REINDEX), until lock_timeout cancels the whole statistics query. Queries read those relations' sizes
from pg_class's page counts instead (as of their last VACUUM / ANALYZE / CREATE INDEX)."""

from __future__ import annotations

# a common table expression: `WITH blocked AS ({BLOCKED_RELATIONS}) …`, then `x IN (SELECT relation FROM
# blocked)`
BLOCKED_RELATIONS = """
    SELECT l.relation
      FROM pg_locks AS l
     WHERE l.locktype = 'relation'
       AND l.mode = 'AccessExclusiveLock'
       AND l.pid <> pg_backend_pid()
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
