"""The live database → SchemaModel, read from the catalog in four queries on one read-only session:
columns (format_type, pg_get_expr, collation), constraints (pg_get_constraintdef), indexes (pg_get_indexdef per key
column, indoption, default operator classes) and enums. Objects that belong to extensions and the
migration tools' bookkeeping tables are left out.

pg_get_expr, pg_get_indexdef and pg_get_constraintdef (of a CHECK) take ACCESS SHARE on the table they print
for, so they would wait for a migration's ACCESS EXCLUSIVE lock until lock_timeout cancels the whole read. A
table another session holds or waits for that lock on is therefore not read (lock-free probe first, as in
pgdba.stats.locks): it is left out of the model, named in its notes and in unevaluated_tables, so no comparison
reports it missing or different. The rows of partitions, never part of the model, are not printed either. (A
lock taken between the probe and the reads is still waited for, up to lock_timeout.)"""

from __future__ import annotations

from typing import Any

import psycopg

from pgdba.schema.expressions import normalise_default, normalise_expression
from pgdba.schema.model import (
    BOOKKEEPING_TABLES,
    Check,
    Column,
    Default,
    EnumType,
    ForeignKey,
    Index,
    IndexColumn,
    PrimaryKey,
    SchemaModel,
    Table,
)
from pgdba.schema.types import quote_ident, user_type, without_full_precision
from pgdba.sql_text import identifier, qualified, unquoted
from pgdba.stats.locks import BLOCKED_RELATIONS
from pgdba.stats.partitions import partition_trees
from pgdba.target import Target, session

_SYSTEM_SCHEMAS = ["pg_catalog", "information_schema", "pg_toast"]
_ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
_IDENTITY = {"a": "always", "d": "by default"}

COLUMNS_SQL = """
SELECT n.nspname AS schema, c.relname AS table, c.relkind = 'p' AS partitioned, a.attname AS column, a.attnum,
       format_type(a.atttypid, a.atttypmod) AS type,
       t.typtype, tn.nspname AS type_schema, t.typname, et.typtype AS element_typtype,
       etn.nspname AS element_schema, et.typname AS element_name,
       a.attnotnull, pg_get_expr(d.adbin, d.adrelid) AS default_expr, a.attidentity, a.attgenerated,
       EXISTS (SELECT 1 FROM pg_depend x
               WHERE x.classid = 'pg_type'::regclass AND x.objid IN (t.oid, et.oid) AND x.deptype = 'e')
         AS extension_type,
       -- a collation other than the type's default (an array's type has its element's)
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname END AS collation,
       CASE WHEN a.attcollation <> t.typcollation THEN con.nspname END AS collation_schema
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_namespace tn ON tn.oid = t.typnamespace
LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN pg_namespace etn ON etn.oid = et.typnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
LEFT JOIN pg_namespace con ON con.oid = co.collnamespace
WHERE c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND n.nspname = ANY(%(schemas)s)
  AND c.oid <> ALL(%(unread)s)
  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.objid = c.oid AND e.classid = 'pg_class'::regclass AND e.deptype = 'e')
ORDER BY n.nspname, c.relname, a.attnum
"""

CONSTRAINTS_SQL = """
SELECT n.nspname AS schema, c.relname AS table, k.conname, k.contype,
       ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum ORDER BY u.ord)::text[] AS columns,
       fn.nspname AS ref_schema, f.relname AS ref_table,
       ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum ORDER BY u.ord)::text[] AS ref_columns,
       k.confdeltype, k.confupdtype, pg_get_constraintdef(k.oid) AS definition,
       pg_get_expr(k.conbin, k.conrelid) AS check_expr
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class f ON f.oid = k.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = f.relnamespace
WHERE k.contype IN ('p', 'u', 'f', 'c')
  AND k.conparentid = 0  -- not the per-partition clones of a foreign key to a partitioned table
  AND NOT c.relispartition
  AND n.nspname = ANY(%(schemas)s)
  AND c.oid <> ALL(%(unread)s)
ORDER BY n.nspname, c.relname, k.conname
"""

INDEXES_SQL = """
SELECT n.nspname AS schema, c.relname AS table, ic.relname AS index, i.indisunique, am.amname,
       pg_get_expr(i.indpred, i.indrelid) AS predicate, i.indnkeyatts, i.indnatts,
       ci.conindid IS NOT NULL AS backs_constraint,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnatts) k)::text[] AS keys,
       i.indoption::int2[] AS options,
       ARRAY(SELECT CASE WHEN oc.opcdefault THEN '' ELSE oc.opcname END
             FROM unnest(i.indclass::oid[]) WITH ORDINALITY u(opc, ord)
             JOIN pg_opclass oc ON oc.oid = u.opc ORDER BY u.ord)::text[] AS opclasses,
       pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
JOIN pg_namespace n ON n.oid = c.relnamespace
-- (joined: pg_constraint has no index on conindid, a correlated lookup would read it once per index)
LEFT JOIN (SELECT DISTINCT conindid FROM pg_constraint WHERE contype IN ('p', 'u', 'x')) ci ON ci.conindid = i.indexrelid
WHERE n.nspname = ANY(%(schemas)s)
  AND c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND c.oid <> ALL(%(unread)s)
ORDER BY n.nspname, c.relname, ic.relname
"""

ENUMS_SQL = """
SELECT n.nspname AS schema, t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text[] AS values
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname = ANY(%(schemas)s)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.classid = 'pg_type'::regclass AND d.deptype = 'e')
GROUP BY n.nspname, t.typname
ORDER BY 1, 2
"""

# the tables of the schemas another session holds or waits for an ACCESS EXCLUSIVE lock on; catalog rows only
LOCKED_TABLES_SQL = f"""
WITH blocked AS ({BLOCKED_RELATIONS})
SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS table
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid IN (SELECT relation FROM blocked)
  AND c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND n.nspname = ANY(%(schemas)s)
ORDER BY n.nspname, c.relname
"""

SCHEMAS_SQL = """
SELECT nspname
FROM pg_namespace
WHERE nspname <> ALL(%(system)s)
  AND nspname NOT LIKE 'pg\\_temp\\_%%'
  AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%%'
  AND nspname <> 'drizzle'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = pg_namespace.oid AND d.deptype = 'e')
ORDER BY 1
"""


def load_live(target: Target, schemas: set[str] | None = None, source: str = "live") -> SchemaModel:
    """Read tables, columns, keys, indexes, foreign keys, checks and enums of the given schemas (default:
    every non-system schema) from the catalog."""
    with session(target) as conn:
        return live_model(conn, schemas, source)


def live_model(conn: psycopg.Connection, schemas: set[str] | None, source: str = "live") -> SchemaModel:
    model = SchemaModel(source=source, kind="live", label="live")
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        if schemas is None:
            schema_list = [
                r["nspname"] for r in cur.execute(SCHEMAS_SQL, {"system": _SYSTEM_SCHEMAS}).fetchall()
            ]
        else:
            schema_list = sorted(schemas)
        locked = cur.execute(LOCKED_TABLES_SQL, {"schemas": schema_list}).fetchall()
        params = {"schemas": schema_list, "unread": [row["oid"] for row in locked]}
        columns = cur.execute(COLUMNS_SQL, params).fetchall()
        constraints = cur.execute(CONSTRAINTS_SQL, params).fetchall()
        indexes = cur.execute(INDEXES_SQL, params).fetchall()
        enums = cur.execute(ENUMS_SQL, params).fetchall()
    for row in locked:
        if row["table"] not in BOOKKEEPING_TABLES:
            model.unevaluated_tables.add(row["table"])
            model.notes.append(_locked_note(row["schema"], row["table"]))
    for row in enums:
        model.add_enum(EnumType(row["schema"], row["name"], tuple(row["values"])))
    for row in columns:
        if row["table"] in BOOKKEEPING_TABLES:
            continue
        key = (row["schema"], row["table"])
        table = model.tables.get(key)
        if table is None:
            table = Table(row["schema"], row["table"], partitioned=row["partitioned"])
            model.add_table(table)
        column_type = _column_type(row)
        table.columns[row["column"]] = Column(
            name=row["column"],
            type=column_type,
            nullable=not row["attnotnull"],
            default=_default(row, column_type),
            identity=_IDENTITY.get(row["attidentity"] or "", ""),
            generated=normalise_expression(row["default_expr"])
            if row["attgenerated"] and row["default_expr"]
            else "",
            collation=_collation(row),
        )
    for row in constraints:
        table = model.tables.get((row["schema"], row["table"]))
        if table is not None:
            _constraint(table, row)
    for row in indexes:
        table = model.tables.get((row["schema"], row["table"]))
        if table is not None and not (row["backs_constraint"]):
            table.indexes.append(_index(row, table))
    if any(table.partitioned for table in model.tables.values()):  # what a fix's index is built over
        for key, tree in partition_trees(conn).items():
            if key in model.tables:
                model.tables[key].partitions = tuple(tree)
    return model


def _locked_note(schema: str, table: str) -> str:
    return (
        f"{schema}.{table}: not read — another session holds or waits for an ACCESS EXCLUSIVE lock on it (DDL "
        "in flight?); left out of the comparison, rerun when that is done"
    )


def _default(row: dict[str, Any], column_type: str) -> Default:
    if row["default_expr"] and not row["attgenerated"]:
        return normalise_default(row["default_expr"], column_type)
    return Default.none()


def _collation(row: dict[str, Any]) -> str:
    """The column's collation as SQL names it, schema-qualified outside pg_catalog and public (an ORM
    names a collation unqualified), or "" for its type's default."""
    if row["collation"] is None:
        return ""
    if row["collation_schema"] in ("pg_catalog", "public"):
        return identifier(row["collation"])
    return qualified(row["collation_schema"], row["collation"])


def _column_type(row: dict[str, Any]) -> str:
    """format_type()'s text, except that enums are named schema-qualified only outside public, whatever
    the session's search_path, and a fractional-second precision of 6 (the default) is left out."""
    if row["element_typtype"] == "e":
        return user_type(row["element_schema"], row["element_name"]) + "[]"
    if row["typtype"] == "e":
        return user_type(row["type_schema"], row["typname"])
    if row["extension_type"]:
        # citext, vector … named as the ORM writes them, whichever schema the extension was installed in
        return str(row["type"]).removeprefix(quote_ident(row["element_schema"] or row["type_schema"]) + ".")
    return without_full_precision(str(row["type"]))


def _constraint(table: Table, row: dict[str, Any]) -> None:
    columns = tuple(row["columns"] or ())
    kind = row["contype"]
    if kind == "p":
        table.primary_key = PrimaryKey(columns, row["conname"])
    elif kind == "u":
        nulls_not_distinct = "NULLS NOT DISTINCT" in (row["definition"] or "")
        table.indexes.append(
            Index(
                row["conname"],
                tuple(IndexColumn(c) for c in columns),
                unique=True,
                is_constraint=True,
                nulls_not_distinct=nulls_not_distinct,
            )
        )
    elif kind == "f":
        table.foreign_keys.append(
            ForeignKey(
                row["conname"],
                columns,
                row["ref_schema"],
                row["ref_table"],
                tuple(row["ref_columns"] or ()),
                _ACTIONS[row["confdeltype"]],
                _ACTIONS[row["confupdtype"]],
            )
        )
    elif kind == "c":
        expression = row["check_expr"] or ""
        table.checks.append(
            Check(row["conname"], normalise_expression(expression, table.column_types), expression)
        )


def _index(row: dict[str, Any], table: Table) -> Index:
    keys: list[str] = list(row["keys"] or ())
    options: list[int] = list(row["options"] or ())
    opclasses: list[str] = list(row["opclasses"] or ())
    key_count = row["indnkeyatts"]
    columns = []
    for position in range(key_count):
        expression = keys[position]
        name = unquoted(expression)
        option = options[position] if position < len(options) else 0
        descending, nulls_first = bool(option & 1), bool(option & 2)
        columns.append(
            IndexColumn(
                name if name in table.columns else normalise_expression(expression),
                descending,
                nulls_first,
                opclasses[position] if position < len(opclasses) else "",
            )
        )
    definition = row["definition"] or ""
    return Index(
        row["index"],
        tuple(columns),
        unique=row["indisunique"],
        method=row["amname"],
        predicate=normalise_expression(row["predicate"], table.column_types) if row["predicate"] else "",
        include=tuple(unquoted(k) for k in keys[key_count:]),
        nulls_not_distinct="NULLS NOT DISTINCT" in definition,
    )
