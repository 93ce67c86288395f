"""How far ahead a table partitioned by a time range has partitions: past the last one's upper bound an
INSERT fails ("no partition of relation … found for row") unless a DEFAULT partition takes the row.

Read from the catalog only (pg_partitioned_table, pg_inherits and each partition's bound as
pg_get_expr prints it): no partition is locked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from pgdba.stats.partitions import leaf_partitions

# The boundaries after the last partition: from its upper bound, one partition step (the last partition's
# width, as age() tells it: `1 mon`, `1 day`) at a time, past now() plus the runway wanted (a week, or two
# steps when longer), at most this many.
MAX_NEXT_BOUNDS = 60

LEAVES = leaf_partitions("l.part_oid")

# Each table (not itself a partition) range-partitioned by one date / timestamp / timestamptz column, with
# its partitions' bounds: `FOR VALUES FROM ('…') TO ('…')`, `… TO (MAXVALUE)` (or `'infinity'`), `DEFAULT`. The last
# partition is the one with the highest upper bound; the next boundaries are printed as the key's type
# prints them (a timestamptz in the session's time zone, which PostgreSQL reads back the same).
RUNWAY_SQL = rf"""
WITH keyed AS (
    SELECT c.oid, n.nspname AS schema, c.relname AS table_name, a.attname AS key_column,
           a.atttypid::regtype::text AS key_type
      FROM pg_partitioned_table AS pt
      JOIN pg_class AS c ON c.oid = pt.partrelid
      JOIN pg_namespace AS n ON n.oid = c.relnamespace
      JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0]
     WHERE pt.partstrat = 'r'
       AND pt.partnatts = 1
       AND a.atttypid IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype)
       AND NOT c.relispartition
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
), bounds AS (
    SELECT k.oid, p.oid AS part_oid, p.relkind::text AS part_kind, pn.nspname AS part_schema, p.relname AS part_name,
           pg_get_expr(p.relpartbound, p.oid) AS bound
      FROM keyed AS k
      JOIN pg_inherits AS i ON i.inhparent = k.oid
      JOIN pg_class AS p ON p.oid = i.inhrelid
      JOIN pg_namespace AS pn ON pn.oid = p.relnamespace
), parsed AS (
    SELECT b.*,
           (regexp_match(b.bound, $$FROM \('([^']*)'\)$$))[1]::timestamptz AS lower_at,
           (regexp_match(b.bound, $$ TO \('([^']*)'\)$$))[1]::timestamptz AS upper_at
      FROM bounds AS b
), last AS (
    SELECT DISTINCT ON (oid) oid, part_oid, part_kind, part_schema, part_name,
           CASE WHEN isfinite(lower_at) THEN lower_at END AS lower_at, upper_at
      FROM parsed
     WHERE upper_at IS NOT NULL AND isfinite(upper_at)
     ORDER BY oid, upper_at DESC
), summary AS (
    SELECT oid,
           count(*) AS partitions,
           bool_or(bound = 'DEFAULT') AS has_default,
           bool_or(bound LIKE '%% TO (MAXVALUE)' OR upper_at = 'infinity') AS unbounded
      FROM parsed
     GROUP BY oid
)
SELECT k.schema, k.table_name, k.key_column, k.key_type, coalesce(s.partitions, 0) AS partitions,
       coalesce(s.has_default, false) AS has_default, coalesce(s.unbounded, false) AS unbounded,
       l.part_schema AS last_schema, l.part_name AS last_name, l.lower_at AS last_lower, l.upper_at AS covered_until,
       now() AS now,
       coalesce((SELECT sum(st.n_tup_ins) FROM pg_stat_all_tables AS st WHERE st.relid = l.part_oid), 0)
         + coalesce((SELECT sum(st.n_tup_ins)
                       FROM {LEAVES} AS leaf
                       JOIN pg_stat_all_tables AS st ON st.relid = leaf.oid), 0) AS last_inserts,
       CASE WHEN l.lower_at IS NULL THEN NULL ELSE age(l.upper_at, l.lower_at)::text END AS step,
       CASE WHEN l.part_kind = 'p' THEN pg_get_partkeydef(l.part_oid) END AS last_partition_key,
       (SELECT spt.partexprs IS NOT NULL
               OR EXISTS (SELECT FROM pg_attribute AS sa
                           WHERE sa.attrelid = spt.partrelid AND sa.attnum = ANY (spt.partattrs::int2[])
                             AND sa.attname = k.key_column)
          FROM pg_partitioned_table AS spt
         WHERE spt.partrelid = l.part_oid) AS last_key_follows_time,
       (SELECT coalesce(json_agg(json_build_object(
                   'schema', cn.nspname, 'name', c.relname, 'partitioned', c.relkind = 'p',
                   'bound', pg_get_expr(c.relpartbound, c.oid)) ORDER BY c.relname), '[]')
          FROM pg_inherits AS ci
          JOIN pg_class AS c ON c.oid = ci.inhrelid
          JOIN pg_namespace AS cn ON cn.oid = c.relnamespace
         WHERE ci.inhparent = l.part_oid AND l.part_kind = 'p') AS last_children,
       CASE WHEN l.lower_at IS NULL OR l.upper_at <= l.lower_at THEN ARRAY[]::text[]
            ELSE ARRAY(
                SELECT CASE k.key_type WHEN 'date' THEN to_char(b, 'YYYY-MM-DD')
                                       WHEN 'timestamp without time zone' THEN b::timestamp::text
                                       ELSE b::text END
                  FROM generate_series(
                           l.upper_at,
                           now() + greatest(interval '7 days', 2 * age(l.upper_at, l.lower_at))
                                 + age(l.upper_at, l.lower_at),
                           age(l.upper_at, l.lower_at)) AS b
                 LIMIT %(most)s)
       END AS next_bounds
  FROM keyed AS k
  LEFT JOIN summary AS s ON s.oid = k.oid
  LEFT JOIN last AS l ON l.oid = k.oid
 ORDER BY k.schema, k.table_name
"""


@dataclass(frozen=True)
class SubPartition:
    """A partition of the last partition, when that one is partitioned in turn."""

    schema: str
    name: str
    bound: str  # as pg_get_expr prints it: `FOR VALUES WITH (modulus 4, remainder 0)`, `DEFAULT`
    partitioned: bool


@dataclass(frozen=True)
class PartitionRunway:
    """A time-range partitioned table: where its partitions end, and the boundaries of those to come."""

    schema: str
    table: str
    key_column: str
    key_type: str  # date, timestamp without time zone, timestamp with time zone
    partitions: int
    has_default: bool  # a DEFAULT partition takes the rows no other partition covers
    unbounded: bool  # a partition reaches MAXVALUE
    last_schema: str | None  # the partition with the highest upper bound
    last_name: str | None
    last_lower: datetime | None
    covered_until: datetime | None  # its upper bound: an INSERT at or after it has no partition
    now: datetime
    step: str | None  # the last partition's width as age() prints it (`1 mon`, `1 day`)
    # rows inserted into the last partition (its leaves) since the statistics reset: none in a table nobody
    # writes any more (an archive), whose partitions may well end in the past
    last_inserts: int = 0
    # the bounds of the partitions to come, as the key's type prints them: [0] is covered_until, each next
    # one a step later, until the runway wanted is covered
    next_bounds: tuple[str, ...] = ()
    # when the last partition is partitioned in turn: its partition key (`HASH (user_id)`), whether that key
    # holds the time key column or an expression (its partitions' bounds then move with each new partition),
    # and its own partitions
    last_partition_key: str | None = None
    last_key_follows_time: bool = False
    last_children: tuple[SubPartition, ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def last_partitioned(self) -> bool:
        """The last partition is partitioned in turn (it has a partition key)."""
        return self.last_partition_key is not None

    @property
    def takes_every_row(self) -> bool:
        """A DEFAULT partition, or one up to MAXVALUE / 'infinity': no INSERT ever lacks a partition."""
        return self.has_default or self.unbounded

    @property
    def archive(self) -> bool:
        """Partitions that end, the last of which took no INSERT since the statistics reset: a table nobody
        writes any more (or nothing counted yet), whose partitions may well end in the past."""
        return self.covered_until is not None and self.last_inserts == 0


def partition_runways(conn: psycopg.Connection) -> list[PartitionRunway]:
    """Every table range-partitioned by one date or timestamp column, with where its partitions end."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(RUNWAY_SQL, {"most": MAX_NEXT_BOUNDS}).fetchall()
    return [
        PartitionRunway(
            schema=row["schema"],
            table=row["table_name"],
            key_column=row["key_column"],
            key_type=row["key_type"],
            partitions=int(row["partitions"]),
            has_default=bool(row["has_default"]),
            unbounded=bool(row["unbounded"]),
            last_schema=row["last_schema"],
            last_name=row["last_name"],
            last_lower=row["last_lower"],
            covered_until=row["covered_until"],
            now=row["now"],
            step=row["step"],
            last_inserts=int(row["last_inserts"]),
            next_bounds=tuple(row["next_bounds"] or ()),
            last_partition_key=row["last_partition_key"],
            last_key_follows_time=bool(row["last_key_follows_time"]),
            last_children=tuple(
                SubPartition(c["schema"], c["name"], c["bound"], bool(c["partitioned"]))
                for c in row["last_children"] or ()
            ),
        )
        for row in rows
    ]
