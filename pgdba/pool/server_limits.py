"""What the server allows and who already uses it: the collected inputs of pool advice (read-only)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pgdba.server import ServerFacts
from pgdba.stats.statement_texts import without_texts
from pgdba.target import Target

LOOPBACK_HOSTS = ("", "localhost", "127.0.0.1", "::1")
# PostgreSQL's MAX_BACKENDS (2^18 - 1): no max_connections, pool size or headroom can exceed it
MAX_BACKENDS = 262_143


@dataclass(frozen=True)
class ServerLimits:
    """Connection limits, current client connections by application, and the measured in-database time."""

    max_connections: int
    superuser_reserved_connections: int
    reserved_connections: int
    # CONNECTION LIMIT of the current database (-1: none); it binds every role but superusers
    database_connection_limit: int = -1
    # the login role (session_user) and its CONNECTION LIMIT (-1: none, or the role is a superuser, whom
    # the server never holds to it); it counts the role's sessions in every database
    role_name: str = ""
    role_connection_limit: int = -1
    connections_by_application: dict[str, int] = field(default_factory=dict)
    # client connections of other roles this role may not inspect (no pg_read_all_stats): counted anyway
    hidden_sessions: int = 0
    database_connections_by_application: dict[str, int] = field(default_factory=dict)
    # client connections of the login role by application (they count against its CONNECTION LIMIT)
    role_connections_by_application: dict[str, int] = field(default_factory=dict)
    application_name: str | None = None
    mean_call_ms: float | None = None
    calls: int = 0
    average_calls_per_s: float | None = None
    statements_note: str = ""
    server_cpus: int | None = None
    server_cpus_source: str = "unknown"

    @property
    def reserved_total(self) -> int:
        return self.superuser_reserved_connections + self.reserved_connections

    @property
    def app_connections(self) -> int:
        """Current connections of the application being sized (they will be replaced by its pool)."""
        if not self.application_name:
            return 0
        return self.connections_by_application.get(self.application_name, 0)

    @property
    def other_clients(self) -> int:
        """Client connections that are not the application being sized (and not this session)."""
        return sum(self.connections_by_application.values()) - self.app_connections

    @property
    def other_clients_in_database(self) -> int:
        """Other clients connected to the current database (they count against its CONNECTION LIMIT)."""
        own = self.database_connections_by_application.get(self.application_name or "", 0)
        return sum(self.database_connections_by_application.values()) - own

    @property
    def other_clients_of_role(self) -> int:
        """Other sessions of the login role, in any database (they count against its CONNECTION LIMIT)."""
        own = self.role_connections_by_application.get(self.application_name or "", 0)
        return sum(self.role_connections_by_application.values()) - own

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            reserved_total=self.reserved_total,
            app_connections=self.app_connections,
            other_clients=self.other_clients,
            other_clients_in_database=self.other_clients_in_database,
            other_clients_of_role=self.other_clients_of_role,
        )
        return data


# A session that takes one of max_connections' slots. Without pg_read_all_stats, other roles' sessions
# show no backend_type: one in a database under a role is a client (background processes have no role,
# physical walsenders no database; walsenders and background workers have slots of their own).
CLIENT_BACKEND = """(backend_type = 'client backend'
        OR (backend_type IS NULL AND datid IS NOT NULL AND usesysid IS NOT NULL))"""

# The limits the server checks at connection start, for the login role (session_user) and the current
# database, and the client connections counted against each: `pool advise` and `pool bench` read this one row
BUDGET_SQL = f"""
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS superuser_reserved_connections,
       coalesce(current_setting('reserved_connections', true), '0')::int AS reserved_connections,
       r.rolname AS role_name,
       r.rolsuper AS superuser,
       -- PostgreSQL 16+: members of pg_use_reserved_connections may take the reserved_connections slots
       coalesce(pg_has_role(session_user, to_regrole('pg_use_reserved_connections')::oid, 'USAGE'), false)
         AS may_use_reserved,
       r.rolconnlimit AS role_connection_limit,
       d.datname AS database,
       d.datconnlimit AS database_connection_limit,
       (SELECT count(*) FROM pg_stat_activity WHERE {CLIENT_BACKEND}) AS clients,
       (SELECT count(*) FROM pg_stat_activity WHERE {CLIENT_BACKEND} AND datid = d.oid) AS database_clients,
       (SELECT count(*) FROM pg_stat_activity WHERE {CLIENT_BACKEND} AND usesysid = r.oid) AS role_clients
  FROM pg_roles AS r, pg_database AS d
 WHERE r.rolname = session_user
   AND d.datname = current_database()
"""

CONNECTIONS_BY_APPLICATION_SQL = f"""
SELECT coalesce(nullif(application_name, ''), '(unnamed)') AS application_name,
       count(*) AS connections,
       count(*) FILTER (WHERE backend_type IS NULL) AS hidden,
       count(*) FILTER (WHERE datname = current_database()) AS in_this_database,
       count(*) FILTER (WHERE usesysid = (SELECT oid FROM pg_roles WHERE rolname = session_user))
         AS of_this_role
  FROM pg_stat_activity
 WHERE {CLIENT_BACKEND}
   AND pid <> pg_backend_pid()
 GROUP BY 1
 ORDER BY 2 DESC
"""

# counters only: without the texts, which one text of another database's encoding can make unreadable
# (pgdba.stats.statement_texts)
MEAN_CALL_TIME_SQL = """
SELECT sum(s.calls) AS calls,
       sum(s.{total}) / nullif(sum(s.calls), 0) AS mean_call_ms,
       sum(s.calls) / nullif(extract(epoch FROM now() - {since}), 0) AS average_calls_per_s
  FROM {without_texts} AS s
 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND {toplevel}
"""


def server_limits(
    conn: psycopg.Connection,
    facts: ServerFacts,
    *,
    application_name: str | None = None,
    server_cpus: int | None = None,
    target: Target | None = None,
) -> ServerLimits:
    """Read max_connections, the reserved slots, pg_stat_activity by application and pg_stat_statements."""
    with conn.cursor(row_factory=dict_row) as cur:
        limits = cur.execute(BUDGET_SQL).fetchone()
        assert limits is not None
        usage = cur.execute(CONNECTIONS_BY_APPLICATION_SQL).fetchall()
    by_app = {row["application_name"]: int(row["connections"]) for row in usage}
    mean_ms, calls, rate, note = _mean_call_time(conn, facts)
    cpus, cpus_source = _server_cpus(server_cpus, target)
    return ServerLimits(
        max_connections=limits["max_connections"],
        superuser_reserved_connections=limits["superuser_reserved_connections"],
        # reserved_connections (for pg_use_reserved_connections) exists from PostgreSQL 16
        reserved_connections=limits["reserved_connections"] if facts.major >= 16 else 0,
        connections_by_application=by_app,
        hidden_sessions=sum(int(row["hidden"]) for row in usage),
        database_connection_limit=_binding_limit(int(limits["database_connection_limit"]), limits),
        database_connections_by_application={
            row["application_name"]: int(row["in_this_database"]) for row in usage if row["in_this_database"]
        },
        role_name=str(limits["role_name"]),
        # the server never holds a superuser to its role's CONNECTION LIMIT
        role_connection_limit=(
            -1 if limits["superuser"] else _binding_limit(int(limits["role_connection_limit"]), limits)
        ),
        role_connections_by_application={
            row["application_name"]: int(row["of_this_role"]) for row in usage if row["of_this_role"]
        },
        application_name=application_name,
        mean_call_ms=mean_ms,
        calls=calls,
        average_calls_per_s=rate,
        statements_note=note,
        server_cpus=cpus,
        server_cpus_source=cpus_source,
    )


def _mean_call_time(
    conn: psycopg.Connection, facts: ServerFacts
) -> tuple[float | None, int, float | None, str]:
    if not facts.pg_stat_statements_ready:
        return None, 0, None, "pg_stat_statements is not enabled: no measured in-database time"
    cols = facts.statement_columns
    since = (
        sql.SQL("(SELECT stats_reset FROM {})").format(facts.statements_view("pg_stat_statements_info"))
        if facts.major >= 14
        else sql.SQL("NULL::timestamptz")
    )
    query = sql.SQL(MEAN_CALL_TIME_SQL).format(
        without_texts=without_texts(facts),
        total=sql.Identifier(cols.total_exec_time),
        since=since,
        toplevel=sql.SQL("s.toplevel") if cols.has_toplevel else sql.SQL("true"),
    )
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query).fetchone()
    if row is None or not row["calls"]:
        return None, 0, None, "pg_stat_statements has no calls in this database yet"
    rate = float(row["average_calls_per_s"]) if row["average_calls_per_s"] is not None else None
    return float(row["mean_call_ms"]), int(row["calls"]), rate, ""


def _server_cpus(given: int | None, target: Target | None) -> tuple[int | None, str]:
    """--server-cpus wins; a loopback server shares this machine's CPUs; otherwise unknown (SQL cannot tell)."""
    if given is not None:
        return given, "--server-cpus"
    if target is not None and is_loopback(target):
        return os.cpu_count(), "this machine (the server is on loopback)"
    return None, "unknown (pass --server-cpus)"


def is_loopback(target: Target) -> bool:
    """True when every host of the DSN is this machine (loopback address or Unix socket)."""
    host = str(target.params().get("host") or os.environ.get("PGHOST") or "")
    hostaddr = str(target.params().get("hostaddr") or "")
    hosts = [h.strip() for h in (hostaddr or host).split(",")]
    return all(h in LOOPBACK_HOSTS or h.startswith("/") or h.startswith("127.") for h in hosts)


def _binding_limit(connection_limit: int, limits: Mapping[str, Any]) -> int:
    """A database's or role's CONNECTION LIMIT, or -1 when it cannot bind: PostgreSQL accepts any number, and
    one at or above max_connections never refuses anybody max_connections did not."""
    return (
        -1 if connection_limit < 0 or connection_limit >= int(limits["max_connections"]) else connection_limit
    )


@dataclass(frozen=True)
class ConnectionBudget:
    """How many more connections the login role can open to the current database right now, and which
    limit says so: what the server checks at connection start (max_connections less the slots reserved for
    others, the database's and the role's CONNECTION LIMIT; superusers are held to max_connections only),
    less the connections in use (this session's included)."""

    free: int
    limit: str  # "max_connections", "database CONNECTION LIMIT" or "role CONNECTION LIMIT"
    arithmetic: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def connection_budget(conn: psycopg.Connection) -> ConnectionBudget:
    """The connections the login role of `conn` can still open to its database, by the tightest limit."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(BUDGET_SQL).fetchone()
    assert row is not None
    return budget_of(row)


def budget_of(row: Mapping[str, Any]) -> ConnectionBudget:
    """The arithmetic of connection_budget over one row of BUDGET_SQL (no I/O)."""
    max_connections = int(row["max_connections"])
    clients = int(row["clients"])
    if row["superuser"]:
        reserved, reserved_text = 0, " (a superuser may take the reserved slots)"
    elif row["may_use_reserved"]:
        reserved = int(row["superuser_reserved_connections"])
        reserved_text = f" − superuser_reserved_connections {reserved}"
    else:
        superuser_reserved = int(row["superuser_reserved_connections"])
        other_reserved = int(row["reserved_connections"])
        reserved = superuser_reserved + other_reserved
        reserved_text = f" − superuser_reserved_connections {superuser_reserved}" + (
            f" − reserved_connections {other_reserved}" if other_reserved else ""
        )
    server_free = max(0, max_connections - reserved - clients)
    budgets = [
        ConnectionBudget(
            server_free,
            "max_connections",
            f"max_connections {max_connections}{reserved_text} − {clients} client "
            f"connection{'' if clients == 1 else 's'} in use = {server_free}",
        )
    ]
    if not row["superuser"]:
        in_database = int(row["database_clients"])
        budgets += _connection_limit_budget(
            int(row["database_connection_limit"]),
            in_database,
            "database CONNECTION LIMIT",
            f"database {row['database']}'s",
            f"connection{'' if in_database == 1 else 's'} to it in use",
        )
        budgets += _connection_limit_budget(
            int(row["role_connection_limit"]),
            int(row["role_clients"]),
            "role CONNECTION LIMIT",
            f"role {row['role_name']}'s",
            "of its connections in use",
        )
    return min(budgets, key=lambda budget: budget.free)  # the first (the server's) on a tie


def _connection_limit_budget(
    limit: int, in_use: int, kind: str, owner: str, in_use_text: str
) -> list[ConnectionBudget]:
    """A database's or role's CONNECTION LIMIT as a budget; none when it has no limit (-1)."""
    if limit < 0:
        return []
    free = max(0, limit - in_use)
    return [
        ConnectionBudget(free, kind, f"{owner} CONNECTION LIMIT {limit} − {in_use} {in_use_text} = {free}")
    ]
