"""What the advisor needs to know about tables: size, column statistics, existing indexes, write volume."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pglast
import psycopg
from pglast import ast
from psycopg import sql
from psycopg.rows import dict_row

from pgdba.advisor.parse_tree import column_name
from pgdba.advisor.query_columns import CAST_KEY_FUNCTIONS, cast_type_name, key_function_name
from pgdba.sql_text import identifier, qualified
from pgdba.stats.indexes import (
    ATTACHED_TO_SQL,
    CONSTRAINT_INDEXES_SQL,
    INCLUDE_COLUMNS_SQL,
    KEY_COLUMNS_SQL,
    KEY_DEFINITIONS_SQL,
    KEY_OPCLASSES_SQL,
    KEY_OPTIONS_SQL,
    SERVED_FOREIGN_KEY_SQL,
)
from pgdba.stats.locks import BLOCKED_RELATIONS
from pgdba.stats.partitions import TIMESCALE_CHUNKS_SQL

# Columns wider than this on average make poor btree keys (and the btree limit is ~2.7 kB per entry).
MAX_KEY_AVG_WIDTH = 512
# Types btree can order but an index on them rarely pays (Dexter and Supabase exclude them too).
_UNHELPFUL_TYPES = frozenset({"json", "jsonb", "xml", "point", "bytea", "tsvector"})


@dataclass(frozen=True)
class ColumnInfo:
    """One column and its planner statistics (avg_width in bytes, n_distinct as an absolute count)."""

    name: str
    type_name: str
    btree_ok: bool
    avg_width: int
    n_distinct: float
    null_frac: float
    dedup_ok: bool
    # the operator class a btree key needs to serve `LIKE 'abc%'` on it: "" (the default one serves it: a
    # "C"/"POSIX" collation), "text_pattern_ops" / "varchar_pattern_ops" / "bpchar_pattern_ops" (any other
    # collation compares by locale rules, where no prefix range exists), None (not a string column)
    like_opclass: str | None = None


@dataclass(frozen=True)
class ExistingIndex:
    """An index that already exists; `columns` holds "" for expression keys."""

    name: str
    schema: str
    table: str
    columns: tuple[str, ...]
    access_method: str
    is_unique: bool
    is_primary: bool
    backs_constraint: bool
    is_valid: bool
    is_partial: bool
    size_bytes: int
    scans: int
    definition: str
    predicate: str | None = None  # the WHERE of a partial index, as pg_get_expr prints it
    # per key column "operator class/collation": the same columns under another opclass or collation serve
    # other queries (LIKE 'ab%' needs text_pattern_ops or COLLATE "C")
    key_opclasses: tuple[str, ...] = ()
    # per key column: (function, column) for an expression key of one of KEY_FUNCTIONS on one column
    # (`lower(email)`, as pg_get_indexdef prints it, casts seen through), else None
    key_functions: tuple[tuple[str, str] | None, ...] = ()
    serves_foreign_key: str | None = None  # the FK it serves (pgdba.stats.indexes.SERVED_FOREIGN_KEY_SQL)
    # per key column pg_index.indoption: bit 1 DESC, bit 2 NULLS FIRST (the order a scan returns rows in)
    key_options: tuple[int, ...] = ()
    # the partitioned index this partition's index is attached to: it can only be dropped with that one
    attached_to: str | None = None
    oid: int = 0
    # its INCLUDE columns: an index-only scan returns them, so an index covers another only if it holds them
    include_columns: tuple[str, ...] = ()
    # an index on a partitioned table: size and scans are its leaf partitions' parts summed, plans name the
    # parts (part_names), and it is dropped whole, without CONCURRENTLY (PostgreSQL refuses it there)
    partitioned: bool = False
    part_names: tuple[str, ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def protected(self) -> bool:
        """Unique, primary-key and constraint indexes are never advised to be dropped."""
        return self.is_unique or self.is_primary or self.backs_constraint


@dataclass
class TableInfo:
    """A table with what sizes, candidates and write costs need."""

    oid: int
    schema: str
    name: str
    rows: float
    pages: int
    size_bytes: int
    writes: int  # index-touching row writes since the statistics reset: inserts + non-HOT updates
    # analysed, and since then no row changed, nor any updated or deleted since the statistics reset (a crash
    # also resets them, and loses the ANALYZE times: such a table is not called unchanged)
    unchanged: bool = False
    columns: dict[str, ColumnInfo] = field(default_factory=dict)
    indexes: list[ExistingIndex] = field(default_factory=list)
    # a partitioned table (rows, pages, sizes and writes summed over its leaf partitions): its indexes are
    # created on it, which builds one on every partition, and cannot be built CONCURRENTLY
    partitioned: bool = False
    # the relation it needs (itself, a partition, an index, its TOAST table) that another session holds or
    # waits for an ACCESS EXCLUSIVE lock on (DDL in flight), or None: its size is pg_class's page count and
    # its indexes are not read (pg_table_size, pg_get_indexdef … would wait for that lock)
    locked: str | None = None
    # holds pages but was never analysed (nor vacuumed): no column statistics, so the planner guesses what
    # matches; `rows` is then the planner's estimate from its size, not pg_class.reltuples (-1)
    never_analysed: bool = False
    # the tables that inherit from it (table inheritance, not declarative partitioning), `schema.table`:
    # a query of it scans them too, and an index on it covers its own rows only
    inheritance_children: tuple[str, ...] = ()
    # the indexes of each of its inheritance children that is a plain table (every level), one tuple a child:
    # an index on the table itself serves none of their rows
    children_indexes: tuple[tuple[ExistingIndex, ...], ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"


TABLES_SQL = f"""
WITH RECURSIVE parts AS (  -- a partitioned table's figures are its leaf partitions' sums; a table is its own
    SELECT c.oid AS root, coalesce(t.relid, c.oid) AS leaf  -- leaf, with its inheritance children if any
      FROM pg_class c
      -- (not on a locked table: pg_partition_tree locks every partition; pg_partition_tree(NULL) is empty)
      LEFT JOIN LATERAL pg_partition_tree(CASE WHEN c.oid <> ALL(%(locked)s) THEN c.oid END) t
             ON c.relkind = 'p' AND t.isleaf
     WHERE c.oid = ANY(%(oids)s)
    UNION ALL
    SELECT p.root, h.inhrelid  -- (a locked child makes its parent locked: catalog.locked_relations)
      FROM parts p
      JOIN pg_inherits h ON h.inhparent = p.leaf
      JOIN pg_class r ON r.oid = p.root
     WHERE r.relkind <> 'p'
       AND p.root <> ALL(%(locked)s)
       AND h.inhrelid NOT IN (SELECT oid FROM timescale_chunks)
), timescale_chunks AS (
    -- TimescaleDB's chunks inherit from their hypertable, and TimescaleDB builds a hypertable's indexes on
    -- them itself (it refuses CREATE INDEX CONCURRENTLY there): not read as inheritance children
    {TIMESCALE_CHUNKS_SQL}
)
SELECT c.oid::int AS oid,
       n.nspname AS schema,
       c.relname AS name,
       c.relkind = 'p' AS partitioned,
       sum(greatest(l.reltuples, 0))::float8 AS rows,
       coalesce(sum(l.relpages), 0)::int AS pages,
       coalesce(sum(CASE WHEN c.oid = ANY(%(locked)s)
                         THEN l.relpages::bigint * current_setting('block_size')::bigint
                         ELSE pg_table_size(l.oid) END), 0)::bigint AS size_bytes,
       coalesce(sum(s.n_tup_ins + s.n_tup_upd - s.n_tup_hot_upd), 0)::bigint AS writes,
       coalesce(bool_and(s.n_tup_upd + s.n_tup_del = 0 AND s.n_mod_since_analyze = 0
                         AND coalesce(s.last_analyze, s.last_autoanalyze) IS NOT NULL), false) AS unchanged,
       -- (pg_relation_size waits for a lock another session holds: a locked table is not asked)
       coalesce(bool_or(l.reltuples < 0 AND l.relkind <> 'f' AND c.oid <> ALL(%(locked)s)
                        AND pg_relation_size(l.oid) > 0), false) AS never_analysed,
       (SELECT coalesce(array_agg(cn.nspname || '.' || ch.relname ORDER BY cn.nspname, ch.relname), '{{}}')
          FROM pg_inherits i
          JOIN pg_class ch ON ch.oid = i.inhrelid
          JOIN pg_namespace cn ON cn.oid = ch.relnamespace
         WHERE i.inhparent = c.oid AND c.relkind <> 'p'
           AND ch.oid NOT IN (SELECT oid FROM timescale_chunks)) AS inheritance_children,
       coalesce(array_agg(l.oid::int ORDER BY l.oid)
                  FILTER (WHERE c.relkind <> 'p' AND l.oid <> c.oid AND l.relkind = 'r'), '{{}}') AS child_oids
  FROM parts p
  JOIN pg_class c ON c.oid = p.root
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class l ON l.oid = p.leaf
  LEFT JOIN pg_stat_user_tables s ON s.relid = l.oid
 WHERE c.relkind IN ('r', 'm', 'p')
 GROUP BY c.oid, n.nspname, c.relname, c.relkind
"""

COLUMNS_SQL = """
SELECT a.attrelid::int AS oid,
       a.attname AS name,
       format_type(a.atttypid, a.atttypmod) AS type_name,
       t.typname AS base_type,
       -- the key's type is a domain's base type; an enum's default operator class is enum_ops, declared
       -- for anyenum (Prisma maps every enum to one: status columns)
       EXISTS (SELECT 1
                 FROM pg_opclass oc
                 JOIN pg_am am ON am.oid = oc.opcmethod
                WHERE am.amname = 'btree'
                  AND oc.opcdefault
                  AND (oc.opcintype = t.oid
                       OR (oc.opcintype = 'anyenum'::regtype AND t.typtype = 'e')
                       OR EXISTS (SELECT 1
                                    FROM pg_cast ca
                                   WHERE ca.castsource = t.oid
                                     AND ca.casttarget = oc.opcintype
                                     AND ca.castmethod = 'b'))) AS has_btree,
       coalesce(s.avg_width, t.typlen, 32) AS avg_width,
       s.n_distinct,
       coalesce(s.null_frac, 0)::float8 AS null_frac,
       t.typcategory AS category,
       CASE WHEN t.typname NOT IN ('text', 'varchar', 'bpchar') THEN NULL
            -- a libc "C"/"POSIX" collation (the column's, or the database's default): the default operator
            -- class serves a LIKE prefix search; any other (ICU, builtin, a locale) needs a pattern one
            WHEN coalesce(CASE WHEN a.attcollation = 100  -- DEFAULT_COLLATION_OID
                               THEN (SELECT d.datcollate IN ('C', 'POSIX')
                                            AND coalesce(to_jsonb(d) ->> 'datlocprovider', 'c') = 'c'
                                       FROM pg_database d
                                      WHERE d.datname = current_database())
                               ELSE co.collprovider = 'c' AND co.collcollate IN ('C', 'POSIX')
                          END, false)
            THEN ''
            ELSE t.typname || '_pattern_ops'
       END AS like_opclass
  FROM pg_attribute a
  -- the column's type, or for a domain (over a domain …) the type it is based on
  CROSS JOIN LATERAL (
      WITH RECURSIVE based(oid, typtype, typbasetype, depth) AS (
          SELECT ty.oid, ty.typtype, ty.typbasetype, 0 FROM pg_type ty WHERE ty.oid = a.atttypid
          UNION ALL
          SELECT ty.oid, ty.typtype, ty.typbasetype, b.depth + 1
            FROM based b
            JOIN pg_type ty ON ty.oid = b.typbasetype
           WHERE b.typtype = 'd'
      )
      SELECT b.oid FROM based b ORDER BY b.depth DESC LIMIT 1
  ) AS base
  JOIN pg_type t ON t.oid = base.oid
  LEFT JOIN pg_collation co ON co.oid = a.attcollation
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_stats s ON s.schemaname = n.nspname
                      AND s.tablename = c.relname
                      AND s.attname = a.attname
                      -- a partitioned table's are over its partitions, an inheritance parent's over its
                      -- children too (as the planner reads them for a query of it)
                      AND s.inherited = (c.relkind = 'p' OR EXISTS (SELECT FROM pg_inherits h
                                                                     WHERE h.inhparent = c.oid))
 WHERE a.attrelid = ANY(%(oids)s)
   AND a.attnum > 0
   AND NOT a.attisdropped
 ORDER BY a.attrelid, a.attnum
"""

INDEXES_SQL = f"""
SELECT i.indrelid::int AS table_oid,
       i.indexrelid::bigint AS oid,
       ic.relname AS name,
       n.nspname AS schema,
       tc.relname AS table_name,
       {KEY_COLUMNS_SQL} AS columns,
       {INCLUDE_COLUMNS_SQL} AS include_columns,
       am.amname AS access_method,
       i.indisunique AS is_unique,
       i.indisprimary AS is_primary,
       ci.conindid IS NOT NULL AS backs_constraint,
       i.indisvalid AS is_valid,
       i.indpred IS NOT NULL AS is_partial,
       CASE WHEN ic.relkind = 'I' THEN parts.size_bytes ELSE pg_relation_size(i.indexrelid) END AS size_bytes,
       CASE WHEN ic.relkind = 'I' THEN parts.scans ELSE coalesce(s.idx_scan, 0) END AS scans,
       ic.relkind = 'I' AS partitioned,
       coalesce(parts.names, '{{}}') AS part_names,
       pg_get_indexdef(i.indexrelid) AS definition,
       pg_get_expr(i.indpred, i.indrelid) AS predicate,
       {KEY_OPCLASSES_SQL} AS key_opclasses,
       {KEY_DEFINITIONS_SQL} AS key_definitions,
       {SERVED_FOREIGN_KEY_SQL} AS serves_foreign_key,
       {KEY_OPTIONS_SQL} AS key_options,
       {ATTACHED_TO_SQL} AS attached_to
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class tc ON tc.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = ic.relnamespace
  JOIN pg_am am ON am.oid = ic.relam
  LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
  LEFT JOIN {CONSTRAINT_INDEXES_SQL} AS ci ON ci.conindid = i.indexrelid
  LEFT JOIN LATERAL (  -- a partitioned index's leaf parts: they hold its pages, count its scans, name it in plans
      SELECT coalesce(sum(pg_relation_size(t.relid)), 0)::bigint AS size_bytes,
             coalesce(sum(u.idx_scan), 0)::bigint AS scans,
             array_agg(pc.relname::text) FILTER (WHERE pc.relname IS NOT NULL) AS names
        FROM pg_partition_tree(i.indexrelid) t
        JOIN pg_class pc ON pc.oid = t.relid
        LEFT JOIN pg_stat_all_indexes u ON u.indexrelid = t.relid
       WHERE t.isleaf AND t.relid <> i.indexrelid
  ) parts ON ic.relkind = 'I'
 WHERE i.indrelid = ANY(%(oids)s)
   AND i.indrelid <> ALL(%(locked)s)  -- pg_relation_size, pg_get_indexdef, pg_get_expr wait for its lock
 ORDER BY ic.relname
"""

# Relation OID → the relation planning or sizing it locks (itself; a view's tables; a partitioned table's
# partitions; every index, which the planner opens; the TOAST table, which pg_table_size opens) that another
# session holds or waits for an ACCESS EXCLUSIVE lock on (pgdba.stats.locks), itself named first. Catalog
# rows only: it takes no lock.
LOCKED_RELATIONS_SQL = f"""
WITH RECURSIVE blocked AS ({BLOCKED_RELATIONS}), needs(relid, needed) AS (
    SELECT r.relid, r.relid FROM unnest(%(oids)s::oid[]) AS r(relid)
    UNION
    SELECT needs.relid, more.needed
      FROM needs
     CROSS JOIN LATERAL (
         SELECT h.inhrelid FROM pg_inherits AS h WHERE h.inhparent = needs.needed
          UNION ALL
         SELECT x.indexrelid FROM pg_index AS x WHERE x.indrelid = needs.needed
          UNION ALL
         SELECT t.reltoastrelid FROM pg_class AS t WHERE t.oid = needs.needed AND t.reltoastrelid <> 0
          UNION ALL
         SELECT d.refobjid
           FROM pg_class AS v
           JOIN pg_rewrite AS w ON w.ev_class = v.oid
           JOIN pg_depend AS d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
                              AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> v.oid
          WHERE v.oid = needs.needed AND v.relkind = 'v'
     ) AS more(needed)
)
SELECT needs.relid::int AS oid,
       (array_agg(n.nspname || '.' || c.relname ORDER BY needs.needed <> needs.relid, n.nspname, c.relname))[1]
         AS locked
  FROM needs
  JOIN pg_class AS c ON c.oid = needs.needed
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
 WHERE needs.needed IN (SELECT relation FROM blocked)
 GROUP BY needs.relid
"""

RESOLVE_SQL = """
SELECT to_regclass(%(name)s)::oid::int
"""

USER_TABLES_SQL = """
SELECT c.oid::int
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'm', 'p')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_%%'
"""


def resolve_relations(conn: psycopg.Connection, names: Iterable[str]) -> dict[str, int]:
    """Relation names as written in queries (`schema.table` or `table`) → table OID, per the search_path."""
    found: dict[str, int] = {}
    with conn.cursor() as cur:
        for name in dict.fromkeys(names):
            for quoted in _quoted_names(name):
                try:
                    row = cur.execute(RESOLVE_SQL, {"name": quoted}).fetchone()
                except psycopg.Error:
                    continue
                if row and row[0] is not None:
                    found[name] = int(row[0])
                    break
    return found


def _quoted_names(name: str) -> list[str]:
    """What `name` may stand for, each part quoted (the parser already folded case, so each is kept exactly
    as parsed): `schema.table` first, then the whole as one table name, then the other places a dot inside
    a name (`public."user.events"` is written `public.user.events`) may split it."""
    parts = name.split(".")
    splits = [1, 0, *range(2, len(parts))] if len(parts) > 1 else [0]
    return [
        qualified(".".join(parts[:at]), ".".join(parts[at:])) if at else identifier(name) for at in splits
    ]


def user_table_oids(conn: psycopg.Connection) -> list[int]:
    """Every user table (partitioned ones and their partitions too) and materialized view of the database."""
    with conn.cursor() as cur:
        return [int(row[0]) for row in cur.execute(USER_TABLES_SQL).fetchall()]


def locked_relations(conn: psycopg.Connection, oids: Iterable[int]) -> dict[int, str]:
    """Relation OID (a table or a view) → `schema.name` of a relation that querying or sizing it would lock
    and that another session holds or waits for an ACCESS EXCLUSIVE lock on (see LOCKED_RELATIONS_SQL); the
    others are left out. Takes no lock itself."""
    oid_list = sorted(set(oids))
    if not oid_list:
        return {}
    with conn.cursor() as cur:
        rows = cur.execute(LOCKED_RELATIONS_SQL, {"oids": oid_list}).fetchall()
    return {int(oid): str(name) for oid, name in rows}


def load_tables(conn: psycopg.Connection, oids: Iterable[int]) -> dict[int, TableInfo]:
    """Tables (by OID) with their columns, statistics and indexes; a table another session holds locked
    (TableInfo.locked) is read without waiting for its lock: its size from pg_class, no indexes."""
    oid_list = sorted(set(oids))
    if not oid_list:
        return {}
    locked = locked_relations(conn, oid_list)
    params = {"oids": oid_list, "locked": sorted(locked)}
    with conn.cursor(row_factory=dict_row) as cur:
        table_rows = cur.execute(TABLES_SQL, params).fetchall()
        tables = {
            row["oid"]: TableInfo(
                oid=row["oid"],
                schema=row["schema"],
                name=row["name"],
                rows=float(row["rows"]),
                pages=int(row["pages"]),
                size_bytes=int(row["size_bytes"]),
                writes=int(row["writes"]),
                unchanged=bool(row["unchanged"]),
                partitioned=bool(row["partitioned"]),
                locked=locked.get(row["oid"]),
                never_analysed=bool(row["never_analysed"]),
                inheritance_children=tuple(row["inheritance_children"]),
            )
            for row in table_rows
        }
        for unanalysed in (t for t in tables.values() if t.never_analysed):
            unanalysed.rows = _planner_rows(cur, unanalysed)
        for row in cur.execute(COLUMNS_SQL, {"oids": oid_list}).fetchall():
            table = tables.get(row["oid"])
            if table is None:
                continue
            table.columns[row["name"]] = _column(row, table.rows)
        # (child, table) pairs: a grandchild is the child of each of its ancestors asked for
        inherits = [(int(oid), int(row["oid"])) for row in table_rows for oid in row["child_oids"]]
        by_child: dict[int, list[ExistingIndex]] = {child: [] for child, _ in inherits}
        if by_child:
            child_params = {"oids": sorted(by_child), "locked": params["locked"]}
            for row in cur.execute(INDEXES_SQL, child_params).fetchall():
                by_child[row["table_oid"]].append(_existing_index(row))
        for child, parent in inherits:
            tables[parent].children_indexes += (tuple(by_child[child]),)
        for row in cur.execute(INDEXES_SQL, params).fetchall():
            table = tables.get(row["table_oid"])
            if table is None:
                continue
            table.indexes.append(_existing_index(row))
    return tables


def _existing_index(row: dict[str, Any]) -> ExistingIndex:
    return ExistingIndex(
        oid=int(row["oid"]),
        name=row["name"],
        schema=row["schema"],
        table=row["table_name"],
        columns=tuple(row["columns"]),
        include_columns=tuple(row["include_columns"]),
        access_method=row["access_method"],
        is_unique=row["is_unique"],
        is_primary=row["is_primary"],
        backs_constraint=row["backs_constraint"],
        is_valid=row["is_valid"],
        is_partial=row["is_partial"],
        size_bytes=int(row["size_bytes"]),
        scans=int(row["scans"]),
        definition=row["definition"],
        predicate=row["predicate"],
        key_opclasses=tuple(row["key_opclasses"]),
        key_functions=tuple(key_function(text) for text in row["key_definitions"]),
        serves_foreign_key=row["serves_foreign_key"],
        key_options=tuple(row["key_options"]),
        attached_to=row["attached_to"],
        partitioned=bool(row["partitioned"]),
        part_names=tuple(row["part_names"]),
    )


def _planner_rows(cur: psycopg.Cursor[dict[str, Any]], table: TableInfo) -> float:
    """The rows the planner expects a query of the table to read (a partitioned one: its partitions'; one
    with inheritance children: theirs too, as `rows` sums them). For one never analysed that is its
    estimate from the size on disk, as every plan of it uses."""
    query = sql.SQL("EXPLAIN (FORMAT JSON) SELECT FROM {}").format(sql.Identifier(table.schema, table.name))
    plan = cur.execute(query).fetchone()
    assert plan is not None
    return float(next(iter(plan.values()))[0]["Plan"]["Plan Rows"])


def never_analysed_note(tables: Iterable[TableInfo]) -> str | None:
    """A note naming the workload's tables that were never analysed: what is advised for them rests on the
    planner's guesses and may change once they are."""
    names = sorted({t.qualified_name for t in tables if t.never_analysed})
    if not names:
        return None
    return (
        f"never analysed: {', '.join(names)}: without column statistics the planner guesses how many rows a "
        "condition matches (and their row count is its estimate from the size on disk), so the advice for "
        f"{'it' if len(names) == 1 else 'them'} may change once analysed; run ANALYZE on "
        f"{'it' if len(names) == 1 else 'them'} (it reads a sample and blocks neither reads nor writes; "
        "`pgdba maintenance --apply` does it), then advise again"
    )


def _column(row: dict[str, object], table_rows: float) -> ColumnInfo:
    n_distinct = row["n_distinct"]
    if n_distinct is None:
        distinct = max(min(table_rows, 200.0), 1.0)  # no statistics: the planner's default guess
    elif float(n_distinct) < 0:  # type: ignore[arg-type]
        distinct = max(-float(n_distinct) * table_rows, 1.0)  # type: ignore[arg-type]
    else:
        distinct = max(float(n_distinct), 1.0)  # type: ignore[arg-type]
    avg_width = int(row["avg_width"] or 8)  # type: ignore[call-overload]
    if avg_width < 0:
        avg_width = 32
    base_type = str(row["base_type"])
    btree_ok = bool(row["has_btree"]) and base_type not in _UNHELPFUL_TYPES and avg_width <= MAX_KEY_AVG_WIDTH
    # btree deduplication is off for numeric, float and container types (PostgreSQL docs, "Deduplication")
    dedup_ok = base_type not in {"numeric", "float4", "float8", "jsonb"} and str(row["category"]) != "A"
    return ColumnInfo(
        name=str(row["name"]),
        type_name=str(row["type_name"]),
        btree_ok=btree_ok,
        avg_width=avg_width,
        n_distinct=distinct,
        null_frac=float(row["null_frac"]),  # type: ignore[arg-type]
        dedup_ok=dedup_ok,
        like_opclass=None if row["like_opclass"] is None else str(row["like_opclass"]),
    )


def key_function(definition: str) -> tuple[str, str] | None:
    """(function, column) of an index key pg_get_indexdef prints as one of KEY_FUNCTIONS applied to one
    column (`lower(email)`, `lower((nick)::text)` on a varchar, `((created_at)::date)`), else None (a plain
    column, another expression)."""
    try:
        statements = pglast.parse_sql(f"SELECT {definition}")
    except pglast.parser.ParseError:
        return None
    targets = getattr(statements[0].stmt, "targetList", None) if len(statements) == 1 else None
    call = targets[0].val if targets and len(targets) == 1 else None
    if isinstance(call, ast.TypeCast):  # `((created_at)::date)`
        function = cast_type_name(call)
        column = column_name(call.arg) if isinstance(call.arg, ast.ColumnRef) else None
        return (function, column) if function in CAST_KEY_FUNCTIONS and column else None
    if not isinstance(call, ast.FuncCall) or not call.args:
        return None
    function = key_function_name(call)
    column = column_name(call.args[0]) if function else None  # (casts seen through)
    return (function, column) if function and column else None
