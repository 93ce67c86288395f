"""/api/v1/indexes: usage and unused indexes of a monitored database."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from pgdba.api.dependencies import DatabaseName, history_store, settings_of, target_of
from pgdba.api.models import ERROR_RESPONSES, IndexUsageResponse, UnusedIndexResponse
from pgdba.api.v1_models import FindingsResponse
from pgdba.checks.indexes import MAX_STATS_AGE_DAYS, MIN_STATS_AGE
from pgdba.checkup import run_checkup
from pgdba.optimizer import index_usage, unused_index_report
from pgdba.target import Target

INDEX_HEALTH_CHECKS = {"index.duplicate", "index.invalid", "index.missing_fk", "index.bloat"}

router = APIRouter(prefix="/api/v1/indexes", tags=["indexes"], responses=ERROR_RESPONSES)


@router.get("/usage", response_model=IndexUsageResponse)
def usage(request: Request, db: DatabaseName = None) -> dict[str, Any]:
    """Every index with its scans and size, least used first."""
    return index_usage(target_of(request, db)).to_dict()


@router.get("/unused", response_model=UnusedIndexResponse)
def unused(
    request: Request,
    db: DatabaseName = None,
    max_scans: Annotated[int, Query(alias="maxScans", ge=0, le=1_000_000_000)] = 0,
    min_stats_age_days: Annotated[
        float, Query(alias="minStatsAgeDays", ge=0, le=MAX_STATS_AGE_DAYS, allow_inf_nan=False)
    ] = MIN_STATS_AGE.days,
) -> dict[str, Any]:
    """Indexes never (or hardly) scanned; never unique, primary-key or constraint indexes. Those created
    after the history store's week-old index snapshot are listed under notJudged. None is judged on a
    replica or on counters younger than minStatsAgeDays (7: a reset, a crash, a failover since): notJudgedReason
    says why."""
    target = target_of(request, db)
    with history_store(settings_of(request)) as store:
        return unused_index_report(
            target, max_scans=max_scans, store=store, min_stats_age=timedelta(days=min_stats_age_days)
        ).to_dict()


def index_health(target: Target) -> dict[str, Any]:
    """Duplicate and redundant, invalid, bloated indexes and foreign keys without one (the check-up's checks)."""
    return run_checkup(target, only=INDEX_HEALTH_CHECKS).report.to_dict()


@router.get("/health", response_model=FindingsResponse)
def health(request: Request, db: DatabaseName = None) -> dict[str, Any]:
    """Duplicate / redundant, invalid and bloated indexes and unindexed foreign keys, each with its fix."""
    return index_health(target_of(request, db))
