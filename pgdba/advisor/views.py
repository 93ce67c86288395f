"""Queries that read views: the view's body put in the view's place.

The planner expands a view into its query and pulls a simple one up into the query around it, so an index on
a base table serves a filter written against the view. To find such candidates the advisor reads the query
with each view replaced by `(its body) AS alias` (views on views too); the query itself is still costed as
written. Materialized views are tables here: they get candidates of their own.
"""

from __future__ import annotations

import pglast
import psycopg
from pglast import ast

from pgdba.advisor.parse_tree import walk
from pgdba.sql_text import identifier

# invoker_only: a view whose tables are read with the querying role's rights, row security included
# (security_invoker, 15+); any other reads them as its owner
VIEW_SQL = """
SELECT pg_get_viewdef(c.oid)
  FROM pg_class c
 WHERE c.oid = to_regclass(%(name)s)
   AND c.relkind = 'v'
   AND (NOT %(invoker_only)s
        OR EXISTS (SELECT 1 FROM pg_options_to_table(c.reloptions)
                    WHERE option_name = 'security_invoker' AND lower(option_value) IN ('true', 'on', 'yes', '1')))
"""

# views on views on views …: stop after this many rounds of replacing (a query reading more is left as is)
MAX_DEPTH = 8


def expand_views(conn: psycopg.Connection, text: str, *, invoker_only: bool = False) -> str:
    """The query with every view it reads (only the security_invoker ones, with `invoker_only`) replaced by
    its body; the text itself when it reads none."""
    bodies: dict[str, str | None] = {}
    for _ in range(MAX_DEPTH):
        replacements: list[tuple[int, int, str]] = []
        for relation in range_vars(text):
            name = regclass_text(relation)
            if name not in bodies:
                bodies[name] = _view_body(conn, name, invoker_only)
            body = bodies[name]
            if body is None:
                continue
            start = int(relation.location or 0)  # range_vars keeps only located relations
            end = name_end(text, start)
            alias = "" if relation.alias is not None else " AS " + identifier(str(relation.relname))
            replacements.append((start, end, f"({body}){alias}"))
        if not replacements:
            return text
        expanded = text
        for start, end, replacement in sorted(replacements, reverse=True):
            expanded = expanded[:start] + replacement + expanded[end:]
        try:
            pglast.parse_sql(expanded)
        except pglast.parser.ParseError:
            return text  # a body pglast cannot read back: keep what was understood so far
        text = expanded
    return text


def range_vars(text: str) -> list[ast.RangeVar]:
    """The relations a statement reads, except WITH queries' names (they shadow any view) and the target of
    an UPDATE / DELETE / INSERT (a view written through stays the target)."""
    found: list[ast.RangeVar] = []
    ctes: set[str] = set()
    targets: set[int] = set()
    for node in walk(pglast.parse_sql(text)):
        if isinstance(node, ast.CommonTableExpr) and node.ctename:
            ctes.add(str(node.ctename))
        if isinstance(node, ast.UpdateStmt | ast.DeleteStmt | ast.InsertStmt) and node.relation is not None:
            targets.add(id(node.relation))
        if isinstance(node, ast.RangeVar) and node.location is not None and node.location >= 0:
            found.append(node)
    return [
        r for r in found if id(r) not in targets and (r.schemaname is not None or str(r.relname) not in ctes)
    ]


def _view_body(conn: psycopg.Connection, name: str, invoker_only: bool) -> str | None:
    try:
        row = conn.execute(VIEW_SQL, {"name": name, "invoker_only": invoker_only}).fetchone()
    except psycopg.Error:
        return None
    if row is None or row[0] is None:
        return None
    return str(row[0]).strip().rstrip(";")


def name_end(text: str, start: int) -> int:
    """Where the (possibly qualified, possibly quoted) relation name starting at `start` ends."""
    end = start
    expect_name = True
    for token in pglast.parser.scan(text):
        if token.start < start:
            continue
        if expect_name:
            end = token.end + 1
            expect_name = False
        elif token.name == "ASCII_46":  # `.`
            expect_name = True
        else:
            break
    return end


def regclass_text(relation: ast.RangeVar) -> str:
    parts = [p for p in (relation.catalogname, relation.schemaname, relation.relname) if p]
    return ".".join(identifier(str(p)) for p in parts)
