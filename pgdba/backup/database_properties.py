"""The database's own properties, which pg_dump leaves out without --create and pg_dumpall --globals-only
leaves out too: its owner, encoding and locale, connection limit, comment, privileges (datacl) and the
settings of pg_db_role_setting (ALTER DATABASE … SET, ALTER ROLE … IN DATABASE … SET). A backup records
them in its manifest (`database_properties`), and a restore applies them to the database it creates, as
`pg_restore --create` of a `pg_dump --create` archive would.

The manifest also names the roles the restore needs: those that own objects in the database, and those
its privileges, default privileges and policies name (pg_shdepend; the superuser that bootstrapped the
cluster is never recorded there, so a restore also reads the owners from `pg_restore --list`). A restore
refuses up front when the server lacks one of them, instead of failing half-way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from pgdba.backup.manifest import Manifest, known_fields


@dataclass
class DatabaseGrant:
    """One privilege of the database's ACL (aclexplode of datacl)."""

    grantor: str
    grantee: str | None  # None: PUBLIC
    privilege: str  # CREATE, TEMPORARY or CONNECT
    grantable: bool = False


@dataclass
class DatabaseSetting:
    """One pg_db_role_setting entry for the database: `name=value`, for one role or for all (None)."""

    role: str | None
    name: str
    value: str


@dataclass
class DatabaseProperties:
    owner: str
    encoding: str | None = None
    collate: str | None = None
    ctype: str | None = None
    locale_provider: str | None = None  # datlocprovider (15+): c libc, i icu, b builtin; None: libc
    locale: str | None = None  # daticulocale (15, 16) or datlocale (17+)
    icu_rules: str | None = None  # daticurules (16+)
    connection_limit: int = -1
    comment: str | None = None
    acl: list[DatabaseGrant] | None = None  # None: the default privileges (datacl NULL)
    settings: list[DatabaseSetting] = field(default_factory=list)
    # roles that own objects in the database (ALTER … OWNER TO on restore, skipped by --no-owner)
    object_owners: list[str] = field(default_factory=list)
    # roles named by its privileges, default privileges and policies (needed even with --no-owner)
    privilege_roles: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatabaseProperties:
        values = known_fields(cls, data)
        if values.get("acl") is not None:
            values["acl"] = [DatabaseGrant(**known_fields(DatabaseGrant, g)) for g in values["acl"]]
        values["settings"] = [
            DatabaseSetting(**known_fields(DatabaseSetting, s)) for s in values.get("settings") or []
        ]
        return cls(**values)


def properties_of(manifest: Manifest) -> DatabaseProperties | None:
    """The manifest's database properties; None for a backup of a pgdba that did not record them."""
    data = manifest.database_properties
    return None if data is None else DatabaseProperties.from_dict(data)


DATABASE_SQL = """
SELECT pg_get_userbyid(d.datdba) AS owner,
       pg_encoding_to_char(d.encoding) AS encoding,
       d.datcollate AS collate,
       d.datctype AS ctype,
       to_jsonb(d) ->> 'datlocprovider' AS locale_provider,
       coalesce(to_jsonb(d) ->> 'datlocale', to_jsonb(d) ->> 'daticulocale') AS locale,
       to_jsonb(d) ->> 'daticurules' AS icu_rules,
       d.datconnlimit AS connection_limit,
       shobj_description(d.oid, 'pg_database') AS comment,
       d.datacl IS NULL AS default_acl
  FROM pg_database d
 WHERE d.datname = %s
"""

DATABASE_ACL_SQL = """
SELECT pg_get_userbyid(a.grantor) AS grantor,
       CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee,
       a.privilege_type,
       a.is_grantable
  FROM pg_database d,
       aclexplode(d.datacl) AS a
 WHERE d.datname = %s
 ORDER BY 1, 2 NULLS FIRST, 3
"""

DATABASE_SETTINGS_SQL = """
SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole) END AS role,
       s.setconfig
  FROM pg_db_role_setting s
  JOIN pg_database d ON d.oid = s.setdatabase
 WHERE d.datname = %s
 ORDER BY 1 NULLS FIRST
"""

# the roles the objects of the current database depend on: owners ('o'), roles named in an ACL ('a':
# grantees and grantors) or a policy ('r'); extension members are left to CREATE EXTENSION and temporary
# tables are not dumped. A default-privileges entry's owner is the role its ALTER DEFAULT PRIVILEGES FOR
# ROLE names: needed with --no-owner too.
OBJECT_ROLES_SQL = """
SELECT DISTINCT pg_get_userbyid(s.refobjid) AS role,
       s.deptype = 'o' AND s.classid <> 'pg_catalog.pg_default_acl'::regclass AS owns
  FROM pg_shdepend s
 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND s.refclassid = 'pg_catalog.pg_authid'::regclass
   AND s.deptype IN ('o', 'a', 'r')
   AND NOT EXISTS (SELECT 1
                     FROM pg_depend d
                    WHERE d.classid = s.classid
                      AND d.objid = s.objid
                      AND d.deptype = 'e')
   AND NOT EXISTS (SELECT 1
                     FROM pg_class c
                    WHERE s.classid = 'pg_catalog.pg_class'::regclass
                      AND c.oid = s.objid
                      AND c.relpersistence = 't')
 ORDER BY 1
"""


def read_database_properties(
    conn: psycopg.Connection, dbname: str | None = None, *, with_object_roles: bool = True
) -> DatabaseProperties | None:
    """The properties of `dbname` (None: the connected database), None when there is no such database;
    the object roles only for the connected database (pg_depend is per database)."""
    name = dbname or str(conn.execute("SELECT current_database()").fetchone()[0])  # type: ignore[index]
    row = conn.execute(DATABASE_SQL, (name,)).fetchone()
    if row is None:
        return None
    owner, encoding, collate, ctype, provider, locale, rules, limit, comment, default_acl = row
    props = DatabaseProperties(
        owner=str(owner),
        encoding=encoding,
        collate=collate,
        ctype=ctype,
        locale_provider=provider,
        locale=locale,
        icu_rules=rules,
        connection_limit=int(limit),
        comment=comment,
    )
    if not default_acl:
        props.acl = [
            DatabaseGrant(str(grantor), grantee, str(privilege), bool(grantable))
            for grantor, grantee, privilege, grantable in conn.execute(DATABASE_ACL_SQL, (name,)).fetchall()
        ]
    for role, config in conn.execute(DATABASE_SETTINGS_SQL, (name,)).fetchall():
        for item in config or []:
            setting, _, value = str(item).partition("=")
            props.settings.append(DatabaseSetting(role, setting, value))
    if with_object_roles and dbname is None:
        for role, owns in conn.execute(OBJECT_ROLES_SQL).fetchall():
            (props.object_owners if owns else props.privilege_roles).append(str(role))
    return props


# --- roles a restore needs ---------------------------------------------------------------------------

OWNS_OBJECTS = "owns objects"
NAMED_IN_PRIVILEGES = "named in privileges"
DATABASE_OWNER = "owns the database"
HAS_SETTINGS = "has settings in the database"


def roles_needed(
    props: DatabaseProperties | None, toc_owners: Iterable[str] = (), *, no_owner: bool = False
) -> dict[str, str]:
    """Role -> why a restore needs it: object owners (from the manifest and `pg_restore --list`) unless
    no_owner, the roles privileges and policies name, the database's owner unless no_owner, the roles of
    its settings and ACL."""
    needed: dict[str, str] = {}

    def need(role: str | None, why: str) -> None:
        if role:
            needed.setdefault(role, why)

    if not no_owner:
        for role in [*(props.object_owners if props else []), *toc_owners]:
            need(role, OWNS_OBJECTS)
    for role in props.privilege_roles if props else []:
        need(role, NAMED_IN_PRIVILEGES)
    if props is None:
        return needed
    if not no_owner:
        need(props.owner, DATABASE_OWNER)
    for setting in props.settings:
        need(setting.role, HAS_SETTINGS)
    for grant in props.acl or []:
        if no_owner and props.owner in (grant.grantee, grant.grantor):
            continue  # the owner's privileges go to the restoring role
        need(grant.grantee, NAMED_IN_PRIVILEGES)
        need(grant.grantor, NAMED_IN_PRIVILEGES)
    return needed


EXISTING_ROLES_SQL = "SELECT rolname FROM pg_roles"


def existing_roles(conn: psycopg.Connection) -> set[str]:
    return {str(row[0]) for row in conn.execute(EXISTING_ROLES_SQL).fetchall()}


def missing_roles(needed: dict[str, str], existing: set[str]) -> dict[str, str]:
    return {role: why for role, why in sorted(needed.items()) if role not in existing}


_TOC_LINE = re.compile(r"^\d+; \d+ \d+ (?P<rest>.*)$")


def toc_owners(listing: str, known_roles: set[str]) -> tuple[set[str], set[str]]:
    """(object owners, default-privilege roles) from `pg_restore --list`. Each entry ends with its owner,
    after a space (empty for entries without one: the line then ends with the space). A role name may hold
    spaces: the longest known role the line ends with is its owner, else its last word."""
    owners: set[str] = set()
    default_acl: set[str] = set()
    spaced = [role for role in known_roles if " " in role]
    for line in listing.splitlines():
        match = _TOC_LINE.match(line)
        if match is None or line.endswith(" "):
            continue
        rest = match["rest"]
        ends = [role for role in spaced if rest.endswith(f" {role}")]
        owner = max(ends, key=len) if ends else rest.rsplit(" ", 1)[-1]
        (default_acl if rest.startswith("DEFAULT ACL ") else owners).add(owner)
    return owners, default_acl


# --- creating the database and applying the properties -----------------------------------------------


def create_database_sql(
    dbname: str, props: DatabaseProperties | None, server_major: int
) -> sql.Composed | None:
    """CREATE DATABASE with the source's encoding and locale (as pg_dump --create writes it); None when
    there is nothing to add to a plain `CREATE DATABASE … TEMPLATE template0` or this server cannot take
    the source's locale provider."""
    if props is None or props.encoding is None:
        return None
    parts: list[sql.Composable] = [
        sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {}").format(
            sql.Identifier(dbname), sql.Literal(props.encoding)
        )
    ]
    provider = props.locale_provider or "c"
    if server_major >= 15:
        names = {"c": "libc", "i": "icu", "b": "builtin"}
        if provider not in names or (provider == "b" and server_major < 17):
            return None
        parts.append(sql.SQL("LOCALE_PROVIDER {}").format(sql.SQL(names[provider])))
        if provider == "i" and props.locale:
            parts.append(sql.SQL("ICU_LOCALE {}").format(sql.Literal(props.locale)))
            if props.icu_rules and server_major >= 16:
                parts.append(sql.SQL("ICU_RULES {}").format(sql.Literal(props.icu_rules)))
        if provider == "b" and props.locale:
            parts.append(sql.SQL("BUILTIN_LOCALE {}").format(sql.Literal(props.locale)))
    elif provider != "c":
        return None
    if props.collate:
        parts.append(sql.SQL("LC_COLLATE {}").format(sql.Literal(props.collate)))
    if props.ctype:
        parts.append(sql.SQL("LC_CTYPE {}").format(sql.Literal(props.ctype)))
    return sql.SQL(" ").join(parts)


@dataclass
class PropertyStatement:
    """One statement that gives the restored database a property of the source; as_role: SET ROLE first
    (a privilege granted by someone other than the owner); optional: a parameter this server does not
    know is skipped with a note."""

    statement: sql.Composed
    as_role: str | None = None
    optional: bool = False
    what: str = ""


# settings whose value is a list of names that pg_dump quotes one by one (variable_is_guc_list_quote)
LIST_QUOTE_SETTINGS = {
    "local_preload_libraries",
    "search_path",
    "session_preload_libraries",
    "shared_preload_libraries",
    "temp_tablespaces",
    "unix_socket_directories",
}


def split_guc_list(raw: str) -> list[str] | None:
    """SplitGUCList of PostgreSQL's fe_utils: the names of a stored list setting ('"$user", public'), quotes
    removed, not downcased; None when the text is not such a list."""
    names: list[str] = []
    pos, size = 0, len(raw)
    while pos < size and raw[pos].isspace():
        pos += 1
    if pos == size:
        return names
    while True:
        if raw[pos] == '"':
            name, pos = [], pos + 1
            while True:
                end = raw.find('"', pos)
                if end < 0:
                    return None
                name.append(raw[pos:end])
                if raw[end + 1 : end + 2] == '"':
                    name.append('"')
                    pos = end + 2
                    continue
                pos = end + 1
                break
            names.append("".join(name))
        else:
            start = pos
            while pos < size and raw[pos] != "," and not raw[pos].isspace():
                pos += 1
            if pos == start:
                return None
            names.append(raw[start:pos])
        while pos < size and raw[pos].isspace():
            pos += 1
        if pos == size:
            return names
        if raw[pos] != ",":
            return None
        pos += 1
        while pos < size and raw[pos].isspace():
            pos += 1


def setting_value(name: str, value: str) -> sql.Composable:
    """The value of `SET name = …` that stores `value` again (makeAlterConfigCommand of pg_dump)."""
    if name.lower() in LIST_QUOTE_SETTINGS:
        names = split_guc_list(value)
        if names is not None:
            return sql.SQL(", ").join(sql.Literal(n) for n in names) if names else sql.Literal("")
    return sql.Literal(value)


def property_statements(
    dbname: str, props: DatabaseProperties, *, no_owner: bool = False, restoring_role: str | None = None
) -> list[PropertyStatement]:
    """The statements that give `dbname` (just created and restored into) the source's properties. With
    no_owner the database stays the restoring role's, which takes the source owner's place in its ACL."""
    db = sql.Identifier(dbname)
    owner = restoring_role if no_owner and restoring_role else props.owner
    out: list[PropertyStatement] = []
    if not no_owner:
        out.append(
            PropertyStatement(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, sql.Identifier(props.owner)), what="owner"
            )
        )
    if props.connection_limit != -1:
        out.append(
            PropertyStatement(
                sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(
                    db, sql.Literal(props.connection_limit)
                ),
                what="connection limit",
            )
        )
    if props.comment is not None:
        out.append(
            PropertyStatement(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(db, sql.Literal(props.comment)), what="comment"
            )
        )
    if props.acl is not None:
        out.extend(_acl_statements(db, props, owner))
    for setting in props.settings:
        target = (
            sql.SQL("ALTER DATABASE {}").format(db)
            if setting.role is None
            else sql.SQL("ALTER ROLE {} IN DATABASE {}").format(sql.Identifier(setting.role), db)
        )
        out.append(
            PropertyStatement(
                sql.SQL("{} SET {} = {}").format(
                    target, sql.Identifier(setting.name), setting_value(setting.name, setting.value)
                ),
                optional=True,
                what=f"setting {setting.name}" + (f" of role {setting.role}" if setting.role else ""),
            )
        )
    return out


def _acl_statements(db: sql.Identifier, props: DatabaseProperties, owner: str) -> list[PropertyStatement]:
    """The source's datacl exactly: start from no privilege at all (the owner's revoked too, as pg_dump
    does when they differ from the default), then grant each, the owner's grants first (a superuser grants
    as the owner), the others as their grantor."""
    out = [
        PropertyStatement(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db), what="privileges"),
        PropertyStatement(
            sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(db, sql.Identifier(owner)), what="privileges"
        ),
    ]
    grouped: dict[tuple[str, str | None, bool], list[str]] = {}
    for grant in props.acl or []:
        grantor = owner if grant.grantor == props.owner else grant.grantor
        grantee = owner if grant.grantee == props.owner else grant.grantee
        grouped.setdefault((grantor, grantee, grant.grantable), []).append(grant.privilege)
    for (grantor, grantee, grantable), privileges in sorted(
        grouped.items(), key=lambda item: (item[0][0] != owner, item[0][0], item[0][1] or "", item[0][2])
    ):
        statement = sql.SQL("GRANT {} ON DATABASE {} TO {}{}").format(
            sql.SQL(", ").join(sql.SQL(p) for p in sorted(set(privileges)) if p.isalpha()),
            db,
            sql.SQL("PUBLIC") if grantee is None else sql.Identifier(grantee),
            sql.SQL(" WITH GRANT OPTION") if grantable else sql.SQL(""),
        )
        out.append(
            PropertyStatement(statement, as_role=None if grantor == owner else grantor, what="privileges")
        )
    return out


def statement_text(statement: PropertyStatement) -> str:
    text = statement.statement.as_string()
    if statement.as_role:
        return f"SET ROLE {sql.Identifier(statement.as_role).as_string()}; {text}; RESET ROLE;"
    return f"{text};"


def apply_property_statements(conn: psycopg.Connection, statements: list[PropertyStatement]) -> list[str]:
    """Run them (autocommit session); a setting whose parameter this server does not know is skipped and
    returned as a note; any other failure raises."""
    notes: list[str] = []
    for statement in statements:
        try:
            if statement.as_role:
                conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(statement.as_role)))
            try:
                conn.execute(statement.statement)
            finally:
                if statement.as_role:
                    conn.execute("RESET ROLE")
        except psycopg.errors.UndefinedObject as exc:
            if not statement.optional:
                raise
            notes.append(f"{statement.what} not applied, this server does not know it: {first_line(exc)}")
    return notes


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def property_differences(
    expected: DatabaseProperties, got: DatabaseProperties, *, no_owner: bool = False
) -> list[str]:
    """What the restored database lacks of the source's properties (after property_statements)."""
    owner = got.owner if no_owner else expected.owner
    differences: list[str] = []
    if not no_owner and got.owner != expected.owner:
        differences.append(f"owner {got.owner}, the source's {expected.owner}")
    if got.connection_limit != expected.connection_limit:
        differences.append(
            f"connection limit {got.connection_limit}, the source's {expected.connection_limit}"
        )
    if got.comment != expected.comment:
        differences.append(f"comment {got.comment!r}, the source's {expected.comment!r}")

    def grants(props: DatabaseProperties, source_owner: str) -> list[tuple[str, str, str, bool]]:
        def mapped(role: str | None) -> str:
            return "PUBLIC" if role is None else owner if role == source_owner else role

        return sorted(
            (mapped(g.grantor), mapped(g.grantee), g.privilege, g.grantable) for g in props.acl or []
        )

    if (got.acl is None) != (expected.acl is None) or grants(got, got.owner) != grants(
        expected, expected.owner
    ):
        differences.append(f"privileges {_acl_text(got)}, the source's {_acl_text(expected)}")
    want = sorted((s.role or "", s.name, s.value) for s in expected.settings)
    have = sorted((s.role or "", s.name, s.value) for s in got.settings)
    if want != have:
        missing = [f"{r + ': ' if r else ''}{n}={v}" for r, n, v in want if (r, n, v) not in have]
        extra = [f"{r + ': ' if r else ''}{n}={v}" for r, n, v in have if (r, n, v) not in want]
        text = "settings differ"
        if missing:
            text += f"; missing {', '.join(missing)}"
        if extra:
            text += f"; not the source's {', '.join(extra)}"
        differences.append(text)
    return differences


def _acl_text(props: DatabaseProperties) -> str:
    if props.acl is None:
        return "default"
    return (
        ", ".join(
            f"{g.grantee or 'PUBLIC'}:{g.privilege}{'*' if g.grantable else ''}/{g.grantor}"
            for g in props.acl
        )
        or "none"
    )
