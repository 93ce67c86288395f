"""Default operator classes: an index column whose operator class is its type's default is written without
one (pg_get_indexdef does the same), so `ops: JsonbOps` ≡ no ops on a jsonb GIN index."""

from __future__ import annotations

from pgdba.schema.types import base_type

_DEFAULTS: dict[str, dict[str, str]] = {
    "btree": {
        "smallint": "int2_ops",
        "integer": "int4_ops",
        "bigint": "int8_ops",
        "text": "text_ops",
        "character varying": "text_ops",
        "character": "bpchar_ops",
        "uuid": "uuid_ops",
        "boolean": "bool_ops",
        "numeric": "numeric_ops",
        "real": "float4_ops",
        "double precision": "float8_ops",
        "date": "date_ops",
        "timestamp without time zone": "timestamp_ops",
        "timestamp with time zone": "timestamptz_ops",
        "jsonb": "jsonb_ops",
        "bytea": "bytea_ops",
        "inet": "inet_ops",
    },
    "hash": {
        "integer": "int4_ops",
        "bigint": "int8_ops",
        "text": "text_ops",
        "character varying": "text_ops",
        "uuid": "uuid_ops",
    },
    "gin": {"jsonb": "jsonb_ops", "tsvector": "tsvector_ops"},
    "gist": {"tsvector": "tsvector_ops"},
}


def canonical_opclass(method: str, column_type: str, opclass: str) -> str:
    """The operator class to compare: empty when it is the default for this method and column type."""
    if not opclass:
        return ""
    if column_type.endswith("[]") and method == "gin" and opclass == "array_ops":
        return ""
    if _DEFAULTS.get(method, {}).get(base_type(column_type)) == opclass:
        return ""
    return opclass
