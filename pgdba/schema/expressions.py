"""Normalised SQL expressions for defaults, CHECK constraints and index expressions.

Both sides are parsed with PostgreSQL's own parser (pglast), rewritten to one form and printed again, so
spelling, parentheses and quoting never count as drift. The built-in equivalences (listed in the README):
`now()` ≡ `CURRENT_TIMESTAMP` ≡ `transaction_timestamp()`, a cast to the column's own type is dropped
(`'a'::text` ≡ `'a'` on a text column), numbers compare by value (`'0'::numeric` ≡ `0` ≡ `0.00`),
JSON literals compare by content, `nextval('…_seq'::regclass)` is the serial sequence whatever its name;
date / time / interval / uuid literals compare by value in the type they are read as (literals.py).
What PostgreSQL rewrites when it stores an expression is rewritten the same way on the source side: IN /
NOT IN lists, BETWEEN, LIKE / ILIKE / SIMILAR TO, row comparisons, nested AND / OR; casts it adds that keep
the value (`'-1'::integer`, `'utc'::text`, `(name)::text`) are dropped.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import pglast
from pglast import ast, enums
from pglast.stream import RawStream

from pgdba.schema.literals import TYPED_LITERAL_TYPES, canonical_literal
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
    _typed_literals(node, element)  # `'2020-01-01T00:00:00Z'` on a timestamp column, as it is stored
    canonical = RawStream()(_rewrite(node, element, strip_all_casts=False))
    return Default(DefaultKind.EXPRESSION, canonical, shown)


def normalise_expression(text: str, column_types: Mapping[str, str] | None = None) -> str:
    """A CHECK / index / generated expression in canonical form; constant casts are dropped (PostgreSQL
    adds them when it stores `price >= 0` on a numeric column). `column_types` (the table's columns' types)
    lets a literal compared with a column be read as that column's type: `day IN ('2020-1-2')` on a date
    column is stored `day = ANY (ARRAY['2020-01-02'::date])`."""
    types = tuple(sorted((column_types or {}).items()))
    return _normalised_expression(
        text, tuple((n, t) for n, t in types if base_type(t) in TYPED_LITERAL_TYPES)
    )


@lru_cache(maxsize=8192)
def _normalised_expression(text: str, column_types: tuple[tuple[str, str], ...]) -> str:
    try:
        node = _parse_expression(text.strip())
    except ExpressionError:
        return " ".join(text.split())
    if column_types:
        _literals_compared_with_columns(node, {name: base_type(kind) for name, kind in column_types})
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


# --- typed literals: compared by value in the type PostgreSQL reads them as (see literals.py) ----------

# operators whose unknown-typed literal operand PostgreSQL reads as the other operand's type
_SAME_TYPE_OPERATORS = frozenset({"=", "<>", "!=", "<", ">", "<=", ">=", "@>", "<@"})
_LIST_KINDS = frozenset(
    {
        enums.A_Expr_Kind.AEXPR_IN,
        enums.A_Expr_Kind.AEXPR_OP_ANY,
        enums.A_Expr_Kind.AEXPR_OP_ALL,
        enums.A_Expr_Kind.AEXPR_DISTINCT,
        enums.A_Expr_Kind.AEXPR_NOT_DISTINCT,
        enums.A_Expr_Kind.AEXPR_BETWEEN,
        enums.A_Expr_Kind.AEXPR_NOT_BETWEEN,
        enums.A_Expr_Kind.AEXPR_BETWEEN_SYM,
        enums.A_Expr_Kind.AEXPR_NOT_BETWEEN_SYM,
    }
)


def _typed_literals(node: Any, type_name: str) -> None:
    """Rewrite in place the quoted literals of `node` (one, a list or an ARRAY[…] of them) read as `type_name`."""
    if isinstance(node, tuple | list):
        for item in node:
            _typed_literals(item, type_name)
    elif isinstance(node, ast.A_ArrayExpr):
        _typed_literals(node.elements or (), type_name)
    elif isinstance(node, ast.A_Const) and isinstance(node.val, ast.String) and not node.isnull:
        canonical = canonical_literal(str(node.val.sval or ""), type_name)
        if canonical is not None:
            node.val = ast.String(sval=canonical)


def _literals_compared_with_columns(node: Any, column_types: dict[str, str]) -> None:
    """`at > '2020-01-01'` with `at` a timestamp column: the literal is read as a timestamp."""
    if isinstance(node, tuple | list):
        for item in node:
            _literals_compared_with_columns(item, column_types)
        return
    if not isinstance(node, ast.Node):
        return
    if isinstance(node, ast.A_Expr) and (
        node.kind in _LIST_KINDS or _operator_name(node) in _SAME_TYPE_OPERATORS
    ):
        left, right = _column_type(node.lexpr, column_types), _column_type(node.rexpr, column_types)
        if left:
            _typed_literals(node.rexpr, left)
        elif right and node.kind == enums.A_Expr_Kind.AEXPR_OP:
            _typed_literals(node.lexpr, right)
    for slot in node:
        _literals_compared_with_columns(getattr(node, slot), column_types)


def _column_type(node: Any, column_types: dict[str, str]) -> str:
    if not isinstance(node, ast.ColumnRef) or not node.fields:
        return ""
    last = node.fields[-1]
    return column_types.get(str(last.sval), "") if isinstance(last, ast.String) else ""


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
        return _cast(node, element_type, strip_all_casts=strip_all_casts)
    if isinstance(node, ast.A_Expr):
        return _operator(node)
    if isinstance(node, ast.BoolExpr):
        return _flattened(node)
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


# --- casts ---------------------------------------------------------------------------------------------

# types PostgreSQL gives a quoted literal from its position (`coalesce(name, '')` on a varchar column stores
# `''::character varying`, `now() AT TIME ZONE 'utc'` stores `'utc'::text`, `to_tsvector('english', …)`
# stores `'english'::regconfig`) and whose value is the literal's text unchanged (without a length that
# could cut it); internal names, as pglast reads a cast
_LITERAL_TYPES = frozenset(
    {
        "text",
        "varchar",
        "bpchar",
        "name",
        "unknown",
        "regclass",
        "regconfig",
        "regdictionary",
        "regtype",
        "regproc",
        "regprocedure",
        "regoper",
        "regoperator",
        "regnamespace",
        "regrole",
        "regcollation",
    }
)
# numeric types a number keeps its value in (PostgreSQL prints a negative constant with its literal's
# type, `'-1'::integer` or `'-1.5'::numeric`, and casts it to the column's type on its own)
_INTEGER_BOUNDS = {"int2": 2**15, "int4": 2**31, "int8": 2**63}
_FLOAT_TYPES = frozenset({"float4", "float8", "numeric"})
_TEXT_TYPES = frozenset({"text", "varchar"})


def _cast(node: ast.TypeCast, element_type: str, *, strip_all_casts: bool) -> Any:
    """A cast that does not change the value is dropped; PostgreSQL adds them when it stores an expression."""
    type_name: Any = node.typeName
    internal = _internal_type_name(type_name)
    plain = not type_name.typmods and not type_name.arrayBounds
    arg = node.arg
    cast_type = base_type(format_type_name(type_name))
    if cast_type in TYPED_LITERAL_TYPES and (
        isinstance(arg, ast.A_Const) or (type_name.arrayBounds and isinstance(arg, ast.A_ArrayExpr))
    ):
        _typed_literals(arg, cast_type)  # `'90 minutes'::interval` is stored `'01:30:00'::interval`
    number = _number(arg, internal)
    if number is not None and _keeps_value(number, internal, type_name):
        return _number_constant(number)
    is_constant = isinstance(arg, ast.A_Const | ast.A_ArrayExpr)
    is_string = isinstance(arg, ast.A_Const) and isinstance(arg.val, ast.String)
    if plain and is_string and internal in _LITERAL_TYPES:
        return arg
    if plain and not is_constant and internal in _TEXT_TYPES:
        return arg  # (name)::text: PostgreSQL's implicit varchar/char → text, written out
    if strip_all_casts and is_constant:
        return arg
    if cast_type == element_type:
        return arg
    return node


def _internal_type_name(type_name: Any) -> str:
    names = [str(n.sval) for n in type_name.names or ()]
    return names[-1] if names else ""


def _number(node: Any, internal: str) -> Decimal | None:
    """The value of a numeric constant (or of a quoted number cast to a numeric type): finite only."""
    if not isinstance(node, ast.A_Const) or node.isnull:
        return None
    value: Any = node.val
    if isinstance(value, ast.Integer):
        text = str(value.ival)
    elif isinstance(value, ast.Float):
        text = str(value.fval)
    elif isinstance(value, ast.String) and (internal in _INTEGER_BOUNDS or internal in _FLOAT_TYPES):
        text = str(value.sval or "")
    else:
        return None
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _keeps_value(number: Decimal, internal: str, type_name: Any) -> bool:
    if type_name.arrayBounds:
        return False
    modifiers = [
        m.val.ival for m in type_name.typmods or () if isinstance(getattr(m, "val", None), ast.Integer)
    ]
    if len(modifiers) != len(type_name.typmods or ()):
        return False
    if internal in _INTEGER_BOUNDS:
        bound = _INTEGER_BOUNDS[internal]
        return not modifiers and number == number.to_integral_value() and -bound <= number < bound
    if internal == "numeric" and modifiers:
        precision, scale = modifiers[0], modifiers[1] if len(modifiers) > 1 else 0
        exponent = number.normalize().as_tuple().exponent
        digits = len(number.to_integral_value().as_tuple().digits) if number else 0
        return isinstance(exponent, int) and -exponent <= scale and digits + scale <= precision
    return internal in _FLOAT_TYPES and not modifiers


def _number_constant(number: Decimal) -> ast.A_Const:
    normal = format(number.normalize(), "f")
    if "." not in normal and abs(number) < 2**31:
        return ast.A_Const(isnull=False, val=ast.Integer(ival=int(normal)))
    return ast.A_Const(isnull=False, val=ast.Float(fval=normal))


# --- operators PostgreSQL rewrites when it stores an expression -----------------------------------------

_IN = enums.A_Expr_Kind.AEXPR_IN
_PATTERN = (enums.A_Expr_Kind.AEXPR_LIKE, enums.A_Expr_Kind.AEXPR_ILIKE, enums.A_Expr_Kind.AEXPR_SIMILAR)
_BETWEEN = {
    enums.A_Expr_Kind.AEXPR_BETWEEN: (False, False),
    enums.A_Expr_Kind.AEXPR_NOT_BETWEEN: (True, False),
    enums.A_Expr_Kind.AEXPR_BETWEEN_SYM: (False, True),
    enums.A_Expr_Kind.AEXPR_NOT_BETWEEN_SYM: (True, True),
}


def _operator(node: ast.A_Expr) -> Any:
    """The form PostgreSQL stores (transformAExprIn / …Between, make_row_comparison_op): `x IN ('a', 'b')`
    → `x = ANY(ARRAY['a', 'b'])`, `x NOT IN ('a')` → `x <> 'a'`, `x BETWEEN 0 AND 9` → `x >= 0 AND x <= 9`,
    `x LIKE 'a%'` → `x ~~ 'a%'`, `(a, b) = (1, 2)` → `a = 1 AND b = 2`."""
    kind = node.kind
    if kind == _IN:
        return _in_list(node)
    if kind in _BETWEEN:
        return _between(node, *_BETWEEN[kind])
    if kind in _PATTERN:
        return _binary(_operator_name(node), node.lexpr, node.rexpr)
    if kind in (enums.A_Expr_Kind.AEXPR_OP_ANY, enums.A_Expr_Kind.AEXPR_OP_ALL):
        value: Any = node.lexpr
        items: Any = node.rexpr.elements if isinstance(node.rexpr, ast.A_ArrayExpr) else ()
        if _is_numeric_column(value) and any(_is_decimal(i) for i in items or ()):
            node.lexpr = value.arg  # `i IN (1, 2.5)` is stored `(i)::numeric = ANY (ARRAY[…])`
        return node
    if kind == enums.A_Expr_Kind.AEXPR_OP:
        left: Any = node.lexpr
        right: Any = node.rexpr
        negated = _number(right, "") if left is None and _operator_name(node) == "-" else None
        if negated is not None:
            return _number_constant(-negated)  # `-1::integer` is `-(1::integer)`, stored `(- 1)`
        if _is_decimal(right) and _is_numeric_column(left):
            node.lexpr = left.arg  # `i * 2.5` on an integer column is stored `(i)::numeric * 2.5`
        elif _is_decimal(left) and _is_numeric_column(right):
            node.rexpr = right.arg
        return _row_comparison(node)
    return node


def _is_decimal(node: Any) -> bool:
    """A constant PostgreSQL types numeric: a number with a fraction."""
    return isinstance(node, ast.A_Const) and isinstance(node.val, ast.Float) and "." in str(node.val.fval)


def _is_numeric_column(node: Any) -> bool:
    """`(column)::numeric`: the implicit cast PostgreSQL writes out when the other operand is numeric."""
    if not isinstance(node, ast.TypeCast) or not isinstance(node.arg, ast.ColumnRef):
        return False
    type_name: Any = node.typeName
    return _internal_type_name(type_name) == "numeric" and not type_name.typmods and not type_name.arrayBounds


def _operator_name(node: ast.A_Expr) -> str:
    names = [str(n.sval) for n in node.name or ()]
    return names[-1] if names else ""


def _binary(name: str, left: Any, right: Any) -> ast.A_Expr:
    return ast.A_Expr(
        kind=enums.A_Expr_Kind.AEXPR_OP,
        name=(ast.String(sval=name),),
        lexpr=copy.deepcopy(left),
        rexpr=copy.deepcopy(right),
    )


def _bool(operator: enums.BoolExprType, args: list[Any]) -> Any:
    if len(args) == 1:
        return args[0]
    return _flattened(ast.BoolExpr(boolop=operator, args=tuple(args)))


def _flattened(node: ast.BoolExpr) -> ast.BoolExpr:
    """`a AND (b AND c)` ≡ `(a AND b) AND c` ≡ `a AND b AND c`; PostgreSQL nests what the parser flattens."""
    if node.boolop == enums.BoolExprType.NOT_EXPR:
        return node
    args: list[Any] = []
    for arg in node.args or ():
        if isinstance(arg, ast.BoolExpr) and arg.boolop == node.boolop:
            args.extend(arg.args or ())
        else:
            args.append(arg)
    node.args = tuple(args)
    return node


def _in_list(node: ast.A_Expr) -> Any:
    name = _operator_name(node)
    items = list(node.rexpr) if isinstance(node.rexpr, tuple | list) else [node.rexpr]
    combine = enums.BoolExprType.OR_EXPR if name == "=" else enums.BoolExprType.AND_EXPR
    rows = isinstance(node.lexpr, ast.RowExpr) or any(isinstance(i, ast.RowExpr) for i in items)
    constants = [i for i in items if not _has_column(i)]
    comparisons: list[Any] = []
    if not rows and len(constants) > 1:
        kind = enums.A_Expr_Kind.AEXPR_OP_ANY if name == "=" else enums.A_Expr_Kind.AEXPR_OP_ALL
        array = ast.A_ArrayExpr(elements=tuple(constants))
        comparisons.append(
            ast.A_Expr(kind=kind, name=(ast.String(sval=name),), lexpr=copy.deepcopy(node.lexpr), rexpr=array)
        )
        items = [i for i in items if _has_column(i)]
    comparisons.extend(_row_comparison(_binary(name, node.lexpr, item)) for item in items)
    return _bool(combine, comparisons)


def _between(node: ast.A_Expr, negated: bool, symmetric: bool) -> Any:
    low, high = tuple(node.rexpr or ())
    value = node.lexpr

    def within(a: Any, b: Any) -> Any:
        if negated:
            return _bool(enums.BoolExprType.OR_EXPR, [_binary("<", value, a), _binary(">", value, b)])
        return _bool(enums.BoolExprType.AND_EXPR, [_binary(">=", value, a), _binary("<=", value, b)])

    if not symmetric:
        return within(low, high)
    either = enums.BoolExprType.AND_EXPR if negated else enums.BoolExprType.OR_EXPR
    return ast.BoolExpr(boolop=either, args=(within(low, high), within(high, low)))


def _row_comparison(node: ast.A_Expr) -> Any:
    name = _operator_name(node)
    left, right = node.lexpr, node.rexpr
    if name not in ("=", "<>") or not isinstance(left, ast.RowExpr) or not isinstance(right, ast.RowExpr):
        return node
    pairs = list(zip(left.args or (), right.args or (), strict=False))
    if not pairs or len(pairs) != len(left.args or ()) or len(pairs) != len(right.args or ()):
        return node
    combine = enums.BoolExprType.AND_EXPR if name == "=" else enums.BoolExprType.OR_EXPR
    return _bool(combine, [_binary(name, a, b) for a, b in pairs])


def _has_column(node: Any) -> bool:
    if isinstance(node, ast.ColumnRef):
        return True
    if isinstance(node, ast.Node):
        return any(_has_column(getattr(node, slot)) for slot in node)
    if isinstance(node, tuple | list):
        return any(_has_column(item) for item in node)
    return False


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
        return _number_constant(number) if number.is_finite() else node
    if isinstance(value, ast.String) and element_type == "boolean":
        lowered = str(value.sval or "").strip().lower()
        if lowered in ("t", "true", "y", "yes", "on", "1"):
            return ast.A_Const(isnull=False, val=ast.Boolean(boolval=True))
        if lowered in ("f", "false", "n", "no", "off", "0"):
            return ast.A_Const(isnull=False, val=ast.Boolean(boolval=False))
    if isinstance(value, ast.String) and element_type in ("json", "jsonb"):
        canonical = canonical_literal(str(value.sval or ""), element_type)
        return node if canonical is None else ast.A_Const(isnull=False, val=ast.String(sval=canonical))
    return node
