"""Table statistics: sizes (heap, indexes, TOAST), live and dead rows, maintenance times, access counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgdba.stats.locks import BLOCKED_RELATIONS
from pgdba.stats.partitions import leaf_partitions


@dataclass(frozen=True)
class TableStats:
    schema: str
    table: str
    total_bytes: int
    table_bytes: int
    index_bytes: int
    toast_bytes: int
    estimated_rows: int
    live_rows: int
    dead_rows: int
    modified_since_analyze: int
    inserts: int
    updates: int
    deletes: int
    hot_updates: int
    seq_scans: int
    seq_rows_read: int
    index_scans: int
    last_vacuum: datetime | None
    last_autovacuum: datetime | None
    last_analyze: datetime | None
    last_autoanalyze: datetime | None
    vacuum_count: int
    autovacuum_count: int
    analyze_count: int
    autoanalyze_count: int
    has_primary_key: bool
    reloptions: tuple[str, ...]
    # another session holds or waits for ACCESS EXCLUSIVE on the table, or on one of a partitioned table's
    # partitions (DDL in flight): its sizes are pg_class's page counts
    locked: bool = False
    kind: str = "table"  # or "materialized view" / "partitioned table"
    # a partitioned table that is no partition itself: its leaf partitions' rows (pg_class estimates), 0
    # otherwise. Autovacuum never analyses it, and without ANALYZE the planner guesses for the whole table.
    partition_rows: int = 0
    # the table's OID: a table dropped and created again under its name gets a new one (TRUNCATE, VACUUM FULL,
    # CLUSTER, pg_repack keep it), so its size history starts anew (0 in old snapshots)
    oid: int = 0
    # a partitioned table: its sizes are its leaf partitions' summed (it has no storage of its own; a total over
    # tables must not add both). False in snapshots of older pgdba, whose partitioned tables' sizes were 0:
    # not a size sample
    partitions_summed: bool = False
    # a partition of a partitioned table: its bytes and growth are in that table's too
    is_partition: bool = False
    # the planner has statistics of it (pg_stats; a partitioned table's own, over its partitions): it was
    # analysed once, whatever last_analyze says (an activity counter, cleared by pg_stat_reset() and a crash).
    # None: unknown (no SELECT on it, row security hides them, or a snapshot written before this was read)
    has_stats: bool | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def last_vacuumed(self) -> datetime | None:
        return max((t for t in (self.last_vacuum, self.last_autovacuum) if t), default=None)

    @property
    def last_analyzed(self) -> datetime | None:
        return max((t for t in (self.last_analyze, self.last_autoanalyze) if t), default=None)

    @property
    def dead_ratio(self) -> float:
        total = self.live_rows + self.dead_rows
        return self.dead_rows / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# A table whose lock (or whose TOAST table's or an index's) is blocked (pgdba.stats.locks) gets pg_class's page
# counts as sizes, flagged `locked`, and no lock is taken on it. A partitioned table's sizes are its leaf
# partitions' summed (locked when one of them is): it has no storage of its own.
TABLE_STATS_SQL = f"""
WITH blocked AS ({BLOCKED_RELATIONS}), tables AS (
    SELECT t.*, c.reltoastrelid, c.reltuples, c.reloptions, c.relpages, c.relkind, c.relispartition,
           coalesce(toast.relpages, 0) AS toast_pages,
           coalesce(ix.pages, 0) AS index_pages,
           (t.relid IN (SELECT relation FROM blocked)
            OR c.reltoastrelid IN (SELECT relation FROM blocked)
            OR EXISTS (SELECT 1 FROM pg_index AS x
                        WHERE x.indrelid = t.relid AND x.indexrelid IN (SELECT relation FROM blocked)))
             AS locked
      FROM pg_stat_user_tables AS t
      JOIN pg_class AS c ON c.oid = t.relid
      LEFT JOIN pg_class AS toast ON toast.oid = c.reltoastrelid
      LEFT JOIN LATERAL (SELECT sum(i.relpages) AS pages
                           FROM pg_index AS x
                           JOIN pg_class AS i ON i.oid = x.indexrelid
                          WHERE x.indrelid = t.relid) AS ix ON true
     WHERE c.relpersistence <> 't'  -- temp tables: only their own session can vacuum, analyze or alter them
), measured AS (  -- each table's own storage (none for a partitioned table)
    SELECT t.relid,
           t.locked,
           CASE WHEN t.locked THEN (t.relpages + t.toast_pages + t.index_pages)::bigint * block.size
                ELSE pg_total_relation_size(t.relid) END AS total_bytes,
           CASE WHEN t.locked THEN t.relpages::bigint * block.size
                ELSE pg_relation_size(t.relid) END AS table_bytes,
           CASE WHEN t.locked THEN t.index_pages::bigint * block.size
                ELSE pg_indexes_size(t.relid) END AS index_bytes,
           CASE WHEN t.locked THEN t.toast_pages::bigint * block.size
                ELSE coalesce(pg_total_relation_size(nullif(t.reltoastrelid, 0)), 0) END AS toast_bytes
      FROM tables AS t
     CROSS JOIN (SELECT current_setting('block_size')::bigint AS size) AS block
)
SELECT t.schemaname AS schema,
       t.relname AS "table",
       coalesce(parts.total_bytes, m.total_bytes) AS total_bytes,
       coalesce(parts.table_bytes, m.table_bytes) AS table_bytes,
       coalesce(parts.index_bytes, m.index_bytes) AS index_bytes,
       coalesce(parts.toast_bytes, m.toast_bytes) AS toast_bytes,
       greatest(t.reltuples, 0)::bigint AS estimated_rows,
       t.n_live_tup AS live_rows,
       t.n_dead_tup AS dead_rows,
       t.n_mod_since_analyze AS modified_since_analyze,
       t.n_tup_ins AS inserts,
       t.n_tup_upd AS updates,
       t.n_tup_del AS deletes,
       t.n_tup_hot_upd AS hot_updates,
       t.seq_scan AS seq_scans,
       t.seq_tup_read AS seq_rows_read,
       coalesce(t.idx_scan, 0) AS index_scans,
       t.last_vacuum,
       t.last_autovacuum,
       t.last_analyze,
       t.last_autoanalyze,
       t.vacuum_count,
       t.autovacuum_count,
       t.analyze_count,
       t.autoanalyze_count,
       EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = t.relid AND p.contype = 'p') AS has_primary_key,
       coalesce(t.reloptions, '{{}}') AS reloptions,
       t.locked OR coalesce(parts.locked, false) AS locked,
       CASE t.relkind WHEN 'm' THEN 'materialized view'
                      WHEN 'p' THEN 'partitioned table'
                      ELSE 'table' END AS kind,
       CASE WHEN t.relkind = 'p' AND NOT t.relispartition THEN parts.rows ELSE 0 END AS partition_rows,
       t.relid::bigint AS oid,
       t.relkind = 'p' AS partitions_summed,
       t.relispartition AS is_partition,
       -- pg_stats, not pg_statistic (superuser only): it shows the columns this role may SELECT
       CASE WHEN EXISTS (SELECT 1
                           FROM pg_stats AS s
                          WHERE s.schemaname = t.schemaname
                            AND s.tablename = t.relname
                            AND s.inherited = (t.relkind = 'p')) THEN true
            WHEN has_table_privilege(t.relid, 'SELECT') AND NOT row_security_active(t.relid) THEN false
       END AS has_stats
  FROM tables AS t
  JOIN measured AS m ON m.relid = t.relid
  LEFT JOIN LATERAL (  -- a partitioned table's leaf partitions: their rows (pg_class estimates) and sizes
      SELECT coalesce(sum(greatest(leaf.reltuples, 0)), 0)::bigint AS rows,
             coalesce(sum(lm.total_bytes), 0)::bigint AS total_bytes,
             coalesce(sum(lm.table_bytes), 0)::bigint AS table_bytes,
             coalesce(sum(lm.index_bytes), 0)::bigint AS index_bytes,
             coalesce(sum(lm.toast_bytes), 0)::bigint AS toast_bytes,
             coalesce(bool_or(lm.locked), false) AS locked
        FROM {leaf_partitions("t.relid")} AS leaf
        LEFT JOIN measured AS lm ON lm.relid = leaf.oid
  ) AS parts ON t.relkind = 'p'
 ORDER BY total_bytes DESC
"""


def table_stats(conn: psycopg.Connection) -> list[TableStats]:
    """Every user table of the current database, largest first; never waits for a table's lock (see
    TABLE_STATS_SQL)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(TABLE_STATS_SQL).fetchall()
    return [TableStats(**{**row, "reloptions": tuple(row["reloptions"])}) for row in rows]


def measured_sizes(tables: Iterable[TableStats]) -> dict[str, int]:
    """schema.table → total bytes of the tables whose size was measured: a locked table's size is only
    pg_class's estimate, which would fake growth."""
    return {t.qualified_name: t.total_bytes for t in tables if not t.locked}
