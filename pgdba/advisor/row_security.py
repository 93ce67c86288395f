"""Queries of a role that row-level security filters: its policies put in the table's place.

An application role under row-level security (Supabase's `authenticated`) never reads a table as its query
says: PostgreSQL adds the policies' USING expressions (`user_id = auth.uid()`) to every read. pgdba plans as
its own role, which owns the tables or bypasses row security, so a query costed as written misses the filter
that decides the application's plan: `… ORDER BY created_at DESC LIMIT 20` wants `(created_at)` as written
and `(user_id, created_at)` as the application runs it. The advisor therefore reads and costs such a query
(and `--verify` measures it, where the functions a policy calls exist) with each table it reads replaced
by `(SELECT * FROM table WHERE <policies>) AS alias`, the way the planner applies them: the permissive
policies for SELECT (or ALL) that reach the role joined with OR, the restrictive ones with AND, none at all
reading no row. `queries analyze` reads its index hints the same way (pgdba.optimizer.row_security_texts).

The role is the one pg_stat_statements recorded for the statement (the busiest one where several ran it);
a query from a file has none and is read as written. The tables an UPDATE or DELETE writes keep their name:
their policies are not inlined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pglast
import psycopg
from psycopg.rows import dict_row

from pgdba.advisor.views import name_end, range_vars, regclass_text
from pgdba.advisor.workload import WorkloadQuery
from pgdba.sql_text import identifier

# For a relation as a query names it and a role: whether row security filters that role's reads of it (the
# table has it enabled, the role neither owns it, unless forced, nor is a superuser nor bypasses it), and the
# USING expressions of the policies for SELECT that reach the role.
ROW_SECURITY_SQL = """
SELECT format('%%s.%%s', n.nspname, c.relname) AS qualified,
       c.relrowsecurity
       AND (c.relforcerowsecurity OR NOT pg_has_role(r.oid, c.relowner, 'USAGE'))
       AND NOT r.rolsuper
       AND NOT r.rolbypassrls AS filtered,
       coalesce(array_agg(pg_get_expr(p.polqual, p.polrelid)) FILTER (WHERE p.polpermissive), '{}') AS permissive,
       coalesce(array_agg(pg_get_expr(p.polqual, p.polrelid)) FILTER (WHERE NOT p.polpermissive), '{}')
         AS restrictive
  FROM pg_class AS c
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
  JOIN pg_roles AS r ON r.rolname = %(role)s
  LEFT JOIN pg_policy AS p
         ON p.polrelid = c.oid
        AND p.polcmd IN ('r', '*')
        AND p.polqual IS NOT NULL
        AND (0 = ANY (p.polroles)
             OR EXISTS (SELECT 1 FROM unnest(p.polroles) AS pr WHERE pg_has_role(r.oid, pr, 'MEMBER')))
 WHERE c.oid = to_regclass(%(name)s)
   AND c.relkind IN ('r', 'p')
 GROUP BY n.nspname, c.relname, c.oid, c.relrowsecurity, c.relforcerowsecurity, c.relowner,
          r.oid, r.rolsuper, r.rolbypassrls
"""


ANY_ROW_SECURITY_SQL = "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relrowsecurity)"


def any_row_security(conn: psycopg.Connection) -> bool:
    """Whether any table of the database has row security enabled (most have none: nothing to inline)."""
    row = conn.execute(ANY_ROW_SECURITY_SQL).fetchone()
    return bool(row and row[0])


def policy_filter(permissive: Sequence[str], restrictive: Sequence[str]) -> str:
    """The expression the planner adds to a read: any permissive policy, and every restrictive one."""
    if not permissive:
        return "false"  # row security on, no policy lets the role see a row
    # (pg_get_expr wraps an operator expression in parentheses already; a bare function call it does not)
    any_of = permissive[0] if len(permissive) == 1 else " OR ".join(f"({p})" for p in permissive)
    if not restrictive:
        return any_of
    return " AND ".join([f"({any_of})", *(f"({r})" for r in restrictive)])


def inline_row_security(
    conn: psycopg.Connection, workload: Sequence[WorkloadQuery]
) -> tuple[list[WorkloadQuery], list[str]]:
    """The workload with each query of a role under row-level security read as that role sees its tables,
    and a note naming the tables and the filter put in their place."""
    if all(query.role is None for query in workload) or not any_row_security(conn):
        return list(workload), []
    filters: dict[tuple[str, str], tuple[str, str] | None] = {}
    inlined: dict[str, str] = {}  # table → filter, for the note
    roles: set[str] = set()
    result: list[WorkloadQuery] = []
    for query in workload:
        if query.role is None:
            result.append(query)
            continue
        text = _inlined(conn, query.sql, query.role, filters, inlined)
        if text != query.sql:
            roles.add(query.role)
            query = replace(query, sql=text)
        result.append(query)
    if not inlined:
        return result, []
    tables = "; ".join(f"{name}: {expression}" for name, expression in sorted(inlined.items()))
    return result, [
        f"queries run as {', '.join(sorted(roles))}, which row-level security filters, are read and costed "
        f"with the policies in each table's place ({tables}); pgdba's own role is not filtered"
    ]


def _inlined(
    conn: psycopg.Connection,
    text: str,
    role: str,
    filters: dict[tuple[str, str], tuple[str, str] | None],
    inlined: dict[str, str],
) -> str:
    try:
        relations = range_vars(text)
    except pglast.parser.ParseError:
        return text
    replacements: list[tuple[int, int, str]] = []
    for relation in relations:
        name = regclass_text(relation)
        if (name, role) not in filters:
            filters[name, role] = _filter(conn, name, role)
        found = filters[name, role]
        if found is None:
            continue
        qualified, expression = found
        inlined[qualified] = expression
        start = int(relation.location or 0)
        end = name_end(text, start)
        alias = "" if relation.alias is not None else " AS " + identifier(str(relation.relname))
        replacements.append((start, end, f"(SELECT * FROM {name} WHERE {expression}){alias}"))
    for start, end, replacement in sorted(replacements, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _filter(conn: psycopg.Connection, name: str, role: str) -> tuple[str, str] | None:
    """The table `name` reads (`schema.table`) and the filter row security adds to `role`'s reads of it, or
    None when it adds none."""
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(ROW_SECURITY_SQL, {"name": name, "role": role}).fetchone()
    except psycopg.Error:
        return None
    if row is None or not row["filtered"]:
        return None
    return str(row["qualified"]), policy_filter(row["permissive"], row["restrictive"])
