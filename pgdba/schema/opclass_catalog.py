"""Which operator class PostgreSQL itself picks when an index column names none, asked of a real server:
for every built-in type and access method, a probe index is built in a rolled-back transaction and its
pg_index.indclass read back. This resolves what pg_opclass alone does not say (varchar → text_ops, cidr →
inet_ops, an enum → enum_ops, an array → array_ops). The tables in opclass_defaults.py were generated
with it (scripts/opclass-defaults.py) and the tests check them against the test cluster's catalog."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

ACCESS_METHODS = ("btree", "hash", "gist", "gin", "brin", "spgist")
# the contrib extensions whose default operator classes are tabled too (PostgreSQL ships them)
EXTENSIONS = ("btree_gin", "btree_gist", "citext", "cube", "hstore", "intarray", "isn", "ltree", "seg")

# built-in types a column can have: base, range and multirange types of pg_catalog, no arrays or pseudo-types
_CORE_TYPES_SQL = """
SELECT t.oid::regtype::text AS spelled, format_type(t.oid, NULL) AS name
FROM pg_type t
WHERE t.typnamespace = 'pg_catalog'::regnamespace
  AND t.typtype IN ('b', 'r', 'm')
  AND t.typcategory NOT IN ('A', 'P')
  AND t.typisdefined
ORDER BY 2
"""

# the types an extension adds (its base types, and their arrays' element types are covered by anyarray)
_EXTENSION_TYPES_SQL = """
SELECT t.oid::regtype::text AS spelled, format_type(t.oid, NULL) AS name
FROM pg_type t
JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid
WHERE e.extname = %s AND t.typtype IN ('b', 'r', 'm', 'd') AND t.typcategory <> 'A'
ORDER BY 2
"""

# polymorphic keys: what an enum, an array and a composite resolve to, probed through one example each
_PROBE_ENUM = "pgdba_probe_enum"
_POLYMORPHIC = {"anyenum": _PROBE_ENUM, "anyarray": "integer[]"}


def probe_default_opclasses(
    conn: psycopg.Connection[Any], types: list[tuple[str, str]] | None = None
) -> dict[str, dict[str, str]]:
    """{access method: {type as format_type prints it: default operator class}} for the built-in types
    (or `types`: (spelling, name) pairs), resolved by PostgreSQL. Runs in a transaction it rolls back."""
    with conn.transaction(force_rollback=True):
        if types is None:
            types = [(r[0], r[1]) for r in conn.execute(_CORE_TYPES_SQL).fetchall()]
            conn.execute(f"CREATE TYPE {_PROBE_ENUM} AS ENUM ('a')")
            types += [(spelled, key) for key, spelled in _POLYMORPHIC.items()]
        return _probe(conn, types)


def probe_extension_opclasses(
    conn: psycopg.Connection[Any], extension: str, core: dict[str, dict[str, str]]
) -> dict[str, dict[str, str]] | None:
    """The default operator classes `extension` adds to `core` (probe_default_opclasses' answer), for its own
    types and for built-in ones; None when the server cannot create it. Runs in a transaction it rolls back."""
    with conn.transaction(force_rollback=True):
        try:
            with conn.transaction():
                conn.execute(sql.SQL("CREATE EXTENSION {}").format(sql.Identifier(extension)))
        except psycopg.Error:
            return None
        own = [(r[0], r[1]) for r in conn.execute(_EXTENSION_TYPES_SQL, (extension,)).fetchall()]
        builtin = [(r[0], r[1]) for r in conn.execute(_CORE_TYPES_SQL).fetchall()]
        conn.execute(f"CREATE TYPE {_PROBE_ENUM} AS ENUM ('a')")
        # arrays are probed type by type: an extension may have its own operator class for one of them
        # (intarray's gist__int_ops for integer[]), where the built-in ones resolve to anyarray's
        arrays = [(f"{spelled}[]", f"{name}[]") for spelled, name in [*own, *builtin]]
        # an extension can only add a default where the built-in tables have none: the other methods of a
        # built-in type are not probed again
        methods = {
            name: tuple(m for m in ACCESS_METHODS if name not in core.get(m, {}))
            for _, name in [*builtin, (_PROBE_ENUM, "anyenum")]
        }
        methods.update(
            {
                name: tuple(m for m in ACCESS_METHODS if "anyarray" not in core.get(m, {}))
                for _, name in arrays
                if name.removesuffix("[]") not in {n for _, n in own}
            }
        )
        found = _probe(conn, [*own, *builtin, (_PROBE_ENUM, "anyenum"), *arrays], methods)
    added: dict[str, dict[str, str]] = {}
    for method, defaults in found.items():
        for name, opclass in defaults.items():
            if name.endswith("[]"):
                # an array type resolves to the built-in array_ops unless the extension has its own
                if opclass == core.get(method, {}).get("anyarray"):
                    continue
            elif core.get(method, {}).get(name) == opclass:
                continue
            added.setdefault(method, {})[name] = opclass
    return added


# builds a probe index per type and method on the server (one round trip for them all); a type a column
# cannot have, or a method without a default for it, is skipped
_PROBE_FUNCTION = """
CREATE FUNCTION pg_temp.pgdba_probe_opclasses(spellings text[], names text[], methods text[])
RETURNS TABLE (method text, name text, opclass text) LANGUAGE plpgsql AS $$
DECLARE
  i int;
  m text;
BEGIN
  FOR i IN 1 .. coalesce(array_length(spellings, 1), 0) LOOP
    BEGIN
      EXECUTE format('CREATE TEMP TABLE pgdba_probe (c %s)', spellings[i]);
    EXCEPTION WHEN others THEN
      CONTINUE;
    END;
    FOREACH m IN ARRAY string_to_array(methods[i], ',') LOOP
      BEGIN
        EXECUTE format('CREATE INDEX pgdba_probe_index ON pgdba_probe USING %I (c)', m);
        SELECT oc.opcname INTO opclass FROM pg_index i JOIN pg_opclass oc ON oc.oid = i.indclass[0]
          WHERE i.indexrelid = 'pgdba_probe_index'::regclass;
        method := m;
        name := names[i];
        RETURN NEXT;
        DROP INDEX pgdba_probe_index;
      EXCEPTION WHEN others THEN
        NULL;
      END;
    END LOOP;
    DROP TABLE pgdba_probe;
  END LOOP;
END
$$
"""


def _probe(
    conn: psycopg.Connection[Any],
    types: list[tuple[str, str]],
    methods: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, dict[str, str]]:
    """Probe each (spelling, name) type with every access method, or with `methods[name]` where given."""
    conn.execute(_PROBE_FUNCTION)
    per_type = [",".join((methods or {}).get(name, ACCESS_METHODS)) for _, name in types]
    rows = conn.execute(
        "SELECT method, name, opclass FROM pg_temp.pgdba_probe_opclasses(%s, %s, %s)",
        ([spelled for spelled, _ in types], [name for _, name in types], per_type),
    ).fetchall()
    conn.execute("DROP FUNCTION pg_temp.pgdba_probe_opclasses(text[], text[], text[])")
    found: dict[str, dict[str, str]] = {}
    for method, name, opclass in rows:
        found.setdefault(str(method), {})[str(name)] = str(opclass)
    return {method: found[method] for method in ACCESS_METHODS if method in found}
