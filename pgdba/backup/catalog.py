"""What a backup remembers about the source and a restore test checks again: tables, counts, content
checksums and a schema fingerprint.

Both sides run these queries with the same session settings (`normalize_session`) so a row prints the
same text on the source and on the restored copy, whatever the server defaults are.
"""

from __future__ import annotations

import hashlib

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pgdba.backup.manifest import SequenceFacts, TableFacts

# settings that change how a row prints as text (and so its checksum), pinned on both sides
_CANONICAL_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "bytea_output": "hex",
    "search_path": "pg_catalog",
}


def normalize_session(conn: psycopg.Connection) -> None:
    with conn.cursor() as cur:
        for name, value in _CANONICAL_SETTINGS.items():
            cur.execute("SELECT set_config(%s, %s, false)", (name, value))


# a relation an extension created (a member: pg_dump leaves it to CREATE EXTENSION), for `c` in pg_class
NOT_EXTENSION_MEMBER = """
   AND NOT EXISTS (SELECT 1
                     FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid
                      AND d.deptype = 'e')
""".lstrip("\n")

USER_TABLES_SQL = f"""
SELECT n.nspname AS schema,
       c.relname AS name,
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS row_estimate,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_stat_get_live_tuples(c.oid) END AS live_rows_estimate,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_stat_get_dead_tuples(c.oid) END AS dead_rows_estimate,
       pg_table_size(c.oid) AS bytes
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_toast%'
   AND n.nspname NOT LIKE 'pg\\_temp%'
{NOT_EXTENSION_MEMBER} ORDER BY n.nspname, c.relname
"""


def user_tables(conn: psycopg.Connection) -> list[TableFacts]:
    """Ordinary tables pg_dump dumps the data of (extension-owned tables excluded), with estimates."""
    with conn.cursor(row_factory=dict_row) as cur:
        return [TableFacts(**row) for row in cur.execute(USER_TABLES_SQL).fetchall()]


# Order-independent checksum of a table's rows: the sum of the first 64 bits of each row's md5, so no
# sort and no big aggregate; duplicates count as often as they occur. `alias.*` (not a bare alias, which
# a column of the same name would shadow) makes the whole row.
COUNT_AND_CHECKSUM_SQL = """
SELECT count(*) AS rows,
       coalesce(sum(('x' || substr(md5(ROW(pgdba_row.*)::text), 1, 16))::bit(64)::bigint::numeric), 0)::text
       AS checksum
  FROM ONLY {table} AS pgdba_row
"""

COUNT_SQL = """
SELECT count(*) AS rows
  FROM ONLY {table}
"""


def count_rows(conn: psycopg.Connection, schema: str, name: str) -> int:
    query = sql.SQL(COUNT_SQL).format(table=sql.Identifier(schema, name))
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def count_and_checksum(conn: psycopg.Connection, schema: str, name: str) -> tuple[int, str]:
    query = sql.SQL(COUNT_AND_CHECKSUM_SQL).format(table=sql.Identifier(schema, name))
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0]), f"{int(row[0])}:{row[1]}"


def measure_tables(conn: psycopg.Connection, tables: list[TableFacts], checksum_limit_bytes: int) -> None:
    """Fill exact row counts, and checksums for tables up to the size limit, in the session's snapshot."""
    for table in tables:
        if table.bytes <= checksum_limit_bytes:
            table.exact_rows, table.checksum = count_and_checksum(conn, table.schema, table.name)
        else:
            table.exact_rows = count_rows(conn, table.schema, table.name)


# One line per schema object, in a form that survives dump and restore (no OIDs, no attnums, no owner).
SCHEMA_FINGERPRINT_SQL = """
WITH ext_member AS (
    SELECT classid,
           objid
      FROM pg_depend
     WHERE deptype = 'e'
),
user_ns AS (
    SELECT oid,
           nspname
      FROM pg_namespace
     WHERE nspname NOT IN ('pg_catalog', 'information_schema')
       AND nspname NOT LIKE 'pg\\_toast%'
       AND nspname NOT LIKE 'pg\\_temp%'
),
user_rel AS (
    SELECT c.oid,
           c.relname,
           c.relkind,
           n.nspname
      FROM pg_class c
      JOIN user_ns n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
       AND NOT EXISTS (SELECT 1 FROM ext_member e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid)
)
SELECT format('relation %I.%I kind=%s', r.nspname, r.relname, r.relkind)
  FROM user_rel r
UNION ALL
SELECT format('column %I.%I.%I %s%s%s', r.nspname, r.relname, a.attname,
              format_type(a.atttypid, a.atttypmod),
              CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
              coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''))
  FROM user_rel r
  JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE r.relkind <> 'S'
UNION ALL
SELECT format('index %s valid=%s', pg_get_indexdef(i.indexrelid), i.indisvalid)
  FROM pg_index i
  JOIN user_rel r ON r.oid = i.indrelid
UNION ALL
SELECT format('constraint %I.%I %I %s validated=%s', r.nspname, r.relname, c.conname,
              pg_get_constraintdef(c.oid), c.convalidated)
  FROM pg_constraint c
  JOIN user_rel r ON r.oid = c.conrelid
UNION ALL
SELECT format('view %I.%I %s', r.nspname, r.relname, md5(pg_get_viewdef(r.oid)))
  FROM user_rel r
 WHERE r.relkind IN ('v', 'm')
UNION ALL
SELECT format('trigger %s', pg_get_triggerdef(t.oid))
  FROM pg_trigger t
  JOIN user_rel r ON r.oid = t.tgrelid
 WHERE NOT t.tgisinternal
UNION ALL
SELECT format('enum %I.%I %s', n.nspname, t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder))
  FROM pg_type t
  JOIN user_ns n ON n.oid = t.typnamespace
  JOIN pg_enum e ON e.enumtypid = t.oid
 WHERE NOT EXISTS (SELECT 1 FROM ext_member x WHERE x.classid = 'pg_type'::regclass AND x.objid = t.oid)
 GROUP BY n.nspname, t.typname
UNION ALL
SELECT format('function %I.%I(%s) %s', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
              md5(pg_get_functiondef(p.oid)))
  FROM pg_proc p
  JOIN user_ns n ON n.oid = p.pronamespace
 WHERE p.prokind IN ('f', 'p')
   AND NOT EXISTS (SELECT 1 FROM ext_member x WHERE x.classid = 'pg_proc'::regclass AND x.objid = p.oid)
UNION ALL
SELECT format('extension %I', x.extname)
  FROM pg_extension x
"""


def catalog_fingerprint(conn: psycopg.Connection) -> list[str]:
    """The schema as sorted lines (relations, columns, indexes, constraints, views, triggers, enums,
    functions, extensions); call normalize_session first so expressions print schema-qualified."""
    rows = conn.execute(SCHEMA_FINGERPRINT_SQL).fetchall()
    return sorted(str(row[0]) for row in rows)


def fingerprint_digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def schema_differences(source: list[str], restored: list[str]) -> tuple[list[str], list[str]]:
    """(lines only in the source, lines only in the restored copy). pgdba.schema's comparison runs beside
    this one (schema_model.py): this one is exact text, that one knows which differences matter."""
    src, dst = set(source), set(restored)
    return sorted(src - dst), sorted(dst - src)


# sequences and large objects: what the restore test compares (pg_dump keeps their values too) ---------
SEQUENCES_SQL = f"""
SELECT n.nspname AS schema,
       c.relname AS name,
       s.seqincrement AS increment
  FROM pg_sequence s
  JOIN pg_class c ON c.oid = s.seqrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_temp%'
   AND (c.relpersistence = 'p' OR NOT pg_is_in_recovery())
{NOT_EXTENSION_MEMBER} ORDER BY n.nspname, c.relname
"""

SEQUENCE_VALUE_SQL = """
SELECT last_value,
       is_called
  FROM {sequence}
"""


def sequence_value(conn: psycopg.Connection, schema: str, name: str) -> tuple[int, bool]:
    row = conn.execute(sql.SQL(SEQUENCE_VALUE_SQL).format(sequence=sql.Identifier(schema, name))).fetchone()
    assert row is not None
    return int(row[0]), bool(row[1])


def sequence_values(conn: psycopg.Connection) -> list[SequenceFacts]:
    """Every sequence pg_dump dumps the value of (extension members excluded), read now: a sequence is
    not transactional, so even inside a snapshot this is its current value."""
    found: list[SequenceFacts] = []
    for schema, name, increment in conn.execute(SEQUENCES_SQL).fetchall():
        last_value, is_called = sequence_value(conn, str(schema), str(name))
        found.append(SequenceFacts(str(schema), str(name), int(increment), last_value, is_called))
    return found


def note_dump_end_values(conn: psycopg.Connection, sequences: list[SequenceFacts]) -> None:
    """Read the recorded sequences again once pg_dump has finished (one dropped meanwhile stays unread)."""
    now = {s.qualified: s for s in sequence_values(conn)}
    for recorded in sequences:
        if recorded.qualified in now:
            recorded.dump_end_last_value = now[recorded.qualified].last_value
            recorded.dump_end_is_called = now[recorded.qualified].is_called


LARGE_OBJECTS_SQL = """
SELECT count(*)
  FROM pg_largeobject_metadata
"""


def count_large_objects(conn: psycopg.Connection) -> int:
    row = conn.execute(LARGE_OBJECTS_SQL).fetchone()
    return int(row[0]) if row else 0
