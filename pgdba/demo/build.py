"""Create and fill the e-learning demo database: schema, generated data, indexes, foreign keys, statistics."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from pgdba.demo.files import schema_sections
from pgdba.demo.generate import SERIAL_TABLES, SET_SEQUENCE, TABLE_LOADS
from pgdba.demo.size import DemoSize, demo_size
from pgdba.errors import InputError
from pgdba.server import library_name, load_server_facts
from pgdba.target import Target

Progress = Callable[[str, int, int], None]
"""progress(step, done, total): called before each step and once more with done == total at the end."""

DEMO_EXTENSIONS = ("pg_stat_statements", "hypopg", "pg_qualstats")
# extensions that work only when their library is in shared_preload_libraries (created only then)
PRELOAD_ONLY = ("pg_qualstats",)
SEED = 0.42

# Bulk-load settings for the builder's own session only: the data is regenerated, not precious.
_BUILD_SETTINGS = {
    "statement_timeout": "0",
    "synchronous_commit": "off",
    "maintenance_work_mem": "256MB",
    "work_mem": "64MB",
}


@dataclass
class DemoBuildResult:
    database: str
    size: DemoSize
    row_counts: dict[str, int] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    extensions: list[str] = field(default_factory=list)
    total_seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "scale": self.size.scale,
            "row_counts": dict(self.row_counts),
            "total_rows": self.total_rows,
            "step_seconds": {k: round(v, 3) for k, v in self.step_seconds.items()},
            "extensions": list(self.extensions),
            "total_seconds": round(self.total_seconds, 3),
        }


def create_demo_database(admin_target: Target, name: str = "elearning") -> Target:
    """Drop the database `name` if it exists (disconnecting its sessions), create it empty, return its target."""
    if not name or len(name) > 63:
        raise InputError(f"database name must be 1 to 63 characters, got {name!r}")
    if name == admin_target.database:
        raise InputError(f"refusing to drop {name!r}: it is the database the admin target connects to")
    with admin_target.connect(apply=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return admin_target.with_database(name)


def build_demo_database(
    target: Target, *, scale: float = 1.0, progress: Progress | None = None
) -> DemoBuildResult:
    """Create the demo schema in the (empty) database of `target` and fill it at `scale`.

    Steps: extensions, enums and tables, one generator statement per table, indexes, foreign keys,
    VACUUM ANALYZE, and a reset of this database's pg_stat_statements entries (the build's own statements).
    """
    size = demo_size(scale)
    sections = schema_sections()
    steps: list[tuple[str, Callable[[psycopg.Connection], None]]] = []
    result = DemoBuildResult(database=target.database, size=size)

    def create_extensions(conn: psycopg.Connection) -> None:
        result.extensions = create_demo_extensions(conn)

    def create_tables(conn: psycopg.Connection) -> None:
        for statement in (*sections.enums, *sections.tables):
            conn.execute(statement)

    steps.append(("extensions", create_extensions))
    steps.append(("tables", create_tables))
    params: dict[str, object] = dict(size.sql_params())
    for load in TABLE_LOADS:
        steps.append((f"data {load.table}", _loader(load.table, load.sql, params, result)))
    steps.append(("sequences", _set_sequences))
    steps.append(("indexes", _run_all(sections.indexes)))
    steps.append(("foreign keys", _run_all(sections.foreign_keys)))
    steps.append(("analyze", _vacuum_analyze))
    steps.append(("reset statement statistics", _reset_statement_statistics))

    started = time.perf_counter()
    with target.connect(apply=True) as conn:
        _refuse_non_empty(conn, target)
        for name, value in _BUILD_SETTINGS.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        conn.execute("SELECT setseed(%s)", (SEED,))
        # one clock for every table, so generated timestamps line up across tables
        anchor = conn.execute("SELECT date_trunc('second', localtimestamp)").fetchone()
        params["anchor"] = anchor[0] if anchor else None
        for done, (step, run) in enumerate(steps):
            if progress:
                progress(step, done, len(steps))
            step_started = time.perf_counter()
            run(conn)
            result.step_seconds[step] = time.perf_counter() - step_started
    if progress:
        progress("done", len(steps), len(steps))
    result.total_seconds = time.perf_counter() - started
    return result


def _loader(
    table: str, statement: str, params: dict[str, object], result: DemoBuildResult
) -> Callable[[psycopg.Connection], None]:
    def load(conn: psycopg.Connection) -> None:
        cursor = conn.execute(statement, params)
        result.row_counts[table] = cursor.rowcount

    return load


def _run_all(statements: tuple[str, ...]) -> Callable[[psycopg.Connection], None]:
    def run(conn: psycopg.Connection) -> None:
        for statement in statements:
            conn.execute(statement)

    return run


def _set_sequences(conn: psycopg.Connection) -> None:
    for table in SERIAL_TABLES:
        quoted = sql.Identifier(table)
        conn.execute(
            sql.SQL(SET_SEQUENCE).format(table=quoted),
            {"table": quoted.as_string(conn)},
        )


def _vacuum_analyze(conn: psycopg.Connection) -> None:
    # VACUUM too, not only ANALYZE: it sets hint bits and the visibility map once, here, instead of
    # autovacuum doing it in the middle of the workload (and index-only scans work from the start)
    if conn.info.server_version >= 150000:
        # The loads' insert counts wait in this session up to a second before they reach the statistics;
        # flushed after VACUUM has set n_live_tup, they would be added on top (every count doubled until
        # autovacuum, set off by those very inserts, corrects it). Flushed now, before the next command.
        conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("VACUUM (ANALYZE)")


def _reset_statement_statistics(conn: psycopg.Connection) -> None:
    """Forget the generator's own statements in this database, so pg_stat_statements shows the application."""
    present = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'").fetchone()
    if present:
        try:
            with conn.transaction():
                conn.execute(
                    """
                    SELECT pg_stat_statements_reset(0, d.oid, 0)
                    FROM pg_database AS d
                    WHERE d.datname = current_database()
                    """
                )
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectNotInPrerequisiteState):
            pass  # not allowed to reset, or the library is not preloaded: the statistics include the build
    reset_qualstats(conn)


def reset_qualstats(conn: psycopg.Connection) -> None:
    """Forget the predicates and constants pg_qualstats saw (all databases), where it is installed here."""
    if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_qualstats'").fetchone():
        return
    try:
        with conn.transaction():
            conn.execute("SELECT pg_qualstats_reset()")
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectNotInPrerequisiteState):
        pass  # as for pg_stat_statements: the constants then include the build's


def create_demo_extensions(conn: psycopg.Connection) -> list[str]:
    """Create the extensions the demo wants where the server has them; return the ones now present."""
    available = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM pg_available_extensions WHERE name = ANY(%s)", (list(DEMO_EXTENSIONS),)
        )
    }
    # a role that may not read shared_preload_libraries sees only what pgdba can prove loaded
    preloaded = {library_name(entry) for entry in load_server_facts(conn).preload_libraries}
    available -= {name for name in PRELOAD_ONLY if name not in preloaded}
    for name in DEMO_EXTENSIONS:
        if name in available:
            conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name)))
    return [
        row[0]
        for row in conn.execute(
            "SELECT extname FROM pg_extension WHERE extname = ANY(%s) ORDER BY extname",
            (list(DEMO_EXTENSIONS),),
        )
    ]


def _refuse_non_empty(conn: psycopg.Connection, target: Target) -> None:
    row = conn.execute(
        """
        SELECT count(*)
        FROM pg_class AS c
        JOIN pg_namespace AS n
          ON n.oid = c.relnamespace
        WHERE n.nspname = 'public'
          AND c.relkind IN ('r', 'p')
          AND NOT EXISTS (
              SELECT 1
              FROM pg_depend AS d
              WHERE d.classid = 'pg_class'::regclass
                AND d.objid = c.oid
                AND d.deptype = 'e'
          )
        """
    ).fetchone()
    if row and row[0]:
        raise InputError(
            f"database {target.database!r} already has {row[0]} tables in schema public; "
            "the demo is built into an empty database (create_demo_database makes one)"
        )
