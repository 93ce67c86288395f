"""The four endpoints the user's application already exposes, same paths and JSON shapes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from pgdba.api.dependencies import DatabaseName, history_store, settings_of, target_of
from pgdba.api.models import (
    ERROR_RESPONSES,
    AnalyzeResponse,
    CapacityResponse,
    IndexUsageResponse,
    UnusedIndexResponse,
)
from pgdba.optimizer import analyze_queries, capacity_tables, index_usage, unused_index_report

router = APIRouter(prefix="/debug/query-optimizer", tags=["query-optimizer"], responses=ERROR_RESPONSES)
MAX_THRESHOLD_MS = 3_600_000.0


@router.get("/analyze", response_model=AnalyzeResponse)
def analyze(
    request: Request,
    db: DatabaseName = None,
    threshold: Annotated[
        float,
        Query(
            ge=0, le=MAX_THRESHOLD_MS, allow_inf_nan=False, description="Mean time in ms that counts as slow"
        ),
    ] = 100.0,
) -> dict[str, Any]:
    """Statements with issues (slow, low cache hit, N+1, unstable plan) and what to do about each."""
    target = target_of(request, db)
    # deltas since the last `pgdba snapshot` in the configured (else the default) store, as the CLI does
    with history_store(settings_of(request)) as store:
        return analyze_queries(target, threshold_ms=threshold, store=store).to_dict()


@router.get("/indexes/usage", response_model=IndexUsageResponse)
def indexes_usage(request: Request, db: DatabaseName = None) -> dict[str, Any]:
    """Every index with its scans and size, least used first."""
    return index_usage(target_of(request, db)).to_dict()


@router.get("/indexes/unused", response_model=UnusedIndexResponse)
def indexes_unused(
    request: Request,
    db: DatabaseName = None,
    max_scans: Annotated[int, Query(alias="maxScans", ge=0, le=1_000_000_000)] = 0,
) -> dict[str, Any]:
    """Indexes never (or hardly) scanned; never unique, primary-key or constraint indexes. Those created
    after the history store's week-old index snapshot are listed under notJudged."""
    target = target_of(request, db)
    with history_store(settings_of(request)) as store:
        return unused_index_report(target, max_scans=max_scans, store=store).to_dict()


@router.get("/capacity/tables", response_model=CapacityResponse)
def capacity(request: Request, db: DatabaseName = None) -> dict[str, Any]:
    """Table sizes (heap, indexes, TOAST), rows and dead rows, largest first."""
    return capacity_tables(target_of(request, db)).to_dict()
