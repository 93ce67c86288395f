"""`pgdba setup pg-stat-statements`: say exactly what is missing for query statistics, and fix it with --apply.

pgdba never restarts a server it did not start; the embedded cluster it may restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from pgdba.errors import NotAvailable
from pgdba.findings import SCHEMA_VERSION
from pgdba.server import ServerFacts, load_server_facts
from pgdba.target import Target, session


@dataclass(frozen=True)
class SetupStep:
    code: str
    problem: str
    fix: str
    sql: str | None
    needs_restart: bool = False
    can_apply: bool = True


@dataclass
class SetupStatus:
    ready: bool
    steps: list[SetupStep]
    applied: list[str] = field(default_factory=list)
    restart_required: bool = False
    restarted: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "ready": self.ready,
            "missing": [step.__dict__ for step in self.steps],
            "applied": self.applied,
            "restart_required": self.restart_required,
            "restarted": self.restarted,
            "notes": self.notes,
        }


PARAMETER_PRIVILEGE_SQL = "SELECT has_parameter_privilege(%s, 'ALTER SYSTEM')"


def _may_alter_system(conn: psycopg.Connection, facts: ServerFacts, parameter: str) -> bool:
    if facts.is_superuser:
        return True
    if facts.major < 15:
        return False
    row = conn.execute(PARAMETER_PRIVILEGE_SQL, (parameter,)).fetchone()
    return bool(row and row[0])


def preload_libraries_statement(libraries: Sequence[str]) -> sql.Composed:
    """ALTER SYSTEM SET shared_preload_libraries to exactly these libraries (takes effect on restart)."""
    # one literal per library: a single 'a,b' literal would name one library called "a,b"
    value = sql.SQL(", ").join(sql.Literal(lib) for lib in libraries)
    return sql.SQL("ALTER SYSTEM SET shared_preload_libraries = {}").format(value)


def statements_setup_steps(conn: psycopg.Connection, facts: ServerFacts) -> list[SetupStep]:
    """What stands between this server and working query statistics, in the order to fix it."""
    steps: list[SetupStep] = []
    if not facts.pg_stat_statements_preloaded:
        fix = (
            "add it (keeping the existing entries) and restart PostgreSQL; managed services: set it in the "
            "provider's parameter group"
        )
        if facts.preload_libraries_visible:
            libraries = [*facts.preload_libraries, "pg_stat_statements"]
            statement: str | None = preload_libraries_statement(libraries).as_string(conn) + ";"
        else:
            # this role cannot read the current list: a statement built from it would drop the others
            statement = None
            fix += " (this role cannot read shared_preload_libraries: a superuser must do it)"
        steps.append(
            SetupStep(
                "library_not_preloaded",
                "pg_stat_statements is not in shared_preload_libraries",
                fix,
                statement,
                needs_restart=True,
                can_apply=statement is not None
                and _may_alter_system(conn, facts, "shared_preload_libraries"),
            )
        )
    if "pg_stat_statements" not in facts.installed_extensions:
        available = "pg_stat_statements" in facts.available_extensions
        steps.append(
            SetupStep(
                "extension_not_created",
                "the pg_stat_statements extension is not created in this database"
                + ("" if available else " and is not installed on the server (install postgresql-contrib)"),
                "CREATE EXTENSION as a superuser (or a role allowed to create it)",
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;",
                can_apply=available and facts.is_superuser,
            )
        )
    track = facts.setting("pg_stat_statements.track")
    if track == "none":
        steps.append(
            SetupStep(
                "tracking_off",
                "pg_stat_statements.track is 'none': nothing is recorded",
                "set it to 'top' (or 'all') and reload",
                "ALTER SYSTEM SET pg_stat_statements.track = 'top'; SELECT pg_reload_conf();",
                can_apply=_may_alter_system(conn, facts, "pg_stat_statements.track"),
            )
        )
    if not facts.can_read_all_stats:
        steps.append(
            SetupStep(
                "no_privilege",
                f"role {facts.user} cannot see other roles' query texts",
                "grant it pg_monitor (or pg_read_all_stats)",
                f"GRANT pg_monitor TO {sql.Identifier(facts.user).as_string(conn)};",
                can_apply=facts.is_superuser,
            )
        )
    return steps


def pg_stat_statements_status(target: Target) -> SetupStatus:
    """Read-only: what is missing."""
    with session(target) as conn:
        facts = load_server_facts(conn)
        steps = statements_setup_steps(conn, facts)
    return SetupStatus(ready=not steps, steps=steps, restart_required=any(s.needs_restart for s in steps))


def apply_pg_stat_statements_setup(target: Target, *, may_restart: bool = False) -> SetupStatus:
    """Run the fixes this role may run. A restart happens only when `may_restart` (the embedded cluster)."""
    status = pg_stat_statements_status(target)
    with session(target, apply=True) as conn:
        for step in status.steps:
            if not step.can_apply or step.sql is None:
                status.notes.append(f"cannot fix '{step.code}' as this role: {step.fix}")
                continue
            for statement in (part.strip() for part in step.sql.split(";") if part.strip()):
                conn.execute(statement.encode())
            status.applied.append(step.sql)
    if status.restart_required and not may_restart:
        status.notes.append(
            "restart PostgreSQL to load pg_stat_statements (pgdba never restarts a server it did not start)"
        )
    return status


def require_statements(facts: ServerFacts) -> None:
    if not facts.pg_stat_statements_ready:
        raise NotAvailable("pg_stat_statements is not ready: run `pgdba setup pg-stat-statements`")
