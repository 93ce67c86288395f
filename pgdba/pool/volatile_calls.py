"""Workload statements that call a user-defined VOLATILE function: refused by `pgdba pool bench` without
--apply, because its body is not seen by the plain-read check.

What the READ ONLY transaction each request runs in does and does not stop (checked on PostgreSQL 15): a
function's INSERT, UPDATE or DELETE fails ("cannot execute UPDATE in a read-only transaction"), so do
nextval() and setval() ("cannot execute nextval() in a read-only transaction"); large objects,
pg_advisory_lock() (held by the pooled session after the transaction ends, so the other sessions wait on it
and the run measures lock waits), pg_notify(), dblink and the other _LASTING_EFFECTS of
pgdba.pool.plain_reads pass. A VOLATILE function (PostgreSQL's default) may do any of these; a STABLE or
IMMUTABLE one may not write tables (PostgreSQL refuses that in a non-volatile function), so it is run, with
the READ ONLY transaction behind it. pg_catalog's functions are the plain-read check's (its list names those
with lasting effects).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from pgdba.errors import InputError
from pgdba.pool.plain_reads import PLAIN_READS, called_functions

# A called name matches a VOLATILE function outside pg_catalog in the schema it names, or (unqualified) in
# any schema of the search path: an overload of the name counts, so whichever PostgreSQL picks is covered.
VOLATILE_USER_FUNCTIONS_SQL = """
SELECT c.statement,
       format('%%I.%%I', n.nspname, p.proname) AS function
  FROM unnest(%(statements)s::int[], %(schemas)s::text[], %(names)s::text[]) AS c (statement, schema, name)
  JOIN pg_proc AS p ON p.proname = c.name
  JOIN pg_namespace AS n ON n.oid = p.pronamespace
 WHERE p.provolatile = 'v'
   AND n.nspname <> 'pg_catalog'
   AND (n.nspname = c.schema OR (c.schema IS NULL AND n.nspname = ANY (current_schemas(false))))
 ORDER BY c.statement, function
 LIMIT 1
"""


def check_no_volatile_user_functions(
    conn: psycopg.Connection[Any], statements: Sequence[str], workload_name: str
) -> None:
    """Refuse, naming the first one, a workload that calls a user-defined VOLATILE function (statements
    that passed the plain-read check)."""
    calls = [
        (number, schema, name)
        for number, statement in enumerate(statements, start=1)
        for schema, name in called_functions(statement)
    ]
    if not calls:
        return
    numbers, schemas, names = (list(column) for column in zip(*calls, strict=True))
    with conn.cursor() as cur:
        row = cur.execute(
            VOLATILE_USER_FUNCTIONS_SQL, {"statements": numbers, "schemas": schemas, "names": names}
        ).fetchone()
    if row is not None:
        number, function = row
        raise InputError(
            f"{workload_name}: statement {number} calls {function}() (a user-defined VOLATILE function: its "
            f"body may write or take locks; declare it STABLE if it only reads), not a plain read "
            f"({PLAIN_READS}): pass --apply to run a workload that may write"
        )
