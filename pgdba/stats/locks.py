"""Relations pgdba must not touch with pg_*_size() right now: the size functions take ACCESS SHARE on the
relation and would queue behind an ACCESS EXCLUSIVE lock another session holds or waits for (DDL, VACUUM
FULL, REINDEX), until lock_timeout cancels the whole statistics query. Queries read those relations' sizes
from pg_class's page counts instead (as of their last VACUUM / ANALYZE / CREATE INDEX)."""

from __future__ import annotations

# the pg_locks rows (alias `l`) of ACCESS EXCLUSIVE relation locks another session of this database holds
# or waits for (a waiting request counts: an ACCESS SHARE request queues behind it)
OTHER_SESSIONS_EXCLUSIVE_LOCKS = """l.locktype = 'relation'
       AND l.mode = 'AccessExclusiveLock'
       AND l.pid <> pg_backend_pid()
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"""

# a common table expression: `WITH blocked AS ({BLOCKED_RELATIONS}) …`, then `x IN (SELECT relation FROM
# blocked)`
BLOCKED_RELATIONS = f"""
    SELECT l.relation
      FROM pg_locks AS l
     WHERE {OTHER_SESSIONS_EXCLUSIVE_LOCKS}
"""
