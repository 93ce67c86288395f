"""Which workload statements are plain reads: all `pgdba pool bench` runs without --apply.

PostgreSQL's own parser (through pglast) classifies each statement before anything runs. A plain read is a
SELECT, VALUES, TABLE or WITH query, or an EXPLAIN of one, with no data-modifying WITH, no SELECT … INTO, no
row locks and no call of set_config() (which can switch the session or the transaction out of read-only)
or of dblink (another session, which pgdba's read-only settings do not cover). This check is the first
line only: the load test also runs each request in a READ ONLY transaction, so that a function which
writes fails on the server.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pglast
from pglast import ast, enums

from pgdba.advisor.parse_tree import walk
from pgdba.errors import InputError

PLAIN_READS = "SELECT, VALUES, TABLE, WITH, EXPLAIN of those"
_DATA_MODIFYING = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)
# commands whose node name does not spell them
_COMMAND_NAMES = {
    "Create": "CREATE TABLE",
    "Index": "CREATE INDEX",
    "VariableShow": "SHOW",
    "RefreshMatView": "REFRESH MATERIALIZED VIEW",
}
_RESETS = (enums.VariableSetKind.VAR_RESET, enums.VariableSetKind.VAR_RESET_ALL)


def check_plain_reads(statements: Sequence[str], workload_name: str) -> None:
    """Refuse, naming the first offender, a workload with any statement that is not a plain read."""
    for number, statement in enumerate(statements, start=1):
        try:
            problem = not_a_plain_read(statement)
        except pglast.parser.ParseError as exc:
            raise InputError(f"{workload_name}: statement {number} is not valid SQL: {exc}") from None
        if problem is not None:
            raise InputError(
                f"{workload_name}: statement {number} {problem}, not a plain read ({PLAIN_READS}): "
                "pass --apply to run a workload that may write"
            )


def not_a_plain_read(statement: str) -> str | None:
    """What keeps the statement from being a plain read ("is SET", "calls set_config()"), None for a read.
    Raises pglast's ParseError for a text that is not SQL."""
    parsed = pglast.parse_sql(statement)
    if len(parsed) != 1:
        return f"holds {len(parsed)} statements"
    root = parsed[0].stmt
    assert root is not None  # a parsed statement always has its node
    explained = root.query if isinstance(root, ast.ExplainStmt) else None
    if explained is not None:
        if not isinstance(explained, ast.SelectStmt):
            return f"is EXPLAIN of {command_name(explained)}"
        return _writing_part(explained)
    if not isinstance(root, ast.SelectStmt):
        return f"is {command_name(root)}"
    return _writing_part(root)


def _writing_part(select: ast.SelectStmt) -> str | None:
    """What inside a SELECT may write or leave read-only mode, None when nothing does."""
    for node in walk(select):
        if isinstance(node, _DATA_MODIFYING):
            return f"has a data-modifying WITH ({command_name(node)})"
        if isinstance(node, ast.IntoClause):
            return "is SELECT … INTO (it creates a table)"
        if isinstance(node, ast.LockingClause):
            return "locks rows (FOR UPDATE/SHARE)"
        if isinstance(node, ast.FuncCall):
            function = _function_name(node)
            if function == "set_config":
                return "calls set_config()"
            if function.startswith("dblink"):
                return f"calls {function}() (another session, not read-only)"
    return None


def _function_name(call: ast.FuncCall) -> str:
    last = call.funcname[-1] if call.funcname else None
    return str(last.sval) if isinstance(last, ast.String) else ""


def command_name(stmt: ast.Node) -> str:
    """The SQL command a statement node is, as the user would write it: SET, BEGIN, DELETE, VACUUM, …"""
    if isinstance(stmt, ast.VariableSetStmt):
        if stmt.kind in _RESETS:
            return "RESET"
        # SET TRANSACTION …, SET SESSION CHARACTERISTICS …
        return f"SET {stmt.name}" if stmt.kind == enums.VariableSetKind.VAR_SET_MULTI else "SET"
    if isinstance(stmt, ast.TransactionStmt) and stmt.kind is not None:
        kind = stmt.kind.name.removeprefix("TRANS_STMT_").replace("_", " ")
        return {"START": "START TRANSACTION", "PREPARE": "PREPARE TRANSACTION"}.get(kind, kind)
    if isinstance(stmt, ast.VacuumStmt):
        return "VACUUM" if stmt.is_vacuumcmd else "ANALYZE"
    node = type(stmt).__name__.removesuffix("Stmt")
    return _COMMAND_NAMES.get(node) or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", node).upper()
