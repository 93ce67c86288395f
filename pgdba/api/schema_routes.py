"""/api/v1/schema/check: drift between the application's schema files and the live database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from pgdba.api.dependencies import DatabaseName, settings_of, target_of
from pgdba.api.models import ERROR_RESPONSES
from pgdba.api.settings import ApiSettings
from pgdba.api.v1_models import SchemaCheckResponse
from pgdba.errors import NotAvailable
from pgdba.schema import check_schemas, load_config
from pgdba.target import Target

router = APIRouter(prefix="/api/v1/schema", tags=["schema"], responses=ERROR_RESPONSES)


def schema_check(settings: ApiSettings, target: Target) -> dict[str, Any]:
    """Every configured source (`serve --schema-source`) compared with the live database and each other."""
    if not settings.schema_sources:
        raise NotAvailable(
            "no schema sources: serve with --schema-source prisma:PATH (drizzle:PATH, sqlalchemy:MOD:ATTR)"
        )
    config = load_config(Path(settings.schema_config) if settings.schema_config else None)
    return check_schemas([*settings.schema_sources, "live"], dsn=target.dsn, config=config).to_dict()


@router.get("/check", response_model=SchemaCheckResponse)
def check(request: Request, db: DatabaseName = None) -> dict[str, Any]:
    """Models/tables, columns, types, nullability, defaults, keys, uniques, indexes, foreign keys, enums."""
    return schema_check(settings_of(request), target_of(request, db))
