"""Queries of a role that row-level security filters: its policies put in the table's place.

An application role under row-level security (Supabase's `authenticated`) never reads a table as its query
says: PostgreSQL adds the policies' USING expressions (`user_id = auth.uid()`) to every read. pgdba plans as
its own role, which owns the tables or bypasses row security, so a query costed as written misses the filter
that decides the application's plan: `… ORDER BY created_at DESC LIMIT 20` wants `(created_at)` as written
and `(user_id, created_at)` as the application runs it. The advisor therefore reads and costs such a query
(and `--verify` measures it, `auth.uid()` bound to a sampled user: pgdba.advisor.policy_calls) with each
table it reads replaced by `(SELECT * FROM table WHERE <policies>) AS alias`, the way the planner applies them: the permissive
policies for SELECT (or ALL) that reach the role joined with OR, the restrictive ones with AND, none at all
reading no row. `queries analyze` reads its index hints the same way (pgdba.optimizer.hint_texts).

The table an UPDATE or DELETE writes cannot be replaced by a subquery: its filter is added to the
statement's WHERE instead, as the planner adds it: the USING expressions of that command's policies (and of
ALL), and, when the statement reads the table's columns (a WHERE, SET or RETURNING naming one), the SELECT
ones too, an expression both sets hold added once. With a FROM (UPDATE) or USING (DELETE) list, the filter's
columns are qualified with the target's name or alias.

A view that reads its tables with the querying role's rights (`security_invoker`, 15+) is put in the
query's place by its body first, so the policies of the tables under it apply; any other view reads them
as its owner, as the planner does, and is left as written.

The role is the one pg_stat_statements recorded for the statement (the busiest one where several ran it);
a query from a file has the role `--as-role` names, or none, and is then read as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pglast
import psycopg
from pglast import ast
from psycopg.rows import dict_row

from pgdba.advisor.parse_tree import walk
from pgdba.advisor.views import expand_views, name_end, range_vars, regclass_text
from pgdba.advisor.workload import WorkloadQuery
from pgdba.sql_text import identifier

# For a relation as a query names it and a role: whether row security filters that role's reads of it (the
# table has it enabled, the role neither owns it, unless forced, nor is a superuser nor bypasses it), and the
# USING expressions of the policies for the given commands (pg_policy.polcmd) that reach the role.
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
        AND p.polcmd::text = ANY (%(commands)s::text[])
        AND p.polqual IS NOT NULL
        AND (0 = ANY (p.polroles)
             OR EXISTS (SELECT 1 FROM unnest(p.polroles) AS pr WHERE pg_has_role(r.oid, pr, 'MEMBER')))
 WHERE c.oid = to_regclass(%(name)s)
   AND c.relkind IN ('r', 'p')
 GROUP BY n.nspname, c.relname, c.oid, c.relrowsecurity, c.relforcerowsecurity, c.relowner,
          r.oid, r.rolsuper, r.rolbypassrls
"""


# pg_policy.polcmd of the policies each kind of access is filtered by: its command's and those FOR ALL
SELECT_POLICIES = ("r", "*")
UPDATE_POLICIES = ("w", "*")
DELETE_POLICIES = ("d", "*")

ANY_ROW_SECURITY_SQL = "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relrowsecurity)"


def any_row_security(conn: psycopg.Connection) -> bool:
    """Whether any table of the database has row security enabled (most have none: nothing to inline)."""
    row = conn.execute(ANY_ROW_SECURITY_SQL).fetchone()
    return bool(row and row[0])


def policy_quals(permissive: Sequence[str], restrictive: Sequence[str]) -> list[str]:
    """The quals the planner adds to an access: any permissive policy (one qual), and each restrictive one."""
    if not permissive:
        return ["false"]  # row security on, no policy lets the role see a row
    # (pg_get_expr wraps an operator expression in parentheses already; a bare function call it does not)
    any_of = permissive[0] if len(permissive) == 1 else " OR ".join(f"({p})" for p in permissive)
    return [any_of, *restrictive]


def policy_filter(permissive: Sequence[str], restrictive: Sequence[str]) -> str:
    """The expression the planner adds to a read: any permissive policy, and every restrictive one."""
    return _all_of(policy_quals(permissive, restrictive))


def _all_of(quals: Sequence[str]) -> str:
    return quals[0] if len(quals) == 1 else " AND ".join(f"({q})" for q in quals)


def inline_row_security(
    conn: psycopg.Connection, workload: Sequence[WorkloadQuery]
) -> tuple[list[WorkloadQuery], list[str]]:
    """The workload with each query of a role under row-level security read as that role sees its tables,
    and a note naming the tables and the filter put in their place."""
    if all(query.role is None for query in workload) or not any_row_security(conn):
        return list(workload), []
    filters: Filters = {}
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


# (relation as written, role, policy commands) → (the table, its quals for that role), None: not filtered
Filters = dict[tuple[str, str, tuple[str, ...]], tuple[str, list[str]] | None]
Edit = tuple[int, int, str]  # (start, end, replacement) in a query's text


def _inlined(
    conn: psycopg.Connection, written: str, role: str, filters: Filters, inlined: dict[str, str]
) -> str:
    text = expand_views(conn, written, invoker_only=True)  # its tables are read as the role reads them
    try:
        statements = pglast.parse_sql(text)
        relations = range_vars(text)
    except pglast.parser.ParseError:
        return written
    edits: list[Edit] = []
    for relation in relations:
        name = regclass_text(relation)
        found = _filter(conn, filters, name, role, SELECT_POLICIES)
        if found is None:
            continue
        qualified, quals = found
        expression = _all_of(quals)
        inlined[qualified] = expression
        start = int(relation.location or 0)
        end = name_end(text, start)
        alias = "" if relation.alias is not None else " AS " + identifier(str(relation.relname))
        edits.append((start, end, f"(SELECT * FROM {name} WHERE {expression}){alias}"))
    if len(statements) == 1:
        edits += _target_edits(conn, text, statements[0].stmt, role, filters, inlined)
    if not edits:
        return written  # no table of it is filtered: the views it reads stay as written
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _target_edits(
    conn: psycopg.Connection,
    text: str,
    statement: ast.Node | None,
    role: str,
    filters: Filters,
    inlined: dict[str, str],
) -> list[Edit]:
    """The edits that add the filter of the table an UPDATE or DELETE writes to its WHERE (none when row
    security does not filter it for the role, or the statement updates WHERE CURRENT OF a cursor)."""
    if not isinstance(statement, ast.UpdateStmt | ast.DeleteStmt) or statement.relation is None:
        return []
    if isinstance(statement.whereClause, ast.CurrentOfExpr) or statement.relation.location is None:
        return []
    updates = isinstance(statement, ast.UpdateStmt)
    name = regclass_text(statement.relation)
    found = _filter(conn, filters, name, role, UPDATE_POLICIES if updates else DELETE_POLICIES)
    if found is None:
        return []
    qualified, quals = found
    if _reads_target_columns(statement):
        read = _filter(conn, filters, name, role, SELECT_POLICIES)
        quals = list(dict.fromkeys([*quals, *(read[1] if read else [])]))  # the planner adds each once
    expression = _all_of(quals)
    inlined[f"{qualified} ({'updated' if updates else 'deleted'})"] = expression
    others = statement.fromClause if isinstance(statement, ast.UpdateStmt) else statement.usingClause
    if others:  # another table's column of the same name would make the filter's own ambiguous
        start = int(statement.relation.location)
        alias = statement.relation.alias
        written = (
            identifier(str(alias.aliasname)) if alias is not None else text[start : name_end(text, start)]
        )
        expression = _qualified_columns(expression, written)
    return _where_edits(text, expression)


def _reads_target_columns(statement: ast.UpdateStmt | ast.DeleteStmt) -> bool:
    """Whether the statement reads columns (the SELECT policies then apply to the rows it writes too)."""
    read: list[object] = [statement.whereClause, statement.returningClause]
    if isinstance(statement, ast.UpdateStmt):
        read += [target.val for target in statement.targetList or ()]
    return any(isinstance(node, ast.ColumnRef) for part in read if part for node in walk(part))


def _where_edits(text: str, expression: str) -> list[Edit]:
    """`WHERE x` → `WHERE (filter) AND (x)`, or ` WHERE filter` added, in the statement's own WHERE: the one
    outside every parenthesis, before its RETURNING or end."""
    depth = 0
    where: pglast.parser.Token | None = None
    end: int | None = None
    last_end = len(text)
    for token in pglast.parser.scan(text):
        if token.name == "ASCII_40":  # (
            depth += 1
        elif token.name == "ASCII_41":  # )
            depth -= 1
        elif depth == 0 and token.name == "WHERE":
            where = token
        elif depth == 0 and token.name == "RETURNING":
            end = token.start
            break
        elif depth == 0 and token.name == "ASCII_59":  # ;
            break
        last_end = token.end + 1
    space = " " if end is not None else ""  # before RETURNING: keep a blank between
    if end is None:
        end = last_end
    if where is None:
        return [(end, end, f" WHERE {expression}{space}")]
    return [(where.start, where.end + 1, f"WHERE ({expression}) AND ("), (end, end, f"){space}")]


def _qualified_columns(expression: str, relation: str) -> str:
    """The filter with each of its own unqualified columns written `relation.column` (a subquery's are left:
    they may be the subquery's)."""
    prefix = "SELECT "
    try:
        [parsed] = pglast.parse_sql(prefix + expression)
    except (pglast.parser.ParseError, ValueError):
        return expression
    starts = {
        int(node.location) - len(prefix)
        for node in walk(parsed.stmt, skip=(ast.SubLink,))
        if isinstance(node, ast.ColumnRef)
        and node.location is not None
        and len(node.fields or ()) == 1
        and isinstance((node.fields or ())[0], ast.String)
    }
    for start in sorted(starts, reverse=True):
        expression = f"{expression[:start]}{relation}.{expression[start:]}"
    return expression


def _filter(
    conn: psycopg.Connection, filters: Filters, name: str, role: str, commands: tuple[str, ...]
) -> tuple[str, list[str]] | None:
    """The table `name` reads (`schema.table`) and the quals row security adds to `role`'s access to it
    by one of `commands` (policy commands), or None when it adds none."""
    key = (name, role, commands)
    if key not in filters:
        filters[key] = _read_filter(conn, name, role, commands)
    return filters[key]


def _read_filter(
    conn: psycopg.Connection, name: str, role: str, commands: tuple[str, ...]
) -> tuple[str, list[str]] | None:
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                ROW_SECURITY_SQL, {"name": name, "role": role, "commands": list(commands)}
            ).fetchone()
    except psycopg.Error:
        return None
    if row is None or not row["filtered"]:
        return None
    return str(row["qualified"]), policy_quals(row["permissive"], row["restrictive"])
