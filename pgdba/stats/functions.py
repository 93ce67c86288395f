"""The database's own functions and procedures: those its schemas define, not the catalogs' nor an
extension's (pg_stat_statements_reset, hypopg_create_index, … are a monitor's or pgdba's calls)."""

from __future__ import annotations

import psycopg

USER_FUNCTIONS_SQL = r"""
SELECT n.nspname,
       p.proname
  FROM pg_proc AS p
  JOIN pg_namespace AS n ON n.oid = p.pronamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\_%'
   AND p.prokind IN ('f', 'p')
   AND NOT EXISTS (SELECT 1
                     FROM pg_depend AS d
                    WHERE d.classid = 'pg_proc'::regclass
                      AND d.objid = p.oid
                      AND d.deptype = 'e')
"""


def user_functions(conn: psycopg.Connection) -> frozenset[str]:
    """Each user function's name as a call may write it: bare (`f`) and qualified (`schema.f`)."""
    names: set[str] = set()
    for schema, name in conn.execute(USER_FUNCTIONS_SQL).fetchall():
        names.update((str(name), f"{schema}.{name}"))
    return frozenset(names)
