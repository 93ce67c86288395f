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

from pgdba.backup.manifest import LargeObjectDigest, LargeObjectDigests, SequenceFacts, TableFacts

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


def _acl_text(acl: str) -> str:
    """SQL for an ACL (`acl`: an aclitem[] expression) as sorted `grantee:PRIVILEGE` items (`*`: with grant
    option), without the grantor; NULL for an empty one."""
    return f"""(SELECT string_agg(item, ',' ORDER BY item)
                  FROM (SELECT format('%s:%s%s',
                                      CASE WHEN x.grantee = 0 THEN 'public'
                                           ELSE quote_ident(pg_get_userbyid(x.grantee)) END,
                                      x.privilege_type, CASE WHEN x.is_grantable THEN '*' ELSE '' END) AS item
                          FROM aclexplode({acl}) x) AS items)"""


_RELATION_ACL = _acl_text("c.relacl")
_RELATION_DEFAULT_ACL = _acl_text(
    """acldefault(CASE WHEN r.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner)"""
)
_COLUMN_ACL = _acl_text("a.attacl")
_SCHEMA_ACL = _acl_text("ns.nspacl")
_SCHEMA_DEFAULT_ACL = _acl_text("acldefault('n', ns.nspowner)")
_FUNCTION_ACL = _acl_text("p.proacl")
_FUNCTION_DEFAULT_ACL = _acl_text("acldefault('f', p.proowner)")

# One line per schema object, in a form that survives dump and restore (no OIDs, no attnums, no owner).
SCHEMA_FINGERPRINT_SQL = f"""
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
UNION ALL
SELECT 'fingerprint v2'  -- the kinds below: a v1 manifest (no such line) is compared without them
UNION ALL
SELECT format('row_security %I.%I enabled=%s forced=%s', r.nspname, r.relname, c.relrowsecurity,
              c.relforcerowsecurity)
  FROM user_rel r
  JOIN pg_class c ON c.oid = r.oid
 WHERE c.relrowsecurity OR c.relforcerowsecurity
UNION ALL
SELECT format('policy %I.%I %I cmd=%s permissive=%s roles=%s using=%s check=%s', r.nspname, r.relname,
              p.polname, p.polcmd, p.polpermissive,
              (SELECT string_agg(name, ',' ORDER BY name)
                 FROM (SELECT CASE WHEN role = 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(role)) END
                         FROM unnest(p.polroles) AS role) AS roles (name)),
              pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
  FROM pg_policy p
  JOIN user_rel r ON r.oid = p.polrelid
UNION ALL
SELECT format('storage %I.%I %s', r.nspname, r.relname, array_to_string(c.reloptions, ','))
  FROM user_rel r
  JOIN pg_class c ON c.oid = r.oid
 WHERE c.reloptions IS NOT NULL
UNION ALL
SELECT format('partition %I.%I of %s %s', r.nspname, r.relname, i.inhparent::regclass,
              pg_get_expr(c.relpartbound, c.oid))
  FROM user_rel r
  JOIN pg_class c ON c.oid = r.oid
  JOIN pg_inherits i ON i.inhrelid = r.oid
 WHERE c.relispartition
UNION ALL
-- (the key and the statistics from the catalogs: pg_get_partkeydef and pg_get_statisticsobjdef lock the
-- table, and a table DDL holds should stop pg_dump, not the lines before it)
SELECT format('partitioned %I.%I %s (%s)', r.nspname, r.relname,
              CASE pt.partstrat WHEN 'r' THEN 'RANGE' WHEN 'l' THEN 'LIST' ELSE 'HASH' END,
              (SELECT string_agg(coalesce(quote_ident(a.attname), 'expression'), ', ' ORDER BY k.n)
                 FROM unnest(pt.partattrs::int2[]) WITH ORDINALITY AS k (attnum, n)
                 LEFT JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = k.attnum))
  FROM user_rel r
  JOIN pg_partitioned_table pt ON pt.partrelid = r.oid
UNION ALL
SELECT format('statistics %I.%I on %I.%I (%s) kinds=%s', sn.nspname, s.stxname, r.nspname, r.relname,
              (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
                 FROM unnest(s.stxkeys::int2[]) WITH ORDINALITY AS k (attnum, n)
                 JOIN pg_attribute a ON a.attrelid = s.stxrelid AND a.attnum = k.attnum),
              array_to_string(s.stxkind, ''))
  FROM pg_statistic_ext s
  JOIN pg_namespace sn ON sn.oid = s.stxnamespace
  JOIN user_rel r ON r.oid = s.stxrelid
UNION ALL
SELECT format('domain %I.%I %s%s %s', n.nspname, t.typname, format_type(t.typbasetype, t.typtypmod),
              CASE WHEN t.typnotnull THEN ' not null' ELSE '' END,
              coalesce((SELECT string_agg(pg_get_constraintdef(c.oid), ' ' ORDER BY c.conname)
                          FROM pg_constraint c WHERE c.contypid = t.oid), ''))
  FROM pg_type t
  JOIN user_ns n ON n.oid = t.typnamespace
 WHERE t.typtype = 'd'
   AND NOT EXISTS (SELECT 1 FROM ext_member x WHERE x.classid = 'pg_type'::regclass AND x.objid = t.oid)
UNION ALL
SELECT 'fingerprint v3'  -- the kinds below: a v1 or v2 manifest is compared without them
UNION ALL
-- privileges that differ from the object's defaults (acldefault: what a NULL ACL means), without their
-- grantor: who may read, write or run what after a restore
SELECT format('grant %s %I.%I %s', CASE WHEN r.relkind = 'S' THEN 'sequence' ELSE 'relation' END,
              r.nspname, r.relname, {_RELATION_ACL})
  FROM user_rel r
  JOIN pg_class c ON c.oid = r.oid
 WHERE c.relacl IS NOT NULL
   AND {_RELATION_ACL} IS DISTINCT FROM
       {_RELATION_DEFAULT_ACL}
UNION ALL
SELECT format('grant column %I.%I.%I %s', r.nspname, r.relname, a.attname, {_COLUMN_ACL})
  FROM user_rel r
  JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE cardinality(a.attacl) > 0
UNION ALL
SELECT format('grant schema %I %s', n.nspname, {_SCHEMA_ACL})
  FROM user_ns n
  JOIN pg_namespace ns ON ns.oid = n.oid
 WHERE ns.nspacl IS NOT NULL
   AND {_SCHEMA_ACL} IS DISTINCT FROM {_SCHEMA_DEFAULT_ACL}
   AND NOT EXISTS (SELECT 1 FROM ext_member x WHERE x.classid = 'pg_namespace'::regclass AND x.objid = n.oid)
UNION ALL
SELECT format('grant function %I.%I(%s) %s', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
              {_FUNCTION_ACL})
  FROM pg_proc p
  JOIN user_ns n ON n.oid = p.pronamespace
 WHERE p.proacl IS NOT NULL
   AND {_FUNCTION_ACL} IS DISTINCT FROM {_FUNCTION_DEFAULT_ACL}
   AND NOT EXISTS (SELECT 1 FROM ext_member x WHERE x.classid = 'pg_proc'::regclass AND x.objid = p.oid)
UNION ALL
-- logical replication's publications: a restored primary without them stops feeding its subscribers
SELECT format('publication %I all_tables=%s insert=%s update=%s delete=%s truncate=%s via_root=%s',
              p.pubname, p.puballtables, p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate, p.pubviaroot)
  FROM pg_publication p
UNION ALL
-- (from the catalog: the pg_publication_tables view opens each table, which waits for DDL's lock)
SELECT format('publication_table %I %I.%I', p.pubname, r.nspname, r.relname)
  FROM pg_publication_rel pr
  JOIN pg_publication p ON p.oid = pr.prpubid
  JOIN user_rel r ON r.oid = pr.prrelid
"""

# 15+: a publication of every table in a schema (FOR TABLES IN SCHEMA)
PUBLICATION_SCHEMAS_SQL = """
UNION ALL
SELECT format('publication_schema %I %I', p.pubname, n.nspname)
  FROM pg_publication_namespace pn
  JOIN pg_publication p ON p.oid = pn.pnpubid
  JOIN pg_namespace n ON n.oid = pn.pnnspid
"""

# the kinds of line the fingerprint gained with each `fingerprint vN` line: a manifest written before holds
# none of them, whatever its source had, so a restored copy's are not compared with it
FINGERPRINT_V2 = "fingerprint v2"
V2_KINDS = frozenset(
    {"row_security", "policy", "storage", "partition", "partitioned", "statistics", "domain"}
)
FINGERPRINT_V3 = "fingerprint v3"
V3_KINDS = frozenset({"grant", "publication", "publication_table", "publication_schema"})
FINGERPRINT_VERSIONS = ((FINGERPRINT_V2, V2_KINDS), (FINGERPRINT_V3, V3_KINDS))


def catalog_fingerprint(conn: psycopg.Connection) -> list[str]:
    """The schema as sorted lines (relations, columns, indexes, constraints, views, triggers, enums,
    functions, extensions; row security and policies, storage parameters, partition bounds and keys,
    extended statistics, domains; privileges other than the defaults, publications); call normalize_session first so expressions print schema-qualified."""
    query = SCHEMA_FINGERPRINT_SQL
    if conn.info.server_version >= 150000:
        query += PUBLICATION_SCHEMAS_SQL
    rows = conn.execute(query).fetchall()
    return sorted(str(row[0]) for row in rows)


def fingerprint_digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def schema_differences(source: list[str], restored: list[str]) -> tuple[list[str], list[str]]:
    """(lines only in the source, lines only in the restored copy). pgdba.schema's comparison runs beside
    this one (schema_model.py): this one is exact text, that one knows which differences matter. A source
    fingerprint from before `fingerprint v2` (or v3) is compared on the kinds it has."""
    for marker, kinds in FINGERPRINT_VERSIONS:
        if marker not in source:
            restored = [line for line in restored if line != marker and line.split(" ", 1)[0] not in kinds]
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


# large-object contents: a digest per object, read on the server in chunks (no object is held in memory
# whole, and lo_get's 1 GB bytea limit does not apply) -------------------------------------------------
LARGE_OBJECT_CHUNK_BYTES = 1024 * 1024
INV_READ = 0x40000  # lo_open's read-only mode: reads as of the transaction's snapshot
UNREADABLE_OIDS_KEPT = 10

# every `step`-th large object by oid, at most max_objects of them: spread over the whole range
LARGE_OBJECT_SAMPLE_SQL = """
SELECT oid
  FROM (SELECT oid,
               row_number() OVER (ORDER BY oid) - 1 AS position
          FROM pg_largeobject_metadata) AS numbered
 WHERE position %% %(step)s = 0
 ORDER BY oid
 LIMIT %(max_objects)s
"""

# (size, digest): the md5 of the concatenated md5s of its chunks; no digest (NULL) when the object is
# larger than max_bytes, which is then never read. lo_open needs SELECT on the object (or superuser, or
# lo_compat_privileges); its descriptor closes with the transaction.
LARGE_OBJECT_DIGEST_SQL = """
WITH opened AS (
    SELECT lo_lseek64(lo_open(%(oid)s::oid, %(mode)s), 0, 2) AS size
)
SELECT size,
       CASE WHEN size <= %(max_bytes)s::bigint THEN
            (SELECT md5(coalesce(string_agg(md5(lo_get(%(oid)s::oid, part * %(chunk)s::int, %(chunk)s::int)),
                                            '' ORDER BY part), ''))
               FROM generate_series(0::bigint, (size - 1) / %(chunk)s::int) AS part)
       END AS md5
  FROM opened
"""


class LargeObjectUnreadable(Exception):
    """The role may not read this large object (lo_open: permission denied)."""


def large_object_digest(
    conn: psycopg.Connection, oid: int, max_bytes: int, chunk_bytes: int = LARGE_OBJECT_CHUNK_BYTES
) -> tuple[int, str | None] | None:
    """(size, digest) of one large object, the digest None past max_bytes; None when it does not exist.
    Runs in a savepoint so that inside a snapshot transaction a refused object does not abort it."""
    params = {"oid": oid, "mode": INV_READ, "max_bytes": max_bytes, "chunk": chunk_bytes}
    try:
        with conn.transaction():
            row = conn.execute(LARGE_OBJECT_DIGEST_SQL, params).fetchone()
    except psycopg.errors.InsufficientPrivilege:
        raise LargeObjectUnreadable(oid) from None
    except psycopg.errors.UndefinedObject:
        return None
    assert row is not None
    return int(row[0]), None if row[1] is None else str(row[1])


def sample_large_objects(conn: psycopg.Connection, total: int, max_objects: int) -> list[int]:
    """At most max_objects oids, evenly spread over all `total` large objects (all when there are fewer)."""
    if max_objects <= 0 or total <= 0:
        return []
    step = -(-total // max_objects)
    rows = conn.execute(LARGE_OBJECT_SAMPLE_SQL, {"step": step, "max_objects": max_objects}).fetchall()
    return [int(row[0]) for row in rows]


def large_object_digests(
    conn: psycopg.Connection, total: int, max_objects: int, max_bytes: int
) -> LargeObjectDigests:
    """Digests of a sample of the large objects, within max_objects objects and max_bytes read in all;
    `total` is their count in the same session (snapshot)."""
    digests = LargeObjectDigests(total, LARGE_OBJECT_CHUNK_BYTES, max_objects, max_bytes)
    sample = sample_large_objects(conn, total, max_objects)
    not_covered = {"over_object_limit": max(total - len(sample), 0)}
    budget = max_bytes
    for oid in sample:
        try:
            found = large_object_digest(conn, oid, budget)
        except LargeObjectUnreadable:
            not_covered["unreadable"] = not_covered.get("unreadable", 0) + 1
            if len(digests.unreadable_oids) < UNREADABLE_OIDS_KEPT:
                digests.unreadable_oids.append(oid)
            continue
        if found is None:
            not_covered["vanished"] = not_covered.get("vanished", 0) + 1  # deleted since it was listed
        elif found[1] is None:
            not_covered["over_byte_limit"] = not_covered.get("over_byte_limit", 0) + 1
        else:
            digests.objects.append(LargeObjectDigest(oid, found[0], found[1]))
            budget -= found[0]
    digests.not_covered = {reason: count for reason, count in not_covered.items() if count}
    return digests


def note_dump_end_digests(conn: psycopg.Connection, digests: LargeObjectDigests) -> None:
    """Read the covered large objects again once pg_dump has finished (without --exact the first reading
    is not pg_dump's snapshot): the dump_end fields of those that changed or are gone. Within max_bytes in
    all, as the first reading: each object may be read up to its recorded size, and the growth of all of
    them shares what the first reading left of max_bytes (an object that grew past that is "not read: too
    large")."""
    growth_left = max(digests.max_bytes - sum(recorded.size for recorded in digests.objects), 0)
    for recorded in digests.objects:
        try:
            found = large_object_digest(conn, recorded.oid, recorded.size + growth_left)
        except LargeObjectUnreadable:
            continue  # its privileges changed during the dump: the first reading stands
        if found is None:
            recorded.dump_end_missing = True
            continue
        if found[1] is not None:
            growth_left -= max(found[0] - recorded.size, 0)
        if found != (recorded.size, recorded.md5):
            recorded.dump_end_size, recorded.dump_end_md5 = found[0], found[1] or "not read: too large"
    digests.read_at_dump_end = True
