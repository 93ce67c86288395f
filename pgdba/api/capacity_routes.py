"""/api/v1/capacity: table sizes now, their history from snapshots, and the growth forecast."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from pgdba.api.dependencies import DatabaseName, history_store, settings_of, target_of
from pgdba.api.models import ERROR_RESPONSES, CapacityResponse
from pgdba.api.v1_models import NO_CONTROL_CHARACTERS, ForecastResponse, SizeHistoryResponse
from pgdba.capacity import table_forecast
from pgdba.history.snapshot import DATABASE, TABLES, size_history
from pgdba.history.store import HistoryStore
from pgdba.optimizer import capacity_tables
from pgdba.target import Target

router = APIRouter(prefix="/api/v1/capacity", tags=["capacity"], responses=ERROR_RESPONSES)


@router.get("/tables", response_model=CapacityResponse)
def tables(request: Request, db: DatabaseName = None) -> dict[str, Any]:
    """Table sizes (heap, indexes, TOAST), rows and dead rows, largest first."""
    return capacity_tables(target_of(request, db)).to_dict()


@router.get("/forecast", response_model=ForecastResponse)
def forecast(
    request: Request,
    db: DatabaseName = None,
    days: Annotated[int, Query(ge=1, le=3650, description="Forecast horizon in days")] = 30,
) -> dict[str, Any]:
    """Each table's size, growth per day since the oldest stored snapshot, and its size in `days`."""
    target = target_of(request, db)
    with history_store(settings_of(request)) as store:
        return table_forecast(target, store, days).to_dict()


@router.get("/history", response_model=SizeHistoryResponse)
def history(
    request: Request,
    db: DatabaseName = None,
    table: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=NO_CONTROL_CHARACTERS,
            description="schema.table; default: the database's own size",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=2, le=1000)] = 200,
) -> dict[str, Any]:
    """Sizes of the database (or one table) in each stored snapshot, oldest first."""
    target = target_of(request, db)
    with history_store(settings_of(request)) as store:
        return {"schema_version": 1, **size_points(store, target, table, limit)}


def size_points(store: HistoryStore, target: Target, table: str | None, limit: int) -> dict[str, Any]:
    """One table's (or the database's) size in each stored snapshot, oldest first."""
    kind = TABLES if table else DATABASE
    samples = sorted(size_history(store, target.key, kind, limit=limit), key=lambda sample: sample[0])
    # a database snapshot holds the one database pgdba connected to, named as the server says (the DSN may
    # name none: libpq then connects to the user's database)
    name = table or next((db for _, sizes in reversed(samples) for db in sizes), target.database)
    points = [
        {"takenAt": taken.isoformat(), "bytes": sizes[name]} for taken, sizes in samples if name in sizes
    ]
    return {"object": name, "points": points}
