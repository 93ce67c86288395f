"""Foreign keys, whether an index on the referencing table leads with their columns, and that table's size."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgdba.stats.locks import BLOCKED_RELATIONS


@dataclass(frozen=True)
class ForeignKey:
    schema: str
    table: str
    constraint: str
    columns: tuple[str, ...]
    ref_schema: str
    ref_table: str
    ref_columns: tuple[str, ...]
    table_rows: int
    table_bytes: int
    has_index: bool

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def qualified_ref_table(self) -> str:
        return f"{self.ref_schema}.{self.ref_table}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def index_serves_foreign_key(index: str, constraint: str) -> str:
    """SQL condition: the pg_index row `index` serves the pg_constraint row `constraint` (a foreign key)
    when it is valid, not partial, and its leading key columns are the FK's columns in any order (indkey is
    0-based, so the slice is [0 : n-1]). The missing-FK check and the unused-index checks share it."""
    leading = f"({index}.indkey::int2[])[0:cardinality({constraint}.conkey) - 1]"
    return (
        f"{index}.indisvalid AND {index}.indpred IS NULL"
        f" AND {leading} @> {constraint}.conkey AND {leading} <@ {constraint}.conkey"
    )


FOREIGN_KEYS_SQL = f"""
WITH blocked AS ({BLOCKED_RELATIONS})
SELECT n.nspname AS schema,
       c.relname AS "table",
       con.conname AS "constraint",
       ARRAY(SELECT a.attname
               FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, pos)
               JOIN pg_attribute AS a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
              ORDER BY k.pos) AS columns,
       rn.nspname AS ref_schema,
       rc.relname AS ref_table,
       ARRAY(SELECT a.attname
               FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, pos)
               JOIN pg_attribute AS a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
              ORDER BY k.pos) AS ref_columns,
       greatest(c.reltuples, 0)::bigint AS table_rows,
       CASE WHEN c.oid IN (SELECT relation FROM blocked)
            THEN c.relpages::bigint * current_setting('block_size')::bigint
            ELSE pg_relation_size(c.oid) END AS table_bytes,
       EXISTS (SELECT 1
                 FROM pg_index AS i
                WHERE i.indrelid = con.conrelid
                  AND {index_serves_foreign_key("i", "con")}) AS has_index
  FROM pg_constraint AS con
  JOIN pg_class AS c ON c.oid = con.conrelid
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
  JOIN pg_class AS rc ON rc.oid = con.confrelid
  JOIN pg_namespace AS rn ON rn.oid = rc.relnamespace
 WHERE con.contype = 'f'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
 ORDER BY n.nspname, c.relname, con.conname
"""


def foreign_keys(conn: psycopg.Connection) -> list[ForeignKey]:
    """Every foreign key of the current database's user tables."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(FOREIGN_KEYS_SQL).fetchall()
    return [
        ForeignKey(**{**row, "columns": tuple(row["columns"]), "ref_columns": tuple(row["ref_columns"])})
        for row in rows
    ]
