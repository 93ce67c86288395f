"""The throwaway copy `--verify` measures on: a scratch database on the target's server with the target's
encoding and collation, and copies of the tables the measured queries read (columns with their types,
collations and NOT NULL, rows, existing indexes, fresh statistics).

Collations matter to the proof: under a "C" collation a plain btree serves `LIKE 'abc%'` and sorts differ
from a locale's, so a copy under another collation than the target's would measure other plans.
"""

from __future__ import annotations

from collections.abc import Collection

import psycopg
from psycopg import sql

from pgdba.advisor.catalog import TableInfo
from pgdba.target import Target

# the current database's encoding and default collation; the provider and its locale columns differ by
# version (datlocprovider 15+, daticulocale 15–16, datlocale 17+), so they are read by name from the row
DATABASE_LOCALE_SQL = """
SELECT pg_encoding_to_char(d.encoding) AS encoding,
       d.datcollate,
       d.datctype,
       coalesce(to_jsonb(d) ->> 'datlocprovider', 'c') AS provider,
       coalesce(to_jsonb(d) ->> 'datlocale', to_jsonb(d) ->> 'daticulocale') AS locale
  FROM pg_database d
 WHERE d.datname = current_database()
"""

COLUMN_DEFINITIONS_SQL = """
SELECT a.attname,
       format_type(a.atttypid, a.atttypmod) AS type_name,
       a.attnotnull,
       CASE WHEN a.attcollation <> t.typcollation
            THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
       END AS collation
  FROM pg_attribute a
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_collation co ON co.oid = a.attcollation
  LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
 WHERE a.attrelid = %(oid)s
   AND a.attnum > 0
   AND NOT a.attisdropped
 ORDER BY a.attnum
"""

# collations the copied columns use that are not built in (CREATE COLLATION made them): made again in the
# scratch database from their definitions (the locale column is named by version: colllocale 17+,
# colliculocale 15–16, collcollate before)
USER_COLLATIONS_SQL = """
SELECT DISTINCT n.nspname AS schema,
       c.collname AS name,
       c.collprovider AS provider,
       c.collisdeterministic AS deterministic,
       c.collcollate,
       c.collctype,
       coalesce(to_jsonb(c) ->> 'colllocale', to_jsonb(c) ->> 'colliculocale', c.collcollate) AS locale
  FROM pg_attribute a
  JOIN pg_collation c ON c.oid = a.attcollation
  JOIN pg_namespace n ON n.oid = c.collnamespace
 WHERE a.attrelid = ANY(%(oids)s)
   AND a.attnum > 0
   AND NOT a.attisdropped
   AND n.nspname <> 'pg_catalog'
"""

# the enums and domains the copied columns are of (directly, as an array's element, or as a domain's base,
# at any depth) that no extension brings: made again in the scratch database, a type before those built on
# it (the deepest first). A domain gets its base type and collation; its CHECK constraints are left out
# (the copied rows passed them, and the planner does not read them).
USER_TYPES_SQL = """
WITH RECURSIVE used(oid, depth) AS (
    SELECT a.atttypid, 0
      FROM pg_attribute a
     WHERE a.attrelid = ANY(%(oids)s)
       AND a.attnum > 0
       AND NOT a.attisdropped
    UNION
    SELECT under.oid, u.depth + 1
      FROM used u
      JOIN pg_type t ON t.oid = u.oid
     CROSS JOIN LATERAL (VALUES (t.typbasetype), (t.typelem)) AS under(oid)
     WHERE under.oid <> 0
       AND u.depth < 16
)
SELECT n.nspname AS schema,
       t.typname AS name,
       t.typtype AS kind,
       ARRAY(SELECT e.enumlabel
               FROM pg_enum e
              WHERE e.enumtypid = t.oid
              ORDER BY e.enumsortorder) AS labels,
       format_type(t.typbasetype, t.typtypmod) AS base_type,
       CASE WHEN t.typtype = 'd' AND t.typcollation <> bt.typcollation
            THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
       END AS collation
  FROM used u
  JOIN pg_type t ON t.oid = u.oid
  JOIN pg_namespace n ON n.oid = t.typnamespace
  LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
  LEFT JOIN pg_collation co ON co.oid = t.typcollation
  LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
 WHERE t.typtype IN ('e', 'd')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND NOT EXISTS (SELECT 1
                     FROM pg_depend d
                    WHERE d.classid = 'pg_type'::regclass
                      AND d.objid = t.oid
                      AND d.refclassid = 'pg_extension'::regclass
                      AND d.deptype = 'e')
 GROUP BY n.nspname, t.oid, t.typname, t.typtype, t.typbasetype, t.typtypmod, t.typcollation, bt.typcollation,
          cn.nspname, co.collname
 ORDER BY max(u.depth) DESC, n.nspname, t.typname
"""

# the extensions to create in the scratch database, each in the schema it has in the source: the named ones
# (installed or not: those not installed get no row), those owning an operator class one of the copied
# tables' indexes uses (gin_trgm_ops, gist_trgm_ops …), or copying that index would fail, and those owning
# a copied column's type (citext, hstore; an array's element, a domain's base), or creating the table would
EXTENSIONS_SQL = """
SELECT e.extname AS name,
       n.nspname AS schema
  FROM pg_extension e
  JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = ANY(%(names)s)
    OR e.oid IN (SELECT d.refobjid
                   FROM pg_index i
                  CROSS JOIN LATERAL unnest(i.indclass::oid[]) AS k(opclass)
                   JOIN pg_depend d ON d.classid = 'pg_opclass'::regclass
                                   AND d.objid = k.opclass
                                   AND d.refclassid = 'pg_extension'::regclass
                                   AND d.deptype = 'e'
                  WHERE i.indrelid = ANY(%(oids)s))
    OR e.oid IN (SELECT d.refobjid
                   FROM pg_attribute a
                   JOIN pg_type t ON t.oid = a.atttypid
                   JOIN pg_depend d ON d.classid = 'pg_type'::regclass
                                   AND d.objid IN (t.oid, t.typelem, t.typbasetype)
                                   AND d.refclassid = 'pg_extension'::regclass
                                   AND d.deptype = 'e'
                  WHERE a.attrelid = ANY(%(oids)s)
                    AND a.attnum > 0
                    AND NOT a.attisdropped)
"""

_PROVIDER_NAMES = {"c": "libc", "i": "icu", "b": "builtin"}


def create_scratch_database(target: Target, name: str) -> None:
    """CREATE DATABASE `name` on the target's server with the target database's encoding and collation."""
    with target.connect(apply=True) as admin:
        row = admin.execute(DATABASE_LOCALE_SQL).fetchone()
        assert row is not None  # the current database exists
        encoding, collate, ctype, provider, locale = row
        options = [
            sql.SQL("TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}").format(
                sql.Literal(encoding), sql.Literal(collate), sql.Literal(ctype)
            )
        ]
        if admin.info.server_version >= 150000:
            options.append(sql.SQL("LOCALE_PROVIDER {}").format(sql.SQL(_PROVIDER_NAMES[provider])))
        if provider == "i":
            options.append(sql.SQL("ICU_LOCALE {}").format(sql.Literal(locale)))
        elif provider == "b":
            options.append(sql.SQL("BUILTIN_LOCALE {}").format(sql.Literal(locale)))
        admin.execute(
            sql.SQL("CREATE DATABASE {} {}").format(sql.Identifier(name), sql.SQL(" ").join(options))
        )


def copy_tables(
    source: Target, scratch: Target, tables: list[TableInfo], *, extensions: Collection[str] = ()
) -> None:
    """Table definitions (columns, collations, NOT NULL), rows, existing indexes and statistics into the
    scratch database; `extensions` (and those the copied indexes' operator classes come from) created there
    first, in the schema each has in the source."""
    oids = {"oids": [t.oid for t in tables]}
    with source.connect() as src, scratch.connect(apply=True) as dst:
        _create_extensions(src, dst, oids["oids"], extensions)
        # the columns' collations, enums and domains first, or CREATE TABLE cannot name them
        for row in src.execute(USER_COLLATIONS_SQL, oids).fetchall():
            _create_collation(dst, *row)
        for schema, type_name, kind, labels, base_type, collation in src.execute(USER_TYPES_SQL, oids):
            dst.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            if kind == "e":
                definition = sql.SQL("AS ENUM ({})").format(
                    sql.SQL(", ").join(sql.Literal(v) for v in labels)
                )
            else:
                definition = sql.SQL("AS {}{}").format(
                    sql.SQL(base_type),  # format_type() output from the catalog
                    sql.SQL(f" COLLATE {collation}" if collation else ""),  # quote_ident()ed by the query
                )
            keyword = sql.SQL("TYPE" if kind == "e" else "DOMAIN")
            dst.execute(
                sql.SQL("CREATE {} {} {}").format(keyword, sql.Identifier(schema, type_name), definition)
            )
        for table in tables:
            _copy_table(src, dst, table)
        dst.execute("ANALYZE")


def _create_extensions(
    src: psycopg.Connection, dst: psycopg.Connection, oids: list[int], names: Collection[str]
) -> None:
    """CREATE EXTENSION in the scratch database for `names` and the copied indexes' operator classes."""
    found = src.execute(EXTENSIONS_SQL, {"names": list(names), "oids": oids}).fetchall()
    for name, schema in found:
        dst.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        dst.execute(
            sql.SQL("CREATE EXTENSION IF NOT EXISTS {} SCHEMA {}").format(
                sql.Identifier(name), sql.Identifier(schema)
            )
        )
    for name in sorted(set(names) - {str(row[0]) for row in found}):  # not installed in the source
        dst.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name)))


def _create_collation(
    dst: psycopg.Connection,
    schema: str,
    name: str,
    provider: str,
    deterministic: bool,
    collate: str | None,
    ctype: str | None,
    locale: str | None,
) -> None:
    if provider == "c":
        definition = sql.SQL("provider = libc, lc_collate = {}, lc_ctype = {}").format(
            sql.Literal(collate), sql.Literal(ctype)
        )
    else:
        definition = sql.SQL("provider = {}, locale = {}").format(
            sql.SQL(_PROVIDER_NAMES[provider]), sql.Literal(locale)
        )
    dst.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    dst.execute(
        sql.SQL("CREATE COLLATION IF NOT EXISTS {} ({}, deterministic = {})").format(
            sql.Identifier(schema, name), definition, sql.Literal(deterministic)
        )
    )


def _copy_table(src: psycopg.Connection, dst: psycopg.Connection, table: TableInfo) -> None:
    columns = src.execute(COLUMN_DEFINITIONS_SQL, {"oid": table.oid}).fetchall()
    definition = sql.SQL(", ").join(
        sql.SQL("{} {}{}{}").format(
            sql.Identifier(name),
            sql.SQL(type_name),  # format_type() output from the catalog
            sql.SQL(f" COLLATE {collation}" if collation else ""),  # quote_ident()ed by the catalog query
            sql.SQL(" NOT NULL" if not_null else ""),
        )
        for name, type_name, not_null, collation in columns
    )
    dst.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(table.schema)))
    name = sql.Identifier(table.schema, table.name)
    dst.execute(sql.SQL("CREATE TABLE {} ({})").format(name, definition))
    with (
        # (a query, since COPY refuses a partitioned table; the copy is one plain table)
        src.cursor().copy(sql.SQL("COPY (SELECT * FROM {}) TO STDOUT (FORMAT binary)").format(name)) as out,
        dst.cursor().copy(sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(name)) as into,
    ):
        for block in out:
            into.write(block)
    for index in table.indexes:
        if index.is_valid:
            dst.execute(sql.SQL(index.definition))  # pg_get_indexdef() output
