"""Server facts: version, settings, extensions and what this server can answer.

This is the one place that knows how catalog views differ between PostgreSQL majors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

TESTED_MAJORS = (14, 15, 16, 17, 18)
BEST_EFFORT_MAJORS = (13,)


def version_note(version_num: int) -> str | None:
    """None on a major pgdba's test matrix covers; otherwise one sentence on how far to trust the results."""
    major = version_num // 10000
    tested = f"{TESTED_MAJORS[0]} to {TESTED_MAJORS[-1]}"
    if major in TESTED_MAJORS:
        return None
    if major in BEST_EFFORT_MAJORS:
        return (
            f"PostgreSQL {major} is supported on a best-effort basis (pgdba is tested on {tested}): "
            "checks run, but some statistics may be missing"
        )
    if major < TESTED_MAJORS[0]:
        return (
            f"PostgreSQL {major} is older than pgdba supports (tested on {tested}): "
            "catalog queries may fail or return incomplete data; upgrade the server"
        )
    return (
        f"PostgreSQL {major} is newer than pgdba has been tested on ({tested}): "
        "catalog views may have changed, so checks may miss problems or fail"
    )


@dataclass(frozen=True)
class StatementColumns:
    """pg_stat_statements column names for one PostgreSQL major (13 renamed *_time, 17 renamed blk_*)."""

    total_exec_time: str
    mean_exec_time: str
    stddev_exec_time: str
    min_exec_time: str
    max_exec_time: str
    blk_read_time: str
    blk_write_time: str
    has_toplevel: bool
    has_stats_since: bool


def statement_columns(server_version_num: int) -> StatementColumns:
    """Column names of pg_stat_statements on a server of this version number (e.g. 150004)."""
    if server_version_num >= 130000:
        exec_cols = (
            "total_exec_time",
            "mean_exec_time",
            "stddev_exec_time",
            "min_exec_time",
            "max_exec_time",
        )
    else:
        exec_cols = ("total_time", "mean_time", "stddev_time", "min_time", "max_time")
    if server_version_num >= 170000:
        blk = ("shared_blk_read_time", "shared_blk_write_time")
    else:
        blk = ("blk_read_time", "blk_write_time")
    return StatementColumns(
        *exec_cols,
        *blk,
        has_toplevel=server_version_num >= 140000,
        has_stats_since=server_version_num >= 170000,
    )


@dataclass
class ServerFacts:
    """What pgdba learned about a server in one round of catalog queries."""

    version_num: int
    version: str
    database: str
    user: str
    is_superuser: bool
    in_recovery: bool
    settings: dict[str, str] = field(default_factory=dict)
    installed_extensions: dict[str, str] = field(default_factory=dict)
    available_extensions: dict[str, str] = field(default_factory=dict)
    preload_libraries: tuple[str, ...] = ()
    # False when the role may not read shared_preload_libraries (superuser-only unless pg_read_all_settings):
    # preload_libraries then holds only what pgdba could prove loaded
    preload_libraries_visible: bool = True
    roles: tuple[str, ...] = ()
    stats_reset: datetime | None = None
    # when the server's statistics began counting: the earliest stats_reset of its cluster-wide views (see
    # SERVER_STATS_SINCE_VIEWS); the age of a database's counters whose stats_reset is NULL (never reset)
    server_stats_since: datetime | None = None
    # when this server was last promoted from a standby (its newest timeline history file in pg_wal), or None:
    # its counters from before count only what the standby ran itself. Unknown to roles without pg_monitor.
    promoted_at: datetime | None = None
    statements_reset: datetime | None = None
    postmaster_start: datetime | None = None
    # the schema pg_stat_statements is created in: pgdba names its view and functions by it (statements_view),
    # so a schema off the search_path (the DSN's own `options=-c search_path=app`) does not hide them
    statements_schema: str | None = None
    # this role may use that schema (USAGE): without it the view is out of reach whatever its name
    statements_schema_usable: bool = True

    @property
    def major(self) -> int:
        return self.version_num // 10000

    @property
    def is_tested_version(self) -> bool:
        return self.major in TESTED_MAJORS

    @property
    def version_note(self) -> str | None:
        """What to tell the user about this server's version, or None when it is a tested one."""
        return version_note(self.version_num)

    @property
    def statement_columns(self) -> StatementColumns:
        return statement_columns(self.version_num)

    @property
    def pg_stat_statements_preloaded(self) -> bool:
        return any(library_name(entry) == "pg_stat_statements" for entry in self.preload_libraries)

    @property
    def pg_stat_statements_ready(self) -> bool:
        return (
            self.pg_stat_statements_preloaded
            and "pg_stat_statements" in self.installed_extensions
            and self.statements_schema_usable
        )

    def statements_view(self, name: str = "pg_stat_statements") -> sql.Composable:
        """A view or function of pg_stat_statements (`pg_stat_statements_info`, `…_reset`) by its schema."""
        if self.statements_schema is None:
            return sql.Identifier(name)
        return sql.Identifier(self.statements_schema, name)

    @property
    def hypopg_available(self) -> bool:
        return "hypopg" in self.installed_extensions or "hypopg" in self.available_extensions

    @property
    def hypopg_installed(self) -> bool:
        return "hypopg" in self.installed_extensions

    @property
    def can_read_all_stats(self) -> bool:
        """Superusers and members of pg_read_all_stats (pg_monitor) see every session's query text."""
        return self.is_superuser or bool({"pg_read_all_stats", "pg_monitor"} & set(self.roles))

    def setting(self, name: str) -> str | None:
        return self.settings.get(name)


_SETTINGS_OF_INTEREST = (
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "effective_cache_size",
    "random_page_cost",
    "seq_page_cost",
    "max_connections",
    "superuser_reserved_connections",
    "reserved_connections",
    "autovacuum",
    "autovacuum_vacuum_scale_factor",
    "autovacuum_vacuum_threshold",
    "autovacuum_analyze_scale_factor",
    "autovacuum_analyze_threshold",
    "autovacuum_freeze_max_age",
    "autovacuum_multixact_freeze_max_age",
    "autovacuum_max_workers",
    "track_io_timing",
    "track_activities",
    "track_counts",
    "pg_stat_statements.track",
    "pg_stat_statements.max",
    "compute_query_id",
    "shared_preload_libraries",
    "block_size",
    "data_directory",
    "server_version",
    "statement_timeout",
    "lock_timeout",
    "max_wal_size",
    "wal_level",
)

# pg_stat_statements.track as configured (reset_val), not as this session has it: pgdba's own sessions turn
# tracking off for themselves (pgdba.target.untrack_own_statements), the application's get the configured one
SETTINGS_SQL = """
SELECT name,
       CASE WHEN name = 'pg_stat_statements.track' THEN reset_val ELSE setting END AS setting,
       unit
  FROM pg_settings
 WHERE name = ANY(%(names)s)
"""

EXTENSIONS_SQL = """
SELECT name,
       default_version,
       installed_version
  FROM pg_available_extensions
"""

IDENTITY_SQL = """
SELECT current_setting('server_version_num')::int AS version_num,
       version() AS version,
       current_database() AS database,
       current_user AS "user",
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS is_superuser,
       pg_is_in_recovery() AS in_recovery,
       pg_postmaster_start_time() AS postmaster_start,
       (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()) AS stats_reset,
       ARRAY(SELECT b.rolname
               FROM pg_auth_members m
               JOIN pg_roles b ON m.roleid = b.oid
              WHERE pg_has_role(current_user, b.oid, 'MEMBER')) AS roles
"""

# The cluster-wide statistics and the major that has each. initdb stamps their stats_reset, a clean restart keeps
# it (the stats file), and a crash, an immediate shutdown or a lost stats file resets them all at once, with
# every database's counters (whose own stats_reset stays NULL from 15 on): so the earliest is when the counters
# began. pg_stat_reset_shared() moves only the one it resets forward: the earliest, not the latest.
SERVER_STATS_SINCE_VIEWS = (
    ("pg_stat_bgwriter", 0),
    ("pg_stat_archiver", 0),
    ("pg_stat_wal", 140000),
    ("pg_stat_checkpointer", 170000),
)


def server_stats_since_sql(server_version_num: int) -> str:
    """The earliest stats_reset of the cluster-wide statistics views this version has."""
    views = [view for view, since in SERVER_STATS_SINCE_VIEWS if server_version_num >= since]
    return "SELECT least(" + ", ".join(f"(SELECT stats_reset FROM {view})" for view in views) + ")"


# A promotion starts a new timeline and writes its history file (00000002.history …) into pg_wal then; no
# other file of that name is written later. pg_ls_waldir() needs pg_monitor (or a grant).
PROMOTED_AT_SQL = r"""
SELECT max(modification)
  FROM pg_ls_waldir()
 WHERE name ~ '^[0-9A-F]{8}\.history$'
"""

CAN_LIST_WAL_SQL = "SELECT has_function_privilege('pg_ls_waldir()', 'EXECUTE')"


STATEMENTS_SCHEMA_SQL = """
SELECT n.nspname AS schema,
       has_schema_privilege(n.oid, 'USAGE') AS usable
  FROM pg_extension AS e
  JOIN pg_namespace AS n ON n.oid = e.extnamespace
 WHERE e.extname = 'pg_stat_statements'
"""

STATEMENTS_RESET_SQL = """
SELECT stats_reset
  FROM {info}
"""


def load_server_facts(conn: psycopg.Connection) -> ServerFacts:
    """Collect the server's version, settings, extensions and stats reset times."""
    with conn.cursor(row_factory=dict_row) as cur:
        identity = cur.execute(IDENTITY_SQL).fetchone()
        assert identity is not None
        settings = {
            row["name"]: row["setting"]
            for row in cur.execute(SETTINGS_SQL, {"names": list(_SETTINGS_OF_INTEREST)}).fetchall()
        }
        installed: dict[str, str] = {}
        available: dict[str, str] = {}
        for row in cur.execute(EXTENSIONS_SQL).fetchall():
            available[row["name"]] = row["default_version"] or ""
            if row["installed_version"]:
                installed[row["name"]] = row["installed_version"]
        statements = cur.execute(STATEMENTS_SCHEMA_SQL).fetchone()
    preload = list_setting_entries(settings.get("shared_preload_libraries", ""))
    preload_visible = "shared_preload_libraries" in settings
    schema = statements["schema"] if statements else None
    if not preload_visible and schema is not None and _statements_library_loaded(conn, schema):
        preload = ("pg_stat_statements",)
    facts = ServerFacts(
        version_num=identity["version_num"],
        version=identity["version"],
        database=identity["database"],
        user=identity["user"],
        is_superuser=bool(identity["is_superuser"]),
        in_recovery=bool(identity["in_recovery"]),
        settings=settings,
        installed_extensions=installed,
        available_extensions=available,
        preload_libraries=preload,
        preload_libraries_visible=preload_visible,
        roles=tuple(identity["roles"] or ()),
        stats_reset=identity["stats_reset"],
        server_stats_since=_server_stats_since(conn, identity["version_num"]),
        promoted_at=None if identity["in_recovery"] else _promoted_at(conn),
        postmaster_start=identity["postmaster_start"],
        statements_schema=schema,
        statements_schema_usable=bool(statements["usable"]) if statements else True,
    )
    if facts.pg_stat_statements_ready and facts.version_num >= 140000:
        facts.statements_reset = _statements_reset(conn, facts)
    return facts


def list_setting_items(value: str) -> list[tuple[str, bool]]:
    """The entries of a list setting (shared_preload_libraries, search_path) as PostgreSQL splits it, at
    commas outside double quotes: (the entry as written, trimmed; does it start quoted). A search_path
    reader needs the second: an unquoted name is folded to lower case, a quoted one is not."""
    entries: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted  # a doubled "" toggles twice: kept as written
        if char == "," and not quoted:
            entries.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    entries.append("".join(current).strip())
    return [(entry, entry.startswith('"')) for entry in entries if entry]


def list_setting_entries(value: str) -> tuple[str, ...]:
    """The entries of a list setting as PostgreSQL splits it (list_setting_items), quotes removed ("" inside
    quotes is one ")."""
    return tuple(entry for entry in (_unquoted(text) for text, _ in list_setting_items(value)) if entry)


def _unquoted(text: str) -> str:
    kept: list[str] = []
    quoted = False
    i = 0
    while i < len(text):
        if text[i] == '"' and quoted and text[i + 1 : i + 2] == '"':
            kept.append('"')
            i += 1
        elif text[i] == '"':
            quoted = not quoted
        else:
            kept.append(text[i])
        i += 1
    return "".join(kept)


def library_name(entry: str) -> str:
    """The library a preload entry loads: '$libdir/pg_stat_statements', 'pg_stat_statements.so' and
    '/usr/lib/postgresql/16/lib/pg_stat_statements.so' all load pg_stat_statements."""
    base = entry.rsplit("/", 1)[-1]
    return base.removesuffix(".so")


STATEMENTS_PROBE_SQL = """
SELECT 1
  FROM {schema}.pg_stat_statements
 LIMIT 1
"""


def _statements_library_loaded(conn: psycopg.Connection, schema: str) -> bool:
    """The view answers only when the library was preloaded; asked when the setting itself is hidden."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL(STATEMENTS_PROBE_SQL).format(schema=sql.Identifier(schema)))
        return True
    except psycopg.Error:
        if not conn.autocommit:
            conn.rollback()
        return False


def _server_stats_since(conn: psycopg.Connection, server_version_num: int) -> datetime | None:
    try:
        with conn.cursor() as cur:
            row = cur.execute(server_stats_since_sql(server_version_num)).fetchone()
            return row[0] if row else None
    except psycopg.Error:
        if not conn.autocommit:
            conn.rollback()
        return None


def _promoted_at(conn: psycopg.Connection) -> datetime | None:
    try:
        with conn.cursor() as cur:
            allowed = cur.execute(CAN_LIST_WAL_SQL).fetchone()
            if not (allowed and allowed[0]):
                return None
            row = cur.execute(PROMOTED_AT_SQL).fetchone()
            return row[0] if row else None
    except psycopg.Error:
        if not conn.autocommit:
            conn.rollback()
        return None


def _statements_reset(conn: psycopg.Connection, facts: ServerFacts) -> datetime | None:
    query = sql.SQL(STATEMENTS_RESET_SQL).format(info=facts.statements_view("pg_stat_statements_info"))
    try:
        with conn.cursor() as cur:
            row = cur.execute(query).fetchone()
            return row[0] if row else None
    except psycopg.Error:
        if not conn.autocommit:
            conn.rollback()
        return None
