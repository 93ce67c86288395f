"""/api/v1/capacity: table sizes of a monitored database."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from pgdba.api.dependencies import DatabaseName, target_of
from pgdba.api.models import ERROR_RESPONSES, CapacityResponse
from pgdba.optimizer import capacity_tables

router = APIRouter(prefix="/api/v1/capacity", tags=["capacity"], responses=ERROR_RESPONSES)


@router.get("/tables", response_model=CapacityResponse)
def tables(request: Request, db: DatabaseName = None) -> dict[str, Any]:
    """Table sizes (heap, indexes, TOAST), rows and dead rows, largest first."""
    return capacity_tables(target_of(request, db)).to_dict()
