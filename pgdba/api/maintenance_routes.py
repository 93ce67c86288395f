"""/api/v1/maintenance: which tables need VACUUM / ANALYZE, and the confirmed POST that runs it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from pgdba.api.actions import record_action, require_action_allowed
from pgdba.api.dependencies import DatabaseName, target_of
from pgdba.api.models import ERROR_RESPONSES
from pgdba.api.v1_models import MaintenanceResponse, VacuumAnalyzeRequest
from pgdba.errors import InputError
from pgdba.maintenance import MaintenanceItem, MaintenancePlan, apply_maintenance, maintenance_plan
from pgdba.target import Target, session

router = APIRouter(prefix="/api/v1/maintenance", tags=["maintenance"], responses=ERROR_RESPONSES)


LISTED_NOT_PLANNED = "listed in the request (not in the maintenance plan)"

# the tables VACUUM can run on, by the name the plan gives them; temp tables only their own session can vacuum
EXISTING_TABLES_SQL = """
SELECT t.schemaname AS schema,
       t.relname AS "table",
       c.relkind = 'p' AS partitioned
  FROM pg_stat_user_tables AS t
  JOIN pg_class AS c ON c.oid = t.relid
 WHERE c.relpersistence <> 't'
   AND t.schemaname || '.' || t.relname = ANY(%s)
"""


def existing_tables(target: Target, names: list[str]) -> dict[str, MaintenanceItem]:
    """The listed tables that exist, as maintenance items with no reason yet (no table is locked)."""
    with session(target) as conn:
        rows = conn.execute(EXISTING_TABLES_SQL, (names,)).fetchall()
    return {f"{schema}.{table}": MaintenanceItem(schema, table, partitioned=p) for schema, table, p in rows}


def listed_plan(target: Target, planned: MaintenancePlan, names: list[str]) -> MaintenancePlan:
    """The listed tables in the order asked: the plan's item (with its reasons) or, for a table the plan
    does not hold, an item saying it was asked for. A name that is no table is a one-line InputError."""
    wanted = list(dict.fromkeys(names))
    items = {item.to_dict()["table"]: item for item in planned.items}
    missing = [name for name in wanted if name not in items]
    if missing:
        found = existing_tables(target, missing)
        unknown = [name for name in missing if name not in found]
        if unknown:
            raise InputError(f"no such table: {', '.join(unknown[:5])}")
        for name, item in found.items():
            item.reasons.append(LISTED_NOT_PLANNED)
            items[name] = item
    return MaintenancePlan([items[name] for name in wanted])


@router.get("", response_model=MaintenanceResponse)
def plan(request: Request, db: DatabaseName = None) -> dict[str, Any]:
    """Tables with overdue VACUUM or ANALYZE or many dead rows, each with its reasons and SQL; on a replica
    none (notPlanned says why: VACUUM and ANALYZE run on the primary)."""
    return maintenance_plan(target_of(request, db)).to_dict()


@router.post(
    "/vacuum-analyze", response_model=MaintenanceResponse, dependencies=[Depends(require_action_allowed)]
)
def vacuum_analyze(request: Request, body: VacuumAnalyzeRequest, db: DatabaseName = None) -> dict[str, Any]:
    """Run VACUUM (ANALYZE) on the planned tables, or on the listed ones (planned or not: the caller
    named them), one at a time under lock_timeout. Needs the token and `confirm: true`; logged. On a
    replica: 409, nothing run."""
    target = target_of(request, db)
    planned = maintenance_plan(target)
    if body.tables is not None:
        planned = listed_plan(target, planned, body.tables)
    applied = apply_maintenance(target, planned, announce=lambda _: None)
    done = applied.to_dict()
    statuses = [f"{t['table']}: {t['status']}" for t in done["tables"]]
    outcome = "failed" if applied.failed else "done"
    record_action(
        request, target, "vacuum-analyze", ", ".join(statuses) or "(nothing planned)", {"status": outcome}
    )
    return done
