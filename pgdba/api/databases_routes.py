"""/api/v1/databases: the monitored databases by name (never their DSNs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from pgdba.api.dependencies import settings_of
from pgdba.api.models import ERROR_RESPONSES
from pgdba.api.v1_models import DatabasesResponse

router = APIRouter(prefix="/api/v1", tags=["databases"], responses=ERROR_RESPONSES)


@router.get("/databases", response_model=DatabasesResponse)
def databases(request: Request) -> dict[str, Any]:
    """Names to pass as `db=` to every other endpoint, with each one's host:port/dbname."""
    settings = settings_of(request)
    return {
        "schema_version": 1,
        "databases": [{"name": name, "key": settings.target_for(name).key} for name in settings.names],
    }
