"""Foreign keys, whether an index on the referencing table leads with their columns, and that table's size."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgdba.stats.locks import BLOCKED_RELATIONS
from pgdba.stats.partitions import leaf_partitions


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
    # the referencing table is partitioned: rows and bytes are its leaf partitions' summed, and an index on it
    # cannot be built CONCURRENTLY (one on each partition can, then attached)
    partitioned: bool = False

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def qualified_ref_table(self) -> str:
        return f"{self.ref_schema}.{self.ref_table}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Index methods whose scans find a key by equality without reading every page: not BRIN (it reads each block
# range that may hold the key: all of them unless the values follow the rows' physical order), nor an
# extension's (bloom reads its whole index)
_EQUALITY_PROBE_METHODS = "'btree', 'hash', 'gist', 'spgist', 'gin'"


def index_serves_foreign_key(index: str, constraint: str) -> str:
    """SQL condition: the pg_index row `index` serves the pg_constraint row `constraint` (a foreign key):
    the lookup the FK's checks make on every DELETE or key UPDATE of the referenced table (`WHERE $1 =
    fk_column`) can use it. It is valid, not partial, its leading key columns are the FK's columns in any
    order (indkey, indclass and indcollation are 0-based: the slice is [0 : n-1], array_position a 0-based
    subscript), its method one of _EQUALITY_PROBE_METHODS, its operator class of each FK column holds that
    lookup's equality (the commutator of the FK's PK = FK operator): btree and hash ones do, and GiST or
    GIN ones of btree_gist and btree_gin; and its collation of each FK column is the column's (or none, for
    a type without collation). The missing-FK check and the unused-index checks share it."""
    leading = f"({index}.indkey::int2[])[0:cardinality({constraint}.conkey) - 1]"
    return f"""{index}.indisvalid
                  AND {index}.indpred IS NULL
                  AND {leading} @> {constraint}.conkey
                  AND {leading} <@ {constraint}.conkey
                  AND (SELECT am.amname IN ({_EQUALITY_PROBE_METHODS})
                         FROM pg_class AS ic
                         JOIN pg_am AS am ON am.oid = ic.relam
                        WHERE ic.oid = {index}.indexrelid)
                  AND NOT EXISTS (
                      SELECT 1
                        FROM unnest({constraint}.conkey, {constraint}.conpfeqop) AS key(attnum, pk_eq_fk)
                        JOIN pg_operator AS eq ON eq.oid = key.pk_eq_fk
                        JOIN pg_attribute AS col ON col.attrelid = {constraint}.conrelid
                                                AND col.attnum = key.attnum
                       -- the lookup compares under the column's collation, and the planner uses an index
                       -- key only under the same one (measured on 15: an index on (code COLLATE "C") of a
                       -- default-collation column, in a "C" database, is never used for it; DELETE of a
                       -- parent row seq-scans the child, even with enable_seqscan off)
                       WHERE {index}.indcollation[array_position({index}.indkey::int2[], key.attnum)]
                             NOT IN (0, col.attcollation)
                          OR NOT EXISTS (
                             SELECT 1
                               FROM pg_opclass AS oc
                               JOIN pg_amop AS ao ON ao.amopfamily = oc.opcfamily
                              WHERE oc.oid = {index}.indclass[array_position({index}.indkey::int2[], key.attnum)]
                                AND ao.amopopr = eq.oprcom
                                AND ao.amoppurpose = 's'))"""


def _key_names(constraint: str) -> str:
    """SQL: the names of the constraint row `constraint`'s key columns, in key order."""
    return f"""ARRAY(SELECT a.attname
                      FROM unnest({constraint}.conkey) WITH ORDINALITY AS k(attnum, pos)
                      JOIN pg_attribute AS a ON a.attrelid = {constraint}.conrelid AND a.attnum = k.attnum
                     ORDER BY k.pos)"""


# A foreign key a partition inherited from its partitioned table's (conparentid <> 0) is that table's: it is
# reported once, there; so are the clones PostgreSQL adds for each partition of a partitioned referenced table.
FOREIGN_KEYS_SQL = f"""
WITH blocked AS ({BLOCKED_RELATIONS})
SELECT n.nspname AS schema,
       c.relname AS "table",
       con.conname AS "constraint",
       {_key_names("con")} AS columns,
       rn.nspname AS ref_schema,
       rc.relname AS ref_table,
       ARRAY(SELECT a.attname
               FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, pos)
               JOIN pg_attribute AS a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
              ORDER BY k.pos) AS ref_columns,
       coalesce(parts.rows, greatest(c.reltuples, 0))::bigint AS table_rows,
       coalesce(parts.bytes,
                CASE WHEN c.oid IN (SELECT relation FROM blocked)
                     THEN c.relpages::bigint * current_setting('block_size')::bigint
                     ELSE pg_relation_size(c.oid) END) AS table_bytes,
       EXISTS (SELECT 1
                 FROM pg_index AS i
                WHERE i.indrelid = con.conrelid
                  AND {index_serves_foreign_key("i", "con")})
       -- a partitioned table's lookups scan its leaf partitions: an index on each of them, serving the key
       -- the leaf has from the table's (the same columns, by name), serves it too
       OR (c.relkind = 'p'
           AND NOT EXISTS (
               SELECT 1
                 FROM {leaf_partitions("c.oid")} AS leaf
                WHERE NOT EXISTS (
                    SELECT 1
                      FROM pg_constraint AS lcon
                      JOIN pg_index AS li ON li.indrelid = lcon.conrelid
                     WHERE lcon.conrelid = leaf.oid
                       AND lcon.contype = 'f'
                       AND lcon.conparentid <> 0
                       AND lcon.confrelid = con.confrelid
                       AND {_key_names("lcon")} = {_key_names("con")}
                       AND {index_serves_foreign_key("li", "lcon")}))) AS has_index,
       c.relkind = 'p' AS partitioned
  FROM pg_constraint AS con
  JOIN pg_class AS c ON c.oid = con.conrelid
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
  JOIN pg_class AS rc ON rc.oid = con.confrelid
  JOIN pg_namespace AS rn ON rn.oid = rc.relnamespace
  LEFT JOIN LATERAL (  -- a partitioned table has no storage: its leaf partitions' rows and bytes
      SELECT sum(greatest(leaf.reltuples, 0)) AS rows,
             sum(CASE WHEN leaf.oid IN (SELECT relation FROM blocked)
                      THEN leaf.relpages::bigint * current_setting('block_size')::bigint
                      ELSE pg_relation_size(leaf.oid) END)::bigint AS bytes
        FROM {leaf_partitions("c.oid")} AS leaf
  ) AS parts ON c.relkind = 'p'
 WHERE con.contype = 'f'
   AND con.conparentid = 0
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
