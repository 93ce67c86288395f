"""The search_path the application's statements ran under, for planning them.

pg_stat_statements keeps a statement's text as the application sent it: `SELECT … FROM lesson` names its
table by the search_path of the application's session. pgdba usually connects as another role (a monitoring
one with pg_monitor), and a role's sessions start with that role's own search_path (`ALTER ROLE app SET
search_path = app, public`, or `"$user"`, which is the role's name): planned with pgdba's, such a statement
names no table, or another schema's table of the same name. The search_path each role's sessions start
with is read from the catalog (pg_db_role_setting, which every role may read), in PostgreSQL's order: the
role in this database, the role, this database, the server's. A search_path the user gave pgdba's own
session (the DSN's `options`, PGOPTIONS, Prisma's `schema`) is kept: the user said what the application uses.
An application that sets its search_path itself at connection start is not seen here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

import pglast
import psycopg
from pglast import ast

from pgdba.advisor.parse_tree import walk
from pgdba.advisor.views import name_end
from pgdba.advisor.workload import WorkloadQuery
from pgdba.server import list_setting_items
from pgdba.sql_text import identifier, qualified

# Each role's search_path at session start, as PostgreSQL applies the settings (ALTER ROLE … IN DATABASE,
# ALTER ROLE, ALTER DATABASE): NULL where none sets it (the server's value holds)
ROLE_SEARCH_PATHS_SQL = """
SELECT r.rolname,
       coalesce(
           (SELECT substr(c, length('search_path=') + 1)
              FROM pg_db_role_setting AS s
             CROSS JOIN unnest(s.setconfig) AS c
             WHERE s.setrole = r.oid
               AND s.setdatabase IN (d.oid, 0)
               AND c LIKE 'search\\_path=%%'
             ORDER BY s.setdatabase DESC  -- the role in this database first
             LIMIT 1),
           (SELECT substr(c, length('search_path=') + 1)
              FROM pg_db_role_setting AS s
             CROSS JOIN unnest(s.setconfig) AS c
             WHERE s.setrole = 0
               AND s.setdatabase = d.oid
               AND c LIKE 'search\\_path=%%'
             LIMIT 1)) AS search_path
  FROM pg_roles AS r
  JOIN pg_database AS d ON d.datname = current_database()
 WHERE r.rolname = ANY(%(roles)s)
"""

# pgdba's own search_path, where it came from, and the server's (what a role no setting names starts with):
# the session's reset value where nothing but the server set it, else the built-in default
OWN_SEARCH_PATH_SQL = """
SELECT setting,
       source,
       CASE WHEN source IN ('default', 'configuration file', 'command line', 'environment variable')
            THEN reset_val
            ELSE boot_val
       END AS server_value
  FROM pg_settings
 WHERE name = 'search_path'
"""

# sources of a search_path the user gave pgdba's session itself: kept as the user's word
_USER_GIVEN = ("client", "session")

# the schemas of a search_path that exist and this role may use, in the path's order (what the planner
# searches; pg_catalog, searched first anyway, left out)
SCHEMAS_SQL = """
SELECT n.nspname
  FROM unnest(%(names)s::text[]) WITH ORDINALITY AS e(name, position)
  JOIN pg_namespace AS n ON n.nspname = e.name
 WHERE n.nspname <> 'pg_catalog'
   AND has_schema_privilege(n.oid, 'USAGE')
 ORDER BY e.position
"""


def role_search_path(setting: str, role: str) -> str:
    """`setting` (a search_path as written in ALTER ROLE … SET) as a session of `role` reads it: `$user`,
    quoted or not, is the role's name."""
    return ", ".join(
        identifier(role) if text in ("$user", '"$user"') else text for text, _ in list_setting_items(setting)
    )


def _schema_names(path: str) -> list[str]:
    """The schema names a search_path (its `$user` already replaced) names: quotes removed, unquoted names
    folded to lower case, as PostgreSQL reads them."""
    return [
        text[1:-1].replace('""', '"') if quoted else text.lower() for text, quoted in list_setting_items(path)
    ]


def _schemas(conn: psycopg.Connection, path: str) -> list[str]:
    """The schemas `path` names that exist and this role may use, in order (as the planner searches them)."""
    with conn.cursor() as cur:
        return [str(row[0]) for row in cur.execute(SCHEMAS_SQL, {"names": _schema_names(path)}).fetchall()]


@dataclass(frozen=True)
class ApplicationNames:
    """How the workload's statements name their tables: the search_path they are planned with (None:
    pgdba's own), the workload with the statements of roles whose search_path differs from it read with
    their tables' schemas written out, and notes saying so."""

    search_path: str | None
    workload: list[WorkloadQuery]
    notes: list[str]


@dataclass(frozen=True)
class RoleSearchPaths:
    """The search_path pgdba's session has and the one each role's sessions start with."""

    own: str  # pgdba's, as written
    own_schemas: list[str]  # the schemas it searches (existing, usable)
    written: dict[str, str]  # role → its search_path as its settings (or the server's) write it
    paths: dict[str, str]  # role → the same with `$user` as the role's name
    schemas: dict[str, list[str]]  # role → the schemas it searches


def role_search_paths(conn: psycopg.Connection, roles: Collection[str]) -> RoleSearchPaths | None:
    """The search_path of pgdba's session and of each role's sessions; None without roles or where the
    user set pgdba's (the DSN's `options`, PGOPTIONS, Prisma's `schema`): the user's word for every
    statement."""
    if not roles:
        return None
    with conn.cursor() as cur:
        own = cur.execute(OWN_SEARCH_PATH_SQL).fetchone()
        if own is None or own[1] in _USER_GIVEN:
            return None
        rows = cur.execute(ROLE_SEARCH_PATHS_SQL, {"roles": sorted(roles)}).fetchall()
        configured: dict[str, str | None] = {str(role): path for role, path in rows}
        user = cur.execute("SELECT current_user").fetchone()
    written = {role: configured.get(role) or str(own[2]) for role in roles}
    paths = {role: role_search_path(path, role) for role, path in written.items()}
    return RoleSearchPaths(
        str(own[0]),
        _schemas(conn, role_search_path(str(own[0]), str(user[0]) if user else "")),
        written,
        paths,
        {role: _schemas(conn, path) for role, path in paths.items()},
    )


def read_as_application(conn: psycopg.Connection, workload: Sequence[WorkloadQuery]) -> ApplicationNames:
    """Plan the workload with the search_path of the role that ran most of its time where that one's
    schemas differ from those of pgdba's session (set on `conn`, an autocommit session, for the rest of
    it); the statements of another role whose schemas differ from those are qualified (qualify_relations).
    Nothing changes where no query names its role (a query file without --as-role) or where the user set
    pgdba's search_path."""
    weight: dict[str, float] = defaultdict(float)
    for query in workload:
        if query.role is not None:
            weight[query.role] += query.total_ms or float(query.calls)
    found = role_search_paths(conn, list(weight))
    if found is None:
        return ApplicationNames(None, list(workload), [])
    busiest = max(weight, key=lambda role: (weight[role], role))
    notes: list[str] = []
    search_path: str | None = None
    planned = found.own_schemas
    if found.schemas[busiest] != found.own_schemas:
        search_path, planned = found.paths[busiest], found.schemas[busiest]
        conn.execute("SELECT set_config('search_path', %(path)s, false)", {"path": search_path})
        notes.append(
            f"statements planned with search_path {found.written[busiest]}, as role {busiest}'s sessions "
            f"start (ALTER ROLE / DATABASE … SET), not pgdba's own {found.own}"
        )
    qualified_roles: set[str] = set()
    result: list[WorkloadQuery] = []
    names: RelationSchemas = {}
    for query in workload:
        if query.role is not None and found.schemas[query.role] != planned:
            text = qualify_relations(conn, query.sql, found.schemas[query.role], names)
            if text != query.sql:
                qualified_roles.add(query.role)
                query = replace(query, sql=text)
        result.append(query)
    if qualified_roles:
        described = ", ".join(f"{role} ({found.written[role]})" for role in sorted(qualified_roles))
        notes.append(
            f"the statements of {described}, whose sessions start with another search_path, are read with "
            "their tables' schemas written out"
        )
    return ApplicationNames(search_path, result, notes)


# (schemas searched, relation name) → the schema holding it, None: none of them
RelationSchemas = dict[tuple[tuple[str, ...], str], str | None]


# the first of the schemas (pg_catalog first, as PostgreSQL searches it) holding a relation by that name
RELATION_SCHEMA_SQL = """
SELECT n.nspname
  FROM unnest(%(schemas)s::text[]) WITH ORDINALITY AS e(name, position)
  JOIN pg_namespace AS n ON n.nspname = e.name
  JOIN pg_class AS c ON c.relnamespace = n.oid
 WHERE c.relname = %(relname)s
   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
 ORDER BY e.position
 LIMIT 1
"""


def qualify_relations(
    conn: psycopg.Connection, text: str, schemas: Sequence[str], found: RelationSchemas | None = None
) -> str:
    """The statement with each table or view it names without a schema written `schema.name`, the schema
    being the first of `schemas` that holds one by that name (as the planner finds it on that search path);
    WITH queries' names, names no schema holds and catalog relations stay as written, as does a text pglast
    cannot parse."""
    try:
        tree = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return text
    ctes = {str(n.ctename) for n in walk(tree) if isinstance(n, ast.CommonTableExpr) and n.ctename}
    found = {} if found is None else found  # shared by the caller's calls: each name looked up once
    edits: list[tuple[int, int, str]] = []
    for node in walk(tree):
        if (
            not isinstance(node, ast.RangeVar)
            or node.schemaname
            or node.location is None
            or node.location < 0
        ):
            continue
        name = str(node.relname)
        if name in ctes:
            continue
        key = (tuple(schemas), name)
        if key not in found:
            row = conn.execute(RELATION_SCHEMA_SQL, {"schemas": ["pg_catalog", *schemas], "relname": name})
            hit = row.fetchone()
            found[key] = str(hit[0]) if hit else None
        schema = found[key]
        if schema is None or schema == "pg_catalog":
            continue
        start = int(node.location)
        edits.append((start, name_end(text, start), qualified(schema, name)))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


# the schemas outside pgdba's search_path holding a table or view by each name
ELSEWHERE_SQL = """
SELECT c.relname, array_agg(n.nspname::text ORDER BY n.nspname)
  FROM pg_class AS c
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
 WHERE c.relname = ANY(%(names)s)
   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND n.nspname <> ALL(current_schemas(true))
   AND n.nspname <> 'information_schema'
   AND n.nspname !~ '^pg_'
 GROUP BY c.relname
"""


OFF_PATH = "no table it names is on the search_path"


def off_path_reasons(conn: psycopg.Connection, queries_names: Sequence[Collection[str]]) -> list[str | None]:
    """For each query reading none of the tables it names (unqualified, as written), why: where the
    search_path planned with finds none of them but other schemas hold them, those schemas, and how to give
    pgdba the application's search_path; None where no schema holds any. One catalog query for them all."""
    unqualified = [sorted({name for name in names if "." not in name}) for names in queries_names]
    every = sorted({name for names in unqualified for name in names})
    if not every:
        return [None for _ in queries_names]
    held = {str(name): list(schemas) for name, schemas in conn.execute(ELSEWHERE_SQL, {"names": every})}
    path = conn.execute("SELECT current_setting('search_path')").fetchone()
    reasons: list[str | None] = []
    for names in unqualified:
        where = "; ".join(f"{name} is in schema {_first_of(held[name])}" for name in names if name in held)
        reasons.append(
            f"{OFF_PATH} {path[0] if path else ''}: {where}; where the application sets its search_path "
            "when it connects, give pgdba the same with the DSN's `options=-c search_path=…` or PGOPTIONS"
            if where
            else None
        )
    return reasons


def _first_of(schemas: Sequence[str], shown: int = 3) -> str:
    """`a, b, c and 97 more`: a schema-per-tenant database holds the same table in each tenant's schema."""
    more = f" and {len(schemas) - shown} more" if len(schemas) > shown else ""
    return ", ".join(schemas[:shown]) + more
