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
from psycopg.rows import dict_row

from pgdba.checks.tables import analyze_overdue, dead_tuple_findings, vacuum_overdue
from pgdba.findings import SCHEMA_VERSION
from pgdba.stats.settings import server_settings
from pgdba.stats.tables import TableStats
from pgdba.target import Target, session


@dataclass
class MaintenanceItem:
    schema: str
    table: str
    reasons: list[str] = field(default_factory=list)
    status: str = "planned"  # planned | done | failed
    seconds: float | None = None
    error: str | None = None

    @property
    def statement(self) -> sql.Composed:
        return sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(self.schema, self.table))

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "applied": self.applied,
            "tables": [i.to_dict() for i in self.items],
        }


# pgdba.stats.tables reads sizes with pg_*_size(), which take ACCESS SHARE on every table and so fail (or queue)
# behind DDL; the plan needs only the counters, so sizes here are pg_class's page counts and nothing is locked
UNLOCKED_TABLE_STATS_SQL = """
SELECT t.schemaname AS schema,
       t.relname AS "table",
       (c.relpages + coalesce(toast.relpages, 0) + coalesce(ix.pages, 0))::bigint * block.size AS total_bytes,
       c.relpages::bigint * block.size AS table_bytes,
       coalesce(ix.pages, 0)::bigint * block.size AS index_bytes,
       coalesce(toast.relpages, 0)::bigint * block.size AS toast_bytes,
       greatest(c.reltuples, 0)::bigint AS estimated_rows,
       t.n_live_tup AS live_rows,
       t.n_dead_tup AS dead_rows,
       t.n_mod_since_analyze AS modified_since_analyze,
       t.n_tup_ins AS inserts,
       t.n_tup_upd AS updates,
       t.n_tup_del AS deletes,
       t.n_tup_hot_upd AS hot_updates,
       t.seq_scan AS seq_scans,
       t.seq_tup_read AS seq_rows_read,
       coalesce(t.idx_scan, 0) AS index_scans,
       t.last_vacuum,
       t.last_autovacuum,
       t.last_analyze,
       t.last_autoanalyze,
       t.vacuum_count,
       t.autovacuum_count,
       t.analyze_count,
       t.autoanalyze_count,
       EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = t.relid AND p.contype = 'p') AS has_primary_key,
       coalesce(c.reloptions, '{}') AS reloptions
  FROM pg_stat_user_tables AS t
  JOIN pg_class AS c ON c.oid = t.relid
  LEFT JOIN pg_class AS toast ON toast.oid = c.reltoastrelid
  LEFT JOIN LATERAL (SELECT sum(i.relpages) AS pages
                       FROM pg_index AS x
                       JOIN pg_class AS i ON i.oid = x.indexrelid
                      WHERE x.indrelid = t.relid) AS ix ON true
 CROSS JOIN (SELECT current_setting('block_size')::bigint AS size) AS block
"""


def unlocked_table_stats(conn: psycopg.Connection) -> list[TableStats]:
    """Every user table's counters without taking a lock on any table (sizes are pg_class's estimates)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(UNLOCKED_TABLE_STATS_SQL).fetchall()
    return [TableStats(**{**row, "reloptions": tuple(row["reloptions"])}) for row in rows]


def maintenance_plan(target: Target) -> MaintenancePlan:
    """Tables with overdue VACUUM or ANALYZE or many dead rows (the table checks' default thresholds)."""
    with session(target) as conn:
        tables = unlocked_table_stats(conn)
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
        item = items.setdefault(finding.object, MaintenanceItem(t.schema, t.table))
        item.reasons.append(finding.title)
    return MaintenancePlan(sorted(items.values(), key=lambda i: (i.schema, i.table)))


def apply_maintenance(
    target: Target, plan: MaintenancePlan, *, announce: Callable[[str], None] = print
) -> MaintenancePlan:
    """Run each item's VACUUM (ANALYZE), one at a time, announcing the SQL before it runs. A table whose lock
    is not granted within the target's lock_timeout is reported failed and the next one goes on."""
    with session(target, apply=True) as conn:
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
