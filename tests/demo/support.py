"""Shared pieces of the demo tests: the built tiny demo, and the shape of a live catalog."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from pgdba.demo.build import DemoBuildResult
from pgdba.target import Target

TINY_SCALE = 0.01


@dataclass
class BuiltDemo:
    target: Target
    dsn: str
    result: DemoBuildResult

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True)


@dataclass(frozen=True)
class CatalogShape:
    """What a schema description must agree on, read from the live catalog."""

    columns: dict[
        str, dict[str, tuple[str, bool, str | None]]
    ]  # table -> column -> (type, not null, default)
    indexes: dict[str, str]  # index name -> pg_get_indexdef
    constraints: dict[str, str]  # "table.constraint" -> pg_get_constraintdef
    enums: dict[str, tuple[str, ...]]


_COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute AS a
JOIN pg_class AS c
  ON c.oid = a.attrelid
JOIN pg_namespace AS n
  ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef AS d
  ON d.adrelid = a.attrelid
 AND d.adnum = a.attnum
WHERE n.nspname = 'public'
  AND c.relkind = 'r'
  AND a.attnum > 0
  AND NOT a.attisdropped
"""

_INDEXES = """
SELECT ic.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index AS i
JOIN pg_class AS ic
  ON ic.oid = i.indexrelid
JOIN pg_namespace AS n
  ON n.oid = ic.relnamespace
WHERE n.nspname = 'public'
"""

_CONSTRAINTS = """
SELECT conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid)
FROM pg_constraint
WHERE connamespace = 'public'::regnamespace
"""

_ENUMS = """
SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)
FROM pg_type AS t
JOIN pg_enum AS e
  ON e.enumtypid = t.oid
GROUP BY t.typname
"""


def read_catalog_shape(dsn: str) -> CatalogShape:
    with psycopg.connect(dsn) as conn:
        columns: dict[str, dict[str, tuple[str, bool, str | None]]] = {}
        for table, column, type_, not_null, default in conn.execute(_COLUMNS):
            columns.setdefault(table, {})[column] = (type_, not_null, default)
        indexes = dict(conn.execute(_INDEXES).fetchall())
        constraints = dict(conn.execute(_CONSTRAINTS).fetchall())
        enums = {name: tuple(labels) for name, labels in conn.execute(_ENUMS)}
    return CatalogShape(columns, indexes, constraints, enums)
