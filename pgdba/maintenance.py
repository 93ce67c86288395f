"""`pgdba maintenance`: which tables need VACUUM / ANALYZE and why; with apply=True, run
VACUUM (ANALYZE) on exactly those tables, one at a time, under lock_timeout, and say what happened.

VACUUM takes a SHARE UPDATE EXCLUSIVE lock: reads and writes of the application go on, only DDL and other
VACUUMs wait. lock_timeout bounds how long we queue behind someone else's DDL. The plan itself takes no lock on
any table, so a table held by DDL is planned, tried, and reported failed while the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from pgdba.checks.tables import analyze_overdue, dead_tuple_findings, vacuum_overdue
from pgdba.errors import NotAvailable
from pgdba.findings import SCHEMA_VERSION
from pgdba.stats.settings import server_settings
from pgdba.stats.tables import table_stats
from pgdba.target import Target, session


@dataclass
class MaintenanceItem:
    schema: str
    table: str
    reasons: list[str] = field(default_factory=list)
    status: str = "planned"  # planned | done | failed
    seconds: float | None = None
    error: str | None = None
    partitioned: bool = False  # ANALYZE only: a VACUUM of a partitioned table vacuums every partition

    @property
    def statement(self) -> sql.Composed:
        command = "ANALYZE {}" if self.partitioned else "VACUUM (ANALYZE) {}"
        return sql.SQL(command).format(sql.Identifier(self.schema, self.table))

    @property
    def sql_text(self) -> str:
        return self.statement.as_string(None) + ";"

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": f"{self.schema}.{self.table}",
            "reasons": self.reasons,
            "sql": self.sql_text,
            "status": self.status,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "error": self.error,
        }


@dataclass
class MaintenancePlan:
    items: list[MaintenanceItem]
    applied: bool = False
    # why nothing was planned without looking (a replica), or None
    not_planned: str | None = None

    @property
    def failed(self) -> bool:
        """One table's VACUUM or ANALYZE failed (the CLI exits 1, the API records the action failed)."""
        return any(item.status == "failed" for item in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "applied": self.applied,
            "notPlanned": self.not_planned,
            "tables": [i.to_dict() for i in self.items],
        }


# VACUUM and ANALYZE cannot run during recovery, and a standby needs neither of its own: they run on the
# primary and reach it as WAL. Its dead-row and change counters stay 0 and its last_(auto)vacuum /
# last_(auto)analyze NULL, whatever the primary's tables need.
ON_REPLICA = (
    "a replica (in recovery): VACUUM and ANALYZE run on the primary and reach the replica as WAL, and the "
    "replica's counters do not show what the primary's tables need; run pgdba maintenance against the primary"
)

IN_RECOVERY_SQL = "SELECT pg_is_in_recovery()"


def _in_recovery(conn: psycopg.Connection) -> bool:
    row = conn.execute(IN_RECOVERY_SQL).fetchone()
    return bool(row and row[0])


# pgdba.stats.tables reads sizes with pg_*_size(), which take ACCESS SHARE on every table and so fail (or queue)
# behind DDL; the plan needs only the counters, so sizes here are pg_class's page counts and nothing is locked
def maintenance_plan(target: Target) -> MaintenancePlan:
    """Tables with overdue VACUUM or ANALYZE or many dead rows (the table checks' default thresholds)."""
    with session(target) as conn:
        if _in_recovery(conn):
            return MaintenancePlan([], not_planned=ON_REPLICA)
        tables = table_stats(conn)  # waits for no table's lock
        settings = server_settings(conn)
    now = datetime.now(UTC)
    items: dict[str, MaintenanceItem] = {}
    by_name = {t.qualified_name: t for t in tables}
    for finding in [
        *vacuum_overdue(tables, settings, now),
        *analyze_overdue(tables, settings, now),
        *dead_tuple_findings(tables),
    ]:
        t = by_name[finding.object]
        item = items.setdefault(
            finding.object, MaintenanceItem(t.schema, t.table, partitioned=t.kind == "partitioned table")
        )
        item.reasons.append(finding.title)
    return MaintenancePlan(sorted(items.values(), key=lambda i: (i.schema, i.table)))


def apply_maintenance(
    target: Target,
    plan: MaintenancePlan,
    *,
    announce: Callable[[str], None] = print,
    vacuum_timeout_ms: int = 0,
) -> MaintenancePlan:
    """Run each item's VACUUM (ANALYZE), one at a time, announcing the SQL before it runs. A table whose lock
    is not granted within the target's lock_timeout is reported failed and the next one goes on.

    The VACUUMs run under `vacuum_timeout_ms` (0: none), not the target's statement_timeout: pgdba's 30 s
    default would cancel the VACUUM of every large table halfway (its work so far kept, the table still
    needing it). It never blocks the application (SHARE UPDATE EXCLUSIVE) and lock_timeout still bounds
    the wait for its lock. On a replica nothing runs: NotAvailable says why."""
    if plan.not_planned is not None:
        raise NotAvailable(plan.not_planned)
    with session(target, apply=True) as conn:
        if _in_recovery(conn):  # a plan of tables listed by name, or a server demoted since the plan
            raise NotAvailable(ON_REPLICA)
        conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(vacuum_timeout_ms)))
        for item in plan.items:
            announce(item.sql_text)
            started = time.monotonic()
            try:
                conn.execute(item.statement)
                item.status = "done"
            except psycopg.errors.LockNotAvailable:
                item.status = "failed"
                item.error = (
                    f"lock timeout: another session holds a conflicting lock on the table "
                    f"(not granted within {target.lock_timeout_ms} ms)"
                )
            except psycopg.Error as exc:
                item.status = "failed"
                item.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            item.seconds = time.monotonic() - started
    plan.applied = True
    return plan
