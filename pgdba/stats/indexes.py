"""Index statistics: usage counters, size, and what each index backs (unique, primary key, constraint)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row

from pgdba.sql_text import qualified
from pgdba.stats.foreign_keys import index_serves_foreign_key
from pgdba.stats.locks import BLOCKED_RELATIONS


@dataclass(frozen=True)
class IndexStats:
    schema: str
    table: str
    index: str
    scans: int
    tuples_read: int
    tuples_fetched: int
    size_bytes: int
    is_unique: bool
    is_primary: bool
    backs_constraint: bool
    is_valid: bool
    is_partial: bool
    method: str
    columns: tuple[str, ...]
    definition: str
    table_scans: int
    table_rows: int
    table_writes: int
    # another session holds or waits for ACCESS EXCLUSIVE on the index or its table (DDL in flight): size is
    # pg_class's page count, columns plain names, definition empty
    locked: bool = False
    # per key column "operator class/collation" ("" for a type without collation): indexes on the same
    # columns with another opclass or collation serve other queries (LIKE 'ab%' needs text_pattern_ops or "C")
    key_opclasses: tuple[str, ...] = ()
    # the foreign key this index serves (pgdba.stats.foreign_keys' rule), or None
    serves_foreign_key: str | None = None
    # the index's OID: index snapshots tell by it whether an index existed a week ago (0 in old snapshots)
    oid: int = 0
    # per key column pg_index.indoption (see KEY_OPTIONS_SQL): the order its scans return rows in
    key_options: tuple[int, ...] = ()
    # the partitioned index this partition's index is attached to: it cannot be dropped on its own
    attached_to: str | None = None
    # an index on a partitioned table: its numbers are its partitions' parts summed; it is dropped with a
    # plain DROP INDEX (PostgreSQL refuses CONCURRENTLY there), which drops every part
    partitioned: bool = False
    # its INCLUDE columns (as `columns` names them): an index covers another only if it holds them too
    include_columns: tuple[str, ...] = ()
    # the primary-key, unique or exclusion constraint this index is, as pg_get_constraintdef prints it
    # (`PRIMARY KEY (id, at)`); None for an index of no constraint (or one read while locked)
    constraint_definition: str | None = None

    @property
    def drop_sql(self) -> str:
        """The statement that drops it without blocking writes, where PostgreSQL allows that: on a
        partitioned table only a plain DROP INDEX exists (it drops every partition's part and locks the
        table while it runs)."""
        concurrently = "" if self.partitioned else " CONCURRENTLY"
        return f"DROP INDEX{concurrently} {qualified(self.schema, self.index)};"

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.index}"

    @property
    def protected(self) -> bool:
        """Unique, primary-key and constraint-backing indexes, and a partition's part of a partitioned index
        (DROP INDEX refuses it alone), are never candidates for dropping."""
        return self.is_unique or self.is_primary or self.backs_constraint or self.attached_to is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# the names of the key columns of the pg_index row `i`, "" for an expression key
KEY_COLUMNS_SQL = """ARRAY(SELECT coalesce(a.attname, '')
               FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, pos)
               LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0
              ORDER BY k.pos)"""

# the names of the INCLUDE columns of the pg_index row `i`
INCLUDE_COLUMNS_SQL = """ARRAY(SELECT a.attname
               FROM unnest(i.indkey[i.indnkeyatts:i.indnatts - 1]) WITH ORDINALITY AS k(attnum, pos)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              ORDER BY k.pos)"""

# each key of the pg_index row `i` as pg_get_indexdef prints it alone (`email`, `lower(email)`)
KEY_DEFINITIONS_SQL = """ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, false)
               FROM generate_series(1, i.indnkeyatts) AS k
              ORDER BY k)"""

# "opclass/collation" of each key column of the pg_index row `i` (indclass and indcollation are 0-based
# oidvectors holding the key columns only); catalog rows only, so it takes no lock on the index
KEY_OPCLASSES_SQL = """ARRAY(SELECT oc.opcname || '/' || coalesce(coll.collname, '')
               FROM generate_series(0, i.indnkeyatts - 1) AS k
               JOIN pg_opclass AS oc ON oc.oid = i.indclass[k]
               LEFT JOIN pg_collation AS coll ON coll.oid = i.indcollation[k]
              ORDER BY k)"""

# per key column of the pg_index row `i`: pg_index.indoption (bit 1 DESC, bit 2 NULLS FIRST), the order a
# forward scan returns rows in
KEY_OPTIONS_SQL = """ARRAY(SELECT i.indoption[k]::int
               FROM generate_series(0, i.indnkeyatts - 1) AS k
              ORDER BY k)"""

# the partitioned index the index of the pg_index row `i` is attached to (schema.name), or NULL: PostgreSQL
# drops such a partition's index only together with that one
ATTACHED_TO_SQL = """(SELECT quote_ident(pn.nspname) || '.' || quote_ident(pc.relname)
          FROM pg_inherits AS h
          JOIN pg_class AS pc ON pc.oid = h.inhparent
          JOIN pg_namespace AS pn ON pn.oid = pc.relnamespace
         WHERE h.inhrelid = i.indexrelid)"""

# pg_index.indoption bits of a btree key that a backward scan flips
_DESC_AND_NULLS_FIRST = 0b11


def same_key_order(options: tuple[int, ...], others: tuple[int, ...]) -> bool:
    """Two key lists return rows in the same order, forward or one scanned backward: `(a, b DESC)` serves
    `ORDER BY a, b DESC` and `(a, b)` does not; `(a DESC NULLS LAST)` serves what `(a)` cannot."""
    if len(options) != len(others):
        return False
    flipped = tuple(o ^ _DESC_AND_NULLS_FIRST for o in options)
    return others in (options, flipped)


def kept_of_twins(scans: int, name: str, other_scans: int, other_name: str) -> bool:
    """Of two identical indexes (neither one unique or constraint-backing), is this one kept and the other
    dropped: the one scanned more since the statistics reset (the one in use: dropping it while the other,
    unused, is also reported unused would leave neither), else the first by name. The check-up and the
    advisor keep the same one by this rule."""
    if scans != other_scans:
        return scans > other_scans
    return name < other_name


class CoveringIndex(Protocol):
    """What may_cover reads of an index: the check-up's IndexStats and the advisor's ExistingIndex."""

    @property
    def protected(self) -> bool: ...

    @property
    def scans(self) -> int: ...


def may_cover(cover: CoveringIndex, covered_scans: int) -> bool:
    """Can an index stand in for one it covers, that one dropped as redundant? Not when it is unscanned and
    the covered one is in use: the unscanned one is the index to drop (index.unused names it), and following
    both findings would leave neither. A unique, primary-key or constraint index is never dropped: it may."""
    return cover.protected or cover.scans > 0 or covered_scans == 0


# The foreign key the index `i` serves, by the missing-FK check's rule (pgdba.stats.foreign_keys). Dropping
# it makes every DELETE or key UPDATE on the referenced table scan the referencing one.
SERVED_FOREIGN_KEY_SQL = f"""(SELECT min(fk.conname)
          FROM pg_constraint AS fk
         WHERE fk.contype = 'f'
           AND fk.conrelid = i.indrelid
           AND {index_serves_foreign_key("i", "fk")})"""

# The key and INCLUDE columns, definition, operator classes and sort options of the index of the row `s`
# (indexrelid, locked) and pg_index row `i`. Of a locked one the columns come from pg_attribute (an expression
# shows as "(expression)") and the definition is not read (pg_get_indexdef locks).
COLUMNS_AND_DEFINITION_SQL = f"""CASE WHEN s.locked
            THEN ARRAY(SELECT coalesce(a.attname, '(expression)')
                         FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, pos)
                         LEFT JOIN pg_attribute AS a
                                ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0
                        ORDER BY k.pos)
            ELSE ARRAY(SELECT pg_get_indexdef(s.indexrelid, k, true)
                         FROM generate_series(1, i.indnkeyatts) AS k
                        ORDER BY k) END AS columns,
       CASE WHEN s.locked
            THEN ARRAY(SELECT a.attname
                         FROM unnest(i.indkey[i.indnkeyatts:i.indnatts - 1]) WITH ORDINALITY AS k(attnum, pos)
                         JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                        ORDER BY k.pos)
            ELSE ARRAY(SELECT pg_get_indexdef(s.indexrelid, k, true)
                         FROM generate_series(i.indnkeyatts + 1, i.indnatts) AS k
                        ORDER BY k) END AS include_columns,
       CASE WHEN s.locked THEN '' ELSE pg_get_indexdef(s.indexrelid) END AS definition,
       CASE WHEN s.locked THEN NULL
            ELSE (SELECT pg_get_constraintdef(k.oid)
                    FROM pg_constraint AS k
                   WHERE k.conindid = s.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
       END AS constraint_definition,
       {KEY_OPCLASSES_SQL} AS key_opclasses,
       {KEY_OPTIONS_SQL} AS key_options"""

# The indexes a constraint uses (its own, or a foreign key's referenced key), to join: pg_constraint has no
# index on conindid, so a correlated `EXISTS (… WHERE conindid = …)` reads all of it once per index (12.5 s
# for 15 762 indexes beside 10 511 constraints, the join 0.02 s: benchmarks/checkup/large_catalog.py).
CONSTRAINT_INDEXES_SQL = "(SELECT DISTINCT conindid FROM pg_constraint WHERE conindid <> 0)"

# An index whose lock, or whose table's, is blocked (pgdba.stats.locks) is flagged `locked`: its size is
# pg_class's page count, its key columns are read from pg_attribute (an expression shows as "(expression)")
# and its definition is not read (pg_get_indexdef locks): checks must not judge it.
INDEX_STATS_SQL = f"""
WITH blocked AS ({BLOCKED_RELATIONS}), indexes AS (
    SELECT u.*, (u.indexrelid IN (SELECT relation FROM blocked) OR u.relid IN (SELECT relation FROM blocked))
                  AS locked
      FROM pg_stat_user_indexes AS u
)
SELECT s.schemaname AS schema,
       s.indexrelid::bigint AS oid,
       s.relname AS "table",
       s.indexrelname AS index,
       s.idx_scan AS scans,
       s.idx_tup_read AS tuples_read,
       s.idx_tup_fetch AS tuples_fetched,
       CASE WHEN s.locked THEN ic.relpages::bigint * current_setting('block_size')::bigint
            ELSE pg_relation_size(s.indexrelid) END AS size_bytes,
       s.locked,
       i.indisunique AS is_unique,
       i.indisprimary AS is_primary,
       ci.conindid IS NOT NULL AS backs_constraint,
       i.indisvalid AS is_valid,
       i.indpred IS NOT NULL AS is_partial,
       am.amname AS method,
       {COLUMNS_AND_DEFINITION_SQL},
       {ATTACHED_TO_SQL} AS attached_to,
       {SERVED_FOREIGN_KEY_SQL} AS serves_foreign_key,
       coalesce(t.seq_scan, 0) AS table_scans,
       greatest(c.reltuples, 0)::bigint AS table_rows,
       coalesce(t.n_tup_ins + t.n_tup_upd + t.n_tup_del, 0) AS table_writes
  FROM indexes AS s
  JOIN pg_index AS i ON i.indexrelid = s.indexrelid
  JOIN pg_class AS ic ON ic.oid = s.indexrelid
  JOIN pg_am AS am ON am.oid = ic.relam
  JOIN pg_class AS c ON c.oid = s.relid
  LEFT JOIN pg_stat_user_tables AS t ON t.relid = s.relid
  LEFT JOIN {CONSTRAINT_INDEXES_SQL} AS ci ON ci.conindid = s.indexrelid
 WHERE c.relpersistence <> 't'  -- another session's temp table: only that session could drop or use its index
 ORDER BY s.schemaname, s.relname, s.indexrelname
"""


# Indexes on partitioned tables, which pg_stat_user_indexes leaves out (only their partitions' parts are
# there): each one (a table's, and a sub-partitioned partition's, attached to its table's as a leaf
# partition's is) with its leaf parts' counters and page counts summed, lock-free as above.
PARTITIONED_INDEX_STATS_SQL = f"""
WITH RECURSIVE blocked AS ({BLOCKED_RELATIONS}), partitioned AS (
    SELECT x.indexrelid, x.indrelid
      FROM pg_index AS x
      JOIN pg_class AS xc ON xc.oid = x.indexrelid
      JOIN pg_namespace AS xn ON xn.oid = xc.relnamespace
     WHERE xc.relkind = 'I'
       AND xn.nspname NOT IN ('pg_catalog', 'information_schema')
), parts(root, part) AS (
    SELECT r.indexrelid, h.inhrelid FROM partitioned AS r JOIN pg_inherits AS h ON h.inhparent = r.indexrelid
    UNION ALL
    SELECT parts.root, h.inhrelid FROM parts JOIN pg_inherits AS h ON h.inhparent = parts.part
), summed AS (
    SELECT r.indexrelid,
           r.indrelid,
           coalesce(sum(u.idx_scan), 0)::bigint AS scans,
           coalesce(sum(u.idx_tup_read), 0)::bigint AS tuples_read,
           coalesce(sum(u.idx_tup_fetch), 0)::bigint AS tuples_fetched,
           coalesce(sum(lc.relpages), 0)::bigint * current_setting('block_size')::bigint AS size_bytes,
           coalesce(bool_and(lx.indisvalid), true) AS parts_valid,
           (r.indexrelid IN (SELECT relation FROM blocked) OR r.indrelid IN (SELECT relation FROM blocked)
            OR coalesce(bool_or(u.indexrelid IN (SELECT relation FROM blocked)
                                OR u.relid IN (SELECT relation FROM blocked)), false)) AS locked
      FROM partitioned AS r
      LEFT JOIN parts ON parts.root = r.indexrelid
      LEFT JOIN pg_class AS lc ON lc.oid = parts.part AND lc.relkind = 'i'
      LEFT JOIN pg_index AS lx ON lx.indexrelid = lc.oid
      LEFT JOIN pg_stat_all_indexes AS u ON u.indexrelid = lc.oid
     GROUP BY r.indexrelid, r.indrelid
)
SELECT n.nspname AS schema,
       s.indexrelid::bigint AS oid,
       c.relname AS "table",
       ic.relname AS index,
       s.scans,
       s.tuples_read,
       s.tuples_fetched,
       s.size_bytes,
       s.locked,
       i.indisunique AS is_unique,
       i.indisprimary AS is_primary,
       ci.conindid IS NOT NULL AS backs_constraint,
       i.indisvalid AND s.parts_valid AS is_valid,
       i.indpred IS NOT NULL AS is_partial,
       am.amname AS method,
       {COLUMNS_AND_DEFINITION_SQL},
       {ATTACHED_TO_SQL} AS attached_to,
       {SERVED_FOREIGN_KEY_SQL} AS serves_foreign_key,
       0 AS table_scans,
       0 AS table_rows,
       0 AS table_writes,
       true AS partitioned
  FROM summed AS s
  JOIN pg_index AS i ON i.indexrelid = s.indexrelid
  JOIN pg_class AS ic ON ic.oid = s.indexrelid
  JOIN pg_am AS am ON am.oid = ic.relam
  JOIN pg_class AS c ON c.oid = s.indrelid
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
  LEFT JOIN {CONSTRAINT_INDEXES_SQL} AS ci ON ci.conindid = s.indexrelid
 WHERE c.relpersistence <> 't'
 ORDER BY n.nspname, c.relname, ic.relname
"""


def index_stats(conn: psycopg.Connection) -> list[IndexStats]:
    """Every user index of the current database with its usage since the last stats reset, and every index
    of a partitioned table with its parts' usage summed."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(INDEX_STATS_SQL).fetchall()
        rows += cur.execute(PARTITIONED_INDEX_STATS_SQL).fetchall()
    return [
        IndexStats(
            **{
                **row,
                "columns": tuple(row["columns"]),
                "include_columns": tuple(row["include_columns"]),
                "key_opclasses": tuple(row["key_opclasses"]),
                "key_options": tuple(row["key_options"]),
            }
        )
        for row in rows
    ]
