"""Type names in the form PostgreSQL's format_type() prints them, from whatever a source writes.

`canonical_type("varchar(200)")` → "character varying(200)"; `canonical_type("timestamp (3)")` →
"timestamp(3) without time zone"; serial types become their integer type (the sequence is a default).
Parsed with PostgreSQL's own grammar (pglast), so every spelling the server accepts is understood.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import pglast
from pglast import ast, keywords

from pgdba.errors import InputError

# internal name → format_type's name; None: keep the name as is
_BUILTIN = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "smallint": "smallint",
    "integer": "integer",
    "int": "integer",
    "bigint": "bigint",
    "float4": "real",
    "real": "real",
    "float8": "double precision",
    "bool": "boolean",
    "boolean": "boolean",
    "varchar": "character varying",
    "bpchar": "character",
    "char": "character",
    "varbit": "bit varying",
    "bit": "bit",
    "numeric": "numeric",
    "decimal": "numeric",
    "text": "text",
    "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone",
    "time": "time without time zone",
    "timetz": "time with time zone",
    "date": "date",
    "interval": "interval",
    "json": "json",
    "jsonb": "jsonb",
    "bytea": "bytea",
    "uuid": "uuid",
    "inet": "inet",
    "cidr": "cidr",
    "macaddr": "macaddr",
    "macaddr8": "macaddr8",
    "money": "money",
    "xml": "xml",
    "oid": "oid",
    "tsvector": "tsvector",
    "tsquery": "tsquery",
    "point": "point",
    "line": "line",
    "lseg": "lseg",
    "box": "box",
    "path": "path",
    "polygon": "polygon",
    "circle": "circle",
    "citext": "citext",
}
SERIAL_TYPES = {
    "smallserial": "smallint",
    "serial2": "smallint",
    "serial": "integer",
    "serial4": "integer",
    "bigserial": "bigint",
    "serial8": "bigint",
}
_INTERVAL_FIELDS = {
    4: "year",
    2: "month",
    8: "day",
    1024: "hour",
    2048: "minute",
    4096: "second",
    6: "year to month",
    1032: "day to hour",
    3080: "day to minute",
    7176: "day to second",
    3072: "hour to minute",
    7168: "hour to second",
    6144: "minute to second",
}
_INTERVAL_FULL_RANGE = 0x7FFF
# fractional-second precision of timestamp, time and interval: PostgreSQL's default is also its maximum, so
# `timestamp(6)` (Prisma db pull's spelling) stores the same values as `timestamp`; a larger one is reduced
# to it (with a warning)
MAX_SECONDS_PRECISION = 6
_DATETIME = (
    "timestamp without time zone",
    "timestamp with time zone",
    "time without time zone",
    "time with time zone",
)
_FORMATTED_PRECISION = re.compile(
    r"^(?P<head>timestamp|time|interval(?: [a-z ]+)?)\((?P<precision>\d+)\)(?P<tail>(?: with(?:out)? time zone)?(?:\[\])?)$"
)


def quote_ident(name: str) -> str:
    """PostgreSQL's quote_ident for the names format_type prints (lower-case identifiers stay bare)."""
    plain = all(c.islower() or c.isdigit() or c == "_" for c in name)
    if name and (name[0].islower() or name[0] == "_") and plain and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


# quote_ident quotes every keyword that is not unreserved
_RESERVED = (
    frozenset(keywords.RESERVED_KEYWORDS)
    | frozenset(keywords.TYPE_FUNC_NAME_KEYWORDS)
    | frozenset(keywords.COL_NAME_KEYWORDS)
)


def user_type(schema: str, name: str) -> str:
    """How a user-defined type (enum, domain, extension type) is written in the model."""
    return quote_ident(name) if schema in ("public", "") else f"{quote_ident(schema)}.{quote_ident(name)}"


def is_serial(text: str) -> bool:
    return text.strip().lower().strip('"') in SERIAL_TYPES


@lru_cache(maxsize=4096)
def canonical_type(text: str) -> str:
    """format_type()'s spelling of a type written any way PostgreSQL accepts; InputError if it is not one."""
    raw = text.strip()
    if raw.lower().strip('"') in SERIAL_TYPES:
        return SERIAL_TYPES[raw.lower().strip('"')]
    try:
        statement: Any = pglast.parse_sql(f"SELECT NULL::{raw}")[0].stmt
        type_name = statement.targetList[0].val.typeName
    except (pglast.parser.ParseError, AttributeError, IndexError):
        raise InputError(f"not a PostgreSQL type: {text!r}") from None
    if len(statement.targetList) != 1 or not isinstance(type_name, ast.TypeName):
        raise InputError(f"not a PostgreSQL type: {text!r}")
    return format_type_name(type_name)


def format_type_name(type_name: Any) -> str:
    """format_type()'s spelling of a pglast TypeName node."""
    names = [n.sval for n in type_name.names]
    if names[0] == "pg_catalog":
        names = names[1:]
    modifiers = [_modifier_value(m) for m in (type_name.typmods or ())]
    array = "[]" if type_name.arrayBounds else ""
    if len(names) == 1 and names[0] in _BUILTIN:
        return _builtin_with_modifiers(_BUILTIN[names[0]], modifiers) + array
    if len(names) == 1 and names[0] in SERIAL_TYPES:
        return SERIAL_TYPES[names[0]] + array
    schema, name = (names[0], names[1]) if len(names) == 2 else ("public", names[-1])
    base = user_type(schema, name)
    if modifiers:
        base += "(" + ",".join(str(m) for m in modifiers) + ")"
    return base + array


def _modifier_value(node: Any) -> int | str:
    if isinstance(node, ast.A_Const):
        value: Any = node.val
        if isinstance(value, ast.Integer):
            return int(value.ival or 0)
        if isinstance(value, ast.String):
            return str(value.sval)
    if isinstance(node, ast.ColumnRef):
        return ".".join(str(f.sval) for f in (node.fields or ()) if isinstance(f, ast.String))
    return str(node)


def _builtin_with_modifiers(name: str, modifiers: list[int | str]) -> str:
    if name in _DATETIME:
        head, _, zone = name.partition(" ")
        return f"{head}({modifiers[0]}) {zone}" if modifiers and not _full_precision(modifiers[0]) else name
    if name == "interval":
        return _interval(modifiers)
    if name == "numeric" and len(modifiers) == 1:
        return f"numeric({modifiers[0]},0)"
    if name in ("character", "bit") and not modifiers:
        return f"{name}(1)"
    if modifiers:
        return f"{name}(" + ",".join(str(m) for m in modifiers) + ")"
    return name


def _interval(modifiers: list[int | str]) -> str:
    fields = modifiers[0] if modifiers else _INTERVAL_FULL_RANGE
    precision = modifiers[1] if len(modifiers) > 1 else None
    text = "interval"
    if isinstance(fields, int) and fields != _INTERVAL_FULL_RANGE:
        text += " " + _INTERVAL_FIELDS.get(fields, str(fields))
    if precision is not None and not _full_precision(precision):
        text += f"({precision})"
    return text


def _full_precision(precision: int | str) -> bool:
    return isinstance(precision, int) and precision >= MAX_SECONDS_PRECISION


def without_full_precision(formatted: str) -> str:
    """format_type()'s text with a fractional-second precision of 6 left out, as canonical_type leaves it:
    "timestamp(6) with time zone" → "timestamp with time zone" (the same type: 6 is the default)."""
    match = _FORMATTED_PRECISION.match(formatted)
    if match is None or int(match["precision"]) < MAX_SECONDS_PRECISION:
        return formatted
    return match["head"] + match["tail"]


def base_type(canonical: str) -> str:
    """The type without modifiers and array brackets: "character varying(20)[]" → "character varying"."""
    text = canonical.removesuffix("[]")
    if "(" in text and not text.startswith('"'):
        head, _, rest = text.partition("(")
        tail = rest.partition(")")[2]
        text = (head + tail).strip()
    return text
