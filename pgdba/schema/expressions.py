"""Normalised SQL expressions for defaults, CHECK constraints and index expressions.

Both sides are parsed with PostgreSQL's own parser (pglast), rewritten to one form and printed again, so
spelling, parentheses and quoting never count as drift. The built-in equivalences (listed in the README):
`now()` ≡ `CURRENT_TIMESTAMP` ≡ `transaction_timestamp()`, a cast to the column's own type is dropped
(`'a'::text` ≡ `'a'` on a text column), numbers compare by value (`'0'::numeric` ≡ `0` ≡ `0.00`),
JSON literals compare by content, `nextval('…_seq'::regclass)` is the serial sequence whatever its name.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import pglast
from pglast import ast, enums
from pglast.stream import RawStream

from pgdba.schema.model import Default, DefaultKind
from pgdba.schema.types import base_type, format_type_name

_NUMERIC = frozenset({"smallint", "integer", "bigint", "numeric", "real", "double precision", "money", "oid"})
_NOW = frozenset({"now", "transaction_timestamp"})
_CURRENT_TIMESTAMP = enums.SQLValueFunctionOp.SVFOP_CURRENT_TIMESTAMP


class ExpressionError(ValueError):
    """Text that PostgreSQL's parser does not accept as an expression."""


@lru_cache(maxsize=8192)
def normalise_default(text: str, column_type: str = "") -> Default:
    """A database default as written by a source or printed by pg_get_expr(), in canonical form."""
    shown = text.strip()
    try:
        node = _parse_expression(shown)
    except ExpressionError:
        return Default(DefaultKind.EXPRESSION, " ".join(shown.split()), shown)
    if _is_nextval(node):
        return Default(DefaultKind.SEQUENCE, "nextval", shown)
    if column_type.endswith("[]"):
        node = _array_literal_as_constructor(node)
    element = base_type(column_type)
    canonical = RawStream()(_rewrite(node, element, strip_all_casts=False))
    return Default(DefaultKind.EXPRESSION, canonical, shown)


@lru_cache(maxsize=8192)
def normalise_expression(text: str) -> str:
    """A CHECK / index / generated expression in canonical form; constant casts are dropped (PostgreSQL
    adds them when it stores `price >= 0` on a numeric column)."""
    try:
        node = _parse_expression(text.strip())
    except ExpressionError:
        return " ".join(text.split())
    return RawStream()(_rewrite(node, "", strip_all_casts=True))


def index_key_expression(text: str) -> tuple[str, str]:
    """An index key written as SQL text, as drizzle's `` sql`lower(${t.email}) text_pattern_ops` `` writes
    it: (the expression in canonical form, its operator class or "")."""
    try:
        statements = pglast.parse_sql(f"CREATE INDEX ON t ({text})")
    except pglast.parser.ParseError:
        return normalise_expression(text), ""
    statement = statements[0].stmt if len(statements) == 1 else None
    params: tuple[Any, ...] = tuple(getattr(statement, "indexParams", None) or ())
    key = params[0] if isinstance(statement, ast.IndexStmt) and len(params) == 1 else None
    if key is None or key.expr is None:
        return normalise_expression(text), ""
    opclass = ".".join(str(part.sval) for part in key.opclass or ())
    return RawStream()(_rewrite(key.expr, "", strip_all_casts=True)), opclass


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _parse_expression(text: str) -> Any:
    if not text:
        raise ExpressionError("empty expression")
    try:
        statements = pglast.parse_sql(f"SELECT ({text})")
    except pglast.parser.ParseError as exc:
        raise ExpressionError(str(exc)) from None
    if len(statements) != 1:
        raise ExpressionError("more than one statement")
    select = statements[0].stmt
    targets = getattr(select, "targetList", None)
    if not isinstance(select, ast.SelectStmt) or not targets or len(targets) != 1 or select.fromClause:
        raise ExpressionError("not a single expression")
    value: Any = targets[0].val
    return value


def _array_literal_as_constructor(node: Any) -> Any:
    """`'{a,b}'` (drizzle-kit writes array defaults so) ≡ `ARRAY['a', 'b']` (Prisma writes them so)."""
    literal = node.arg if isinstance(node, ast.TypeCast) else node
    if not (isinstance(literal, ast.A_Const) and isinstance(literal.val, ast.String)):
        return node
    items = parse_array_literal(str(literal.val.sval or ""))
    if items is None:
        return node
    constructor = _array_expression(items)
    if isinstance(node, ast.TypeCast):
        node.arg = constructor
        return node
    return constructor


def _array_expression(items: list[Any]) -> ast.A_ArrayExpr:
    elements = tuple(
        _array_expression(item)
        if isinstance(item, list)
        else ast.A_Const(isnull=True)
        if item is None
        else ast.A_Const(isnull=False, val=ast.String(sval=item))
        for item in items
    )
    return ast.A_ArrayExpr(elements=elements or None)


def parse_array_literal(text: str) -> list[Any] | None:
    """PostgreSQL's array input syntax `{a,"b c",NULL,{1,2}}` → nested lists of str / None; None when the
    text is not one (dimension decorations such as `[0:1]={…}` are not read)."""
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        items, end = _array_items(text, 0)
    except (ValueError, IndexError):
        return None
    return items if not text[end:].strip() else None


def _array_items(text: str, position: int) -> tuple[list[Any], int]:
    """The items of the `{…}` that starts at `position`, and the position after its `}`."""
    items: list[Any] = []
    position = _skip_spaces(text, position + 1)
    if text[position] == "}":
        return items, position + 1
    while True:
        position = _skip_spaces(text, position)
        item: Any
        if text[position] == "{":
            item, position = _array_items(text, position)
        elif text[position] == '"':
            item, position = _quoted_item(text, position + 1)
        else:
            item, position = _unquoted_item(text, position)
        items.append(item)
        position = _skip_spaces(text, position)
        if text[position] == "}":
            return items, position + 1
        if text[position] != ",":
            raise ValueError("expected , or }")
        position += 1


def _skip_spaces(text: str, position: int) -> int:
    while text[position].isspace():
        position += 1
    return position


def _quoted_item(text: str, position: int) -> tuple[str, int]:
    chars: list[str] = []
    while text[position] != '"':
        if text[position] == "\\":
            position += 1
        chars.append(text[position])
        position += 1
    return "".join(chars), position + 1


def _unquoted_item(text: str, position: int) -> tuple[str | None, int]:
    chars: list[str] = []
    escaped = False
    while text[position] not in ",}":
        if text[position] in '{"':
            raise ValueError("unexpected character in an unquoted array item")
        if text[position] == "\\":
            position += 1
            escaped = True
        chars.append(text[position])
        position += 1
    value = "".join(chars).strip()
    if not value:
        raise ValueError("empty array item")
    return (None if value.upper() == "NULL" and not escaped else value), position


def _is_nextval(node: Any) -> bool:
    return isinstance(node, ast.FuncCall) and _function_name(node) == "nextval"


def _function_name(node: Any) -> str:
    names = [n.sval for n in node.funcname]
    return names[-1].lower()


def _rewrite(node: Any, element_type: str, *, strip_all_casts: bool) -> Any:
    """Rewrite one node (children first) into the canonical form."""
    for slot in node:
        child = getattr(node, slot)
        if isinstance(child, ast.Node):
            setattr(node, slot, _rewrite(child, element_type, strip_all_casts=strip_all_casts))
        elif isinstance(child, tuple) and child and isinstance(child[0], ast.Node):
            setattr(
                node,
                slot,
                tuple(
                    _rewrite(c, element_type, strip_all_casts=strip_all_casts)
                    if isinstance(c, ast.Node)
                    else c
                    for c in child
                ),
            )
    if isinstance(node, ast.TypeCast):
        cast_to = base_type(format_type_name(node.typeName))
        is_constant = isinstance(node.arg, ast.A_Const | ast.A_ArrayExpr)
        implicit_text = isinstance(node.arg, ast.ColumnRef) and cast_to in ("text", "character varying")
        if strip_all_casts and (is_constant or implicit_text):
            return node.arg
        if cast_to == element_type or (is_constant and cast_to == "unknown"):
            return node.arg
        return node
    if isinstance(node, ast.SQLValueFunction) and node.op == _CURRENT_TIMESTAMP:
        return _now()
    if isinstance(node, ast.FuncCall):
        names = [n.sval for n in (node.funcname or ())]
        if names and names[0] == "pg_catalog":
            node.funcname = tuple(ast.String(sval=n) for n in names[1:])
        if _function_name(node) in _NOW and not node.args:
            return _now()
        return node
    if isinstance(node, ast.A_Const):
        return _constant(node, element_type)
    if strip_all_casts and isinstance(node, ast.ColumnRef) and len(node.fields or ()) > 1:
        node.fields = tuple(node.fields or ())[
            -1:
        ]  # "t"."c" ≡ c inside the table's own CHECK / index predicate
    return node


def _now() -> ast.FuncCall:
    return ast.FuncCall(
        funcname=(ast.String(sval="now"),), funcformat=enums.CoercionForm.COERCE_EXPLICIT_CALL
    )


def _constant(node: Any, element_type: str) -> Any:
    value: Any = node.val
    if value is None or node.isnull:
        return node
    if isinstance(value, ast.Integer | ast.Float) or (
        isinstance(value, ast.String) and element_type in _NUMERIC
    ):
        text = (
            str(value.ival)
            if isinstance(value, ast.Integer)
            else str(getattr(value, "fval", None) or getattr(value, "sval", ""))
        )
        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            return node
        normal = format(number.normalize(), "f")
        if "." not in normal and abs(number) < 2**31:
            return ast.A_Const(isnull=False, val=ast.Integer(ival=int(normal)))
        return ast.A_Const(isnull=False, val=ast.Float(fval=normal))
    if isinstance(value, ast.String) and element_type == "boolean":
        lowered = str(value.sval or "").strip().lower()
        if lowered in ("t", "true", "y", "yes", "on", "1"):
            return ast.A_Const(isnull=False, val=ast.Boolean(boolval=True))
        if lowered in ("f", "false", "n", "no", "off", "0"):
            return ast.A_Const(isnull=False, val=ast.Boolean(boolval=False))
    if isinstance(value, ast.String) and element_type in ("json", "jsonb"):
        try:
            parsed = json.loads(str(value.sval or ""))
        except ValueError:
            return node
        return ast.A_Const(
            isnull=False, val=ast.String(sval=json.dumps(parsed, sort_keys=True, separators=(",", ":")))
        )
    return node
