"""A row-security policy's per-session value (`auth.uid()`, `current_setting('app.tenant')::uuid`) as a
parameter, for `--verify` to measure the query as one of the application's users runs it.

Such a call returns what the application's connection set (a JWT claim, a tenant setting). pgdba's
measuring session has none of it: on the target it returns NULL (or fails), and a scratch copy holds the
tables, not the function. Written as the next `$n`, the comparison `user_id = $n` gets a value sampled from
the column like any parameter's, so the query is measured for a real user's rows.

A call is replaced where it (under a cast) is one side of a comparison whose other side is a column, its
arguments read no column, and it is `current_setting` or a function outside pg_catalog (now() and the
other built-ins keep their meaning).
"""

from __future__ import annotations

from collections.abc import Callable

import pglast
import psycopg
from pglast import ast, enums

from pgdba.advisor.parse_tree import walk
from pgdba.advisor.workload import parameter_count

COMPARISONS = frozenset({"=", "<>", "!=", "<", "<=", ">", ">="})
# built-in functions whose value is the session's own setting (a policy reads the request's claim with it)
SESSION_SETTING_FUNCTIONS = frozenset({"current_setting"})


BUILTIN_FUNCTION_SQL = """
SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = %s AND pronamespace = 'pg_catalog'::regnamespace)
"""


def builtin_functions(conn: psycopg.Connection) -> Callable[[str], bool]:
    """Whether an unqualified function name is one of pg_catalog's (each name asked once)."""
    known: dict[str, bool] = {}

    def is_builtin(name: str) -> bool:
        if name not in known:
            row = conn.execute(BUILTIN_FUNCTION_SQL, (name,)).fetchone()
            known[name] = bool(row and row[0])
        return known[name]

    return is_builtin


def calls_as_parameters(text: str, is_builtin: Callable[[str], bool]) -> tuple[str, list[str]]:
    """(the text with each per-session call compared to a column written `$n`, the calls replaced);
    `is_builtin(name)`: whether an unqualified function name is pg_catalog's."""
    try:
        tree = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return text, []
    calls = [call for node in walk(tree) for call in _compared_calls(node, is_builtin)]
    if not calls:
        return text, []
    spans: dict[tuple[int, int], str] = {}
    for call in calls:
        start = int(call.location or 0)
        end = _call_end(text, start)
        if end is not None:
            spans[start, end] = text[start:end]
    numbers: dict[str, int] = {}  # the same call gets the same parameter
    next_number = parameter_count(text) + 1
    for written in spans.values():
        if written not in numbers:
            numbers[written] = next_number
            next_number += 1
    for (start, end), written in sorted(spans.items(), reverse=True):
        text = f"{text[:start]}${numbers[written]}{text[end:]}"
    return text, list(numbers)


def _compared_calls(node: ast.Node, is_builtin: Callable[[str], bool]) -> list[ast.FuncCall]:
    if not isinstance(node, ast.A_Expr) or node.kind != enums.A_Expr_Kind.AEXPR_OP:
        return []
    operator = node.name[-1].sval if node.name else ""
    if operator not in COMPARISONS:
        return []
    sides = [_uncast(node.lexpr), _uncast(node.rexpr)]
    found = []
    for side, other in (sides, sides[::-1]):
        if (
            isinstance(side, ast.FuncCall)
            and isinstance(other, ast.ColumnRef)
            and _per_session(side, is_builtin)
        ):
            found.append(side)
    return found


def _uncast(node: object) -> object:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return node


def _per_session(call: ast.FuncCall, is_builtin: Callable[[str], bool]) -> bool:
    if call.location is None or any(
        isinstance(n, ast.ColumnRef | ast.SubLink) for n in walk(list(call.args or ()))
    ):
        return False
    names = [str(part.sval) for part in call.funcname or () if isinstance(part, ast.String)]
    if not names:
        return False
    if names[-1] in SESSION_SETTING_FUNCTIONS:
        return names[:-1] in ([], ["pg_catalog"])
    if len(names) > 1:
        return names[0] != "pg_catalog"
    return not is_builtin(names[0])


def _call_end(text: str, start: int) -> int | None:
    """Where the call whose name starts at `start` ends: after the parenthesis that closes its arguments."""
    depth = 0
    for token in pglast.parser.scan(text):
        if token.start < start:
            continue
        if token.name == "ASCII_40":  # (
            depth += 1
        elif token.name == "ASCII_41":  # )
            depth -= 1
            if depth == 0:
                return token.end + 1
    return None
