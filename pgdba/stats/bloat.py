"""Bloat estimates for tables and btree indexes from the planner's statistics (no table is read).

The estimate compares the pages a relation has (pg_class.relpages) with the pages its rows would need
at the average row width in pg_stats, the way check_postgres and the ioguix queries do. Relations whose
columns have no statistics (never analysed, or not readable by this role) are returned with
`estimable = False` rather than guessed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

PAGE_HEADER = 24
HEAP_TUPLE_OVERHEAD = 24 + 4  # tuple header (23, aligned) + line pointer
INDEX_TUPLE_OVERHEAD = 8 + 4  # index tuple header + line pointer
BTREE_SPECIAL = 16
BTREE_FILLFACTOR = 90


@dataclass(frozen=True)
class BloatEstimate:
    schema: str
    table: str
    index: str | None
    actual_bytes: int
    rows: int
    row_width: float
    fillfactor: int
    block_size: int
    estimable: bool
    # a table's dropped columns: rows written before the DROP still hold their data, which the estimate
    # (from pg_stats of the live columns) counts as bloat and which only a rewrite reclaims
    dropped_columns: int = 0

    @property
    def object(self) -> str:
        return f"{self.schema}.{self.index or self.table}"

    @property
    def expected_bytes(self) -> int:
        if self.index is None:
            usable = (self.block_size - PAGE_HEADER) * self.fillfactor / 100
            per_row = HEAP_TUPLE_OVERHEAD + math.ceil(self.row_width / 8) * 8
        else:
            usable = (self.block_size - PAGE_HEADER - BTREE_SPECIAL) * self.fillfactor / 100
            per_row = INDEX_TUPLE_OVERHEAD + math.ceil(self.row_width / 8) * 8
        rows_per_page = max(math.floor(usable / per_row), 1)
        pages = math.ceil(self.rows / rows_per_page) + (1 if self.index else 0)  # btree metapage
        return pages * self.block_size

    @property
    def bloat_bytes(self) -> int:
        return max(self.actual_bytes - self.expected_bytes, 0)

    @property
    def bloat_ratio(self) -> float:
        return self.bloat_bytes / self.actual_bytes if self.actual_bytes else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bloat_bytes": self.bloat_bytes, "bloat_ratio": round(self.bloat_ratio, 3)}


TABLE_BLOAT_SQL = """
SELECT n.nspname AS schema,
       c.relname AS "table",
       NULL::text AS index,
       c.relpages::bigint * current_setting('block_size')::int AS actual_bytes,
       greatest(c.reltuples, 0)::bigint AS rows,
       coalesce(w.row_width, 0)::float8 AS row_width,
       coalesce((SELECT o.option_value::int
                   FROM pg_options_to_table(c.reloptions) AS o
                  WHERE o.option_name = 'fillfactor'), 100) AS fillfactor,
       current_setting('block_size')::int AS block_size,
       coalesce(w.stats_columns, 0) = (SELECT count(*)
                                         FROM pg_attribute AS a
                                        WHERE a.attrelid = c.oid
                                          AND a.attnum > 0
                                          AND NOT a.attisdropped) AS estimable,
       (SELECT count(*)
          FROM pg_attribute AS a
         WHERE a.attrelid = c.oid
           AND a.attnum > 0
           AND a.attisdropped)::int AS dropped_columns
  FROM pg_class AS c
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
  LEFT JOIN (SELECT s.schemaname,
                    s.tablename,
                    sum((1 - s.null_frac) * s.avg_width) AS row_width,
                    count(*) AS stats_columns
               FROM pg_stats AS s
              WHERE NOT s.inherited
              GROUP BY s.schemaname, s.tablename) AS w
         ON w.schemaname = n.nspname AND w.tablename = c.relname
 WHERE c.relkind IN ('r', 'm')
   AND c.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_toast'
"""


def table_bloat(conn: psycopg.Connection) -> list[BloatEstimate]:
    """A bloat estimate for every user table."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(TABLE_BLOAT_SQL).fetchall()
    return [BloatEstimate(**row) for row in rows]


INDEX_BLOAT_SQL = """
SELECT n.nspname AS schema,
       t.relname AS "table",
       ic.relname AS index,
       ic.relpages::bigint * current_setting('block_size')::int AS actual_bytes,
       greatest(ic.reltuples, 0)::bigint AS rows,
       coalesce(w.key_width, 0)::float8 AS row_width,
       coalesce((SELECT o.option_value::int
                   FROM pg_options_to_table(ic.reloptions) AS o
                  WHERE o.option_name = 'fillfactor'), %(btree_fillfactor)s) AS fillfactor,
       current_setting('block_size')::int AS block_size,
       coalesce(w.stats_columns, 0) = i.indnatts AS estimable
  FROM pg_index AS i
  JOIN pg_class AS ic ON ic.oid = i.indexrelid
  JOIN pg_am AS am ON am.oid = ic.relam
  JOIN pg_class AS t ON t.oid = i.indrelid
  JOIN pg_namespace AS n ON n.oid = t.relnamespace
  LEFT JOIN LATERAL (SELECT sum(s.avg_width) AS key_width,
                            count(s.avg_width) AS stats_columns
                       FROM unnest(i.indkey::int2[]) AS k(attnum)
                       JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                       JOIN pg_stats AS s ON s.schemaname = n.nspname
                                         AND s.tablename = t.relname
                                         AND s.attname = a.attname
                                         AND NOT s.inherited) AS w ON true
 WHERE am.amname = 'btree'
   AND i.indisvalid
   AND t.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_toast'
"""


def index_bloat(conn: psycopg.Connection) -> list[BloatEstimate]:
    """A bloat estimate for every valid btree index of a user table."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(INDEX_BLOAT_SQL, {"btree_fillfactor": BTREE_FILLFACTOR}).fetchall()
    return [BloatEstimate(**row) for row in rows]
