"""What a statement is (its kind, whether it is application DML) without pglast's Python parse tree.

The query checks parse a statement fully (pgdba.advisor.query_columns) only when its numbers show an issue;
every other statement is still counted as analysed when it is application DML, and the advisor's write
counts keep only INSERTs and UPDATEs. pglast builds a Python object per parse node, about 1 ms for an ORM's
40-column SELECT, so 5,000 such statements took seconds to sort. PostgreSQL's own parser hands out the same
tree as JSON about 15 times faster; this module reads from it what `is_application_query` reads from the
Python tree: the statement's kind, and for a SELECT whether it reads a table outside the catalogs (a CTE's
name is no table; a function in FROM is none).
"""

from __future__ import annotations

import json
import re

import pglast

# the parse nodes of the statements the query checks judge, by kind
DML_STATEMENTS = {
    "SelectStmt": "select",
    "InsertStmt": "insert",
    "UpdateStmt": "update",
    "DeleteStmt": "delete",
    "MergeStmt": "merge",
}
CATALOG_SCHEMAS = frozenset({"pg_catalog", "information_schema"})

# the first statement's node: {"version":…,"stmts":[{"stmt":{"SelectStmt":{…
_FIRST_STATEMENT = re.compile(r'"stmts":\[\{"stmt":\{"(\w+)"')
_NEXT_STATEMENT = re.compile(r'\},\{"stmt":\{"\w+"')
_STRING = r'"((?:[^"\\]|\\.)*)"'
# a table read (RangeVar) or written by a data-modifying CTE (its statement's `relation`): the names come
# first, before any nested object
_NAMES = r'\{(?:"catalogname":' + _STRING + r',)?(?:"schemaname":' + _STRING + r',)?"relname":' + _STRING
_TABLE = re.compile(r'(?:"RangeVar":|"(?:Insert|Update|Delete|Merge)Stmt":\{"relation":)' + _NAMES)
_CTE_NAME = re.compile(r'"CommonTableExpr":\{"ctename":' + _STRING)
# a function called (FuncCall, CALL's funccall): its name's parts
_FUNCTION_NAME = re.compile(r'"funcname":\[((?:\{"String":\{"sval":"(?:[^"\\]|\\.)*"\}\},?)+)\]')
_SVAL = re.compile(r'"sval":' + _STRING)


def _name(json_string: str | None) -> str | None:
    return None if json_string is None else str(json.loads(f'"{json_string}"'))


def _json_tree(query: str) -> tuple[str, str] | None:
    """The parser's JSON tree of a single statement and the name of its node (SelectStmt, InsertStmt, …);
    None for a text PostgreSQL's parser rejects or that holds more than one statement."""
    try:
        tree = pglast.parser.parse_sql_json(query)
    except pglast.parser.ParseError:
        return None
    first = _FIRST_STATEMENT.search(tree)
    if first is None or _NEXT_STATEMENT.search(tree):
        return None
    return tree, first.group(1)


def statement_node(query: str) -> str | None:
    """The parse node of a single statement (SelectStmt, InsertStmt, CreateStmt, …), or None (see
    _json_tree): what pglast's parse tree would say, without building it."""
    parsed = _json_tree(query)
    return None if parsed is None else parsed[1]


def is_application_text(query: str) -> bool:
    """DML on user tables (pgdba.checks.statement_recommendations.is_application_query), read from the
    parser's JSON tree; False for a text PostgreSQL's parser rejects or that holds more than one statement."""
    parsed = _json_tree(query)
    if parsed is None:
        return False
    tree, node = parsed
    kind = DML_STATEMENTS.get(node)
    if kind is None:
        return False
    if kind != "select":
        return True
    ctes = {_name(m.group(1)) for m in _CTE_NAME.finditer(tree)}
    for match in _TABLE.finditer(tree):
        schema, table = _name(match.group(2)), _name(match.group(3)) or ""
        if schema is None and table in ctes:
            continue
        if not (table.startswith("pg_") or (schema or "") in CATALOG_SCHEMAS):
            return True
    return False


def called_functions(query: str) -> list[str]:
    """The functions a single statement calls, as written (`f`, `schema.f`), in the order they appear."""
    parsed = _json_tree(query)
    if parsed is None:
        return []
    return [
        ".".join(str(_name(part)) for part in _SVAL.findall(match.group(1)))
        for match in _FUNCTION_NAME.finditer(parsed[0])
    ]
