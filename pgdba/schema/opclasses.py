"""Default operator classes: an index column whose operator class is its type's default is written without
one (pg_get_indexdef does the same, and the live source blanks it by pg_opclass.opcdefault), so
`ops: JsonbOps` ≡ no ops on a jsonb GIN index, and drizzle-kit pull's `.op("enum_ops")` ≡ nothing.

The tables (opclass_defaults.py) hold every built-in type's default for btree, hash, gist, gin, brin and
spgist, and those the contrib extensions add, as PostgreSQL resolves them; generated from the catalog by
scripts/opclass-defaults.py and checked against the test cluster's catalog by the tests."""

from __future__ import annotations

from pgdba.schema.opclass_defaults import CORE_DEFAULTS, EXTENSION_DEFAULTS
from pgdba.schema.types import base_type


def _merged() -> dict[str, dict[str, str]]:
    merged = {method: dict(defaults) for method, defaults in CORE_DEFAULTS.items()}
    for tables in EXTENSION_DEFAULTS.values():
        for method, defaults in tables.items():
            for type_name, opclass in defaults.items():
                merged.setdefault(method, {}).setdefault(type_name, opclass)
    return merged


DEFAULTS: dict[str, dict[str, str]] = _merged()
# every operator class that is some type's default, per method: for a column whose type is unknown (an
# expression) or user-defined (an enum, a domain), naming one of these can only mean the default
_DEFAULT_NAMES: dict[str, frozenset[str]] = {
    method: frozenset(defaults.values()) for method, defaults in DEFAULTS.items()
}


def default_opclass(method: str, column_type: str) -> str | None:
    """The operator class PostgreSQL uses for a `column_type` key column of a `method` index that names
    none; None when the tables do not know the type (a user-defined or unknown one)."""
    defaults = DEFAULTS.get(method, {})
    for key in _type_keys(column_type):
        if key in defaults:
            return defaults[key]
    return None


def canonical_opclass(method: str, column_type: str, opclass: str) -> str:
    """The operator class to compare: empty when it is the default for this method and column type."""
    if not opclass:
        return ""
    name = opclass.removeprefix("pg_catalog.")
    default = default_opclass(method, column_type)
    if default is not None:
        return "" if name == default else opclass
    return "" if name in _DEFAULT_NAMES.get(method, frozenset()) else opclass


def _type_keys(column_type: str) -> list[str]:
    if not column_type:
        return []
    element = base_type(column_type)
    if element.startswith("interval"):  # `interval day(3)`: fields and precision do not change the type
        element = "interval"
    if column_type.endswith("[]"):
        return [element + "[]", "anyarray"]
    return [element]
