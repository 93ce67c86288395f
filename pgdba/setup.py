"""`pgdba setup pg-stat-statements`: say exactly what is missing for query statistics, and fix it with --apply.

pgdba never restarts a server it did not start; the embedded cluster it may restart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgdba.embedded import running_embedded_root
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


PRELOAD_FIX = (
    "add it (keeping the existing entries) and restart PostgreSQL; managed services: set it in the "
    "provider's parameter group"
)


def _preload_step(conn: psycopg.Connection, facts: ServerFacts) -> SetupStep | None:
    """The shared_preload_libraries step: none when the library is loaded, 'unknown' when this role cannot tell."""
    if facts.pg_stat_statements_preloaded:
        return None
    if facts.preload_libraries_visible:
        libraries = [*facts.preload_libraries, "pg_stat_statements"]
        statement = preload_libraries_statement(libraries).as_string(conn) + ";"
        return SetupStep(
            "library_not_preloaded",
            "pg_stat_statements is not in shared_preload_libraries",
            PRELOAD_FIX,
            statement,
            needs_restart=True,
            can_apply=_may_alter_system(conn, facts, "shared_preload_libraries"),
        )
    if "pg_stat_statements" in facts.installed_extensions:
        # the created view answers only when the library is loaded, and it did not answer
        return SetupStep(
            "library_not_preloaded",
            "pg_stat_statements is not loaded (its view does not answer)",
            PRELOAD_FIX + " (this role cannot read shared_preload_libraries: a superuser must do it)",
            None,  # built from a list this role cannot read, a statement would drop the other libraries
            needs_restart=True,
            can_apply=False,
        )
    return SetupStep(
        "library_preload_unknown",
        "this role cannot read shared_preload_libraries, so whether pg_stat_statements is preloaded is unknown",
        "a superuser must check it (SHOW shared_preload_libraries) and, if pg_stat_statements is missing, add it "
        "keeping the existing entries and restart PostgreSQL; or grant this role pg_read_all_settings",
        None,
        can_apply=False,
    )


def _schema_usage_step(conn: psycopg.Connection, facts: ServerFacts) -> SetupStep | None:
    """pgdba names the view by its schema, so the search_path does not matter; USAGE on that schema does."""
    schema = facts.statements_schema
    if schema is None or facts.statements_schema_usable:
        return None
    return SetupStep(
        "extension_schema_not_usable",
        f"pg_stat_statements is created in schema {sql.Identifier(schema).as_string(conn)}, "
        f"which role {facts.user} has no USAGE on",
        "grant it USAGE on that schema (the schema's owner or a superuser runs this)",
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {};")
        .format(sql.Identifier(schema), sql.Identifier(facts.user))
        .as_string(conn),
        can_apply=facts.is_superuser,
    )


def statements_setup_steps(conn: psycopg.Connection, facts: ServerFacts) -> list[SetupStep]:
    """What stands between this server and working query statistics, in the order to fix it."""
    steps: list[SetupStep] = []
    preload = _preload_step(conn, facts)
    if preload is not None:
        steps.append(preload)
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
    usage = _schema_usage_step(conn, facts)
    if usage is not None:
        steps.append(usage)
    if facts.major >= 14 and facts.setting("compute_query_id") == "off":
        steps.append(
            SetupStep(
                "query_id_off",
                "compute_query_id is 'off': pg_stat_statements records no statement without a query id",
                "set it to 'auto' (pg_stat_statements then computes them) and reload",
                "ALTER SYSTEM SET compute_query_id = 'auto'; SELECT pg_reload_conf();",
                can_apply=_may_alter_system(conn, facts, "compute_query_id"),
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


SET_PRIVILEGE_SQL = "SELECT has_parameter_privilege(%s, 'SET')"


def own_statements_note(conn: psycopg.Connection, facts: ServerFacts) -> str | None:
    """A note when pgdba's own statements are recorded in pg_stat_statements: this role may not turn
    tracking off for its sessions (pgdba.target.untrack_own_statements). Only a superuser can grant it, so
    it is a note for them, not a step that makes the statistics "not ready"."""
    if facts.is_superuser or facts.setting("pg_stat_statements.track") is None:
        return None
    if facts.major >= 15:
        row = conn.execute(SET_PRIVILEGE_SQL, ("pg_stat_statements.track",)).fetchone()
        if row is not None and row[0]:
            return None
        grant = sql.SQL("GRANT SET ON PARAMETER pg_stat_statements.track TO {}").format(
            sql.Identifier(facts.user)
        )
        return (
            f"pgdba's own statements are recorded in pg_stat_statements (role {facts.user} may not turn "
            f"tracking off for its sessions): as a superuser, run {grant.as_string(conn)};"
        )
    return (
        "pgdba's own statements are recorded in pg_stat_statements (only a superuser may turn tracking off "
        "before PostgreSQL 15); pgdba leaves them out of the application's statements"
    )


def pg_stat_statements_status(target: Target) -> SetupStatus:
    """Read-only: what is missing, and a note when pgdba's own statements are recorded."""
    with session(target) as conn:
        facts = load_server_facts(conn)
        steps = statements_setup_steps(conn, facts)
        note = own_statements_note(conn, facts)
    return SetupStatus(
        ready=not steps,
        steps=steps,
        restart_required=any(s.needs_restart for s in steps),
        notes=[note] if note else [],
    )


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

# data_directory is visible to superusers and pg_read_all_settings only: no row for other roles
SERVER_IDENTITY_SQL = """
SELECT current_setting('port')::int AS port,
       pg_postmaster_start_time() AS started_at,
       (SELECT setting FROM pg_settings WHERE name = 'data_directory') AS data_directory
"""


def embedded_cluster_root(target: Target) -> Path | None:
    """The data root of the embedded cluster of pgdba's this target reaches on this machine, wherever that
    root is (`pgdba embedded start --dir DIR`); None for any other server."""
    if str(target.params().get("host") or "") not in LOOPBACK_HOSTS:
        return None
    with session(target) as conn:
        row = conn.execute(SERVER_IDENTITY_SQL).fetchone()
    if row is None:
        return None
    port, started_at, data_directory = row
    return running_embedded_root(data_directory, port, started_at)


RESTART_PENDING = SetupStep(
    "restart_pending",
    "shared_preload_libraries now lists pg_stat_statements, but the library loads only when PostgreSQL restarts",
    "restart PostgreSQL",
    None,
    needs_restart=True,
    can_apply=False,
)


def _run_fixes(
    target: Target, steps: Sequence[SetupStep], announce: Callable[[str], None]
) -> tuple[list[SetupStep], list[str]]:
    """Run each step this role may fix, announcing its SQL first: the steps done, and notes on the others."""
    done: list[SetupStep] = []
    notes: list[str] = []
    with session(target, apply=True) as conn:
        for step in steps:
            if not step.can_apply or step.sql is None:
                notes.append(f"cannot fix '{step.code}' as this role: {step.fix}")
                continue
            announce(step.sql)
            try:
                for statement in (part.strip() for part in step.sql.split(";") if part.strip()):
                    conn.execute(statement.encode())
            except psycopg.Error as exc:
                notes.append(f"could not fix '{step.code}': {str(exc).strip().splitlines()[0]}")
                continue
            done.append(step)
    return done, notes


def apply_pg_stat_statements_setup(
    target: Target,
    *,
    may_restart: bool = False,
    restart: Callable[[], object] | None = None,
    announce: Callable[[str], None] = lambda _: None,
) -> SetupStatus:
    """Run the fixes this role may run, then check again: the status returned is the state after them.

    `restart` (the embedded cluster's) is called when a fix needs it; pgdba never restarts a server it did not
    start, so without it a preload change is reported as 'restart_pending'. `may_restart` says the caller will
    restart the server itself (the demo), which silences the note telling the user to.
    """
    done, notes = _run_fixes(target, pg_stat_statements_status(target).steps, announce)
    restarted = False
    if restart is not None and any(step.needs_restart for step in done):
        restart()
        restarted = True
        notes.append("restarted the embedded cluster to load pg_stat_statements")
    after = pg_stat_statements_status(target)
    notes += after.notes
    done_codes = {step.code for step in done}
    # the preload change was made: what is left is the restart, not the ALTER SYSTEM again
    steps = [
        RESTART_PENDING if s.code == "library_not_preloaded" and s.code in done_codes else s
        for s in after.steps
    ]
    restart_required = any(step.needs_restart for step in steps)
    if restart_required and not may_restart:
        notes.append(
            "restart PostgreSQL to load pg_stat_statements (pgdba never restarts a server it did not start)"
        )
    return SetupStatus(
        ready=not steps,
        steps=steps,
        applied=[step.sql for step in done if step.sql is not None],
        restart_required=restart_required,
        restarted=restarted,
        notes=notes,
    )


def require_statements(facts: ServerFacts) -> None:
    if not facts.pg_stat_statements_ready:
        raise NotAvailable("pg_stat_statements is not ready: run `pgdba setup pg-stat-statements`")
