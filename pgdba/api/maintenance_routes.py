"""/api/v1/maintenance: which tables need VACUUM / ANALYZE, and the confirmed POST that runs it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from pgdba.api.actions import record_action, require_action_allowed
from pgdba.api.dependencies import DatabaseName, target_of
from pgdba.api.models import ERROR_RESPONSES
from pgdba.api.v1_models import MaintenanceResponse, VacuumAnalyzeRequest
from pgdba.errors import NotAvailable
from pgdba.maintenance import apply_maintenance, maintenance_plan

router = APIRouter(prefix="/api/v1/maintenance", tags=["maintenance"], responses=ERROR_RESPONSES)


@router.get("", response_model=MaintenanceResponse)
def plan(request: Request, db: DatabaseName = None) -> dict[str, Any]:
    """Tables with overdue VACUUM or ANALYZE or many dead rows, each with its reasons and SQL."""
    return maintenance_plan(target_of(request, db)).to_dict()


@router.post(
    "/vacuum-analyze", response_model=MaintenanceResponse, dependencies=[Depends(require_action_allowed)]
)
def vacuum_analyze(request: Request, body: VacuumAnalyzeRequest, db: DatabaseName = None) -> dict[str, Any]:
    """Run VACUUM (ANALYZE) on the planned tables (or the listed ones of them), one at a time under
    lock_timeout. Needs the token and `confirm: true`; logged."""
    target = target_of(request, db)
    planned = maintenance_plan(target)
    if body.tables is not None:
        names = {item.to_dict()["table"] for item in planned.items}
        unknown = sorted(set(body.tables) - names)
        if unknown:
            # 409: valid names, but the current plan (the server's state) does not hold them
            raise NotAvailable(f"not in the maintenance plan: {', '.join(unknown[:5])}")
        planned.items = [item for item in planned.items if item.to_dict()["table"] in body.tables]
    applied = apply_maintenance(target, planned, announce=lambda _: None)
    done = applied.to_dict()
    statuses = [f"{t['table']}: {t['status']}" for t in done["tables"]]
    outcome = "failed" if applied.failed else "done"
    record_action(
        request, target, "vacuum-analyze", ", ".join(statuses) or "(nothing planned)", {"status": outcome}
    )
    return done
