"""/api/v1/checkup, /api/v1/health and /api/v1/report: the check-up, its score and the weekly report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from pgdba.api.dependencies import DatabaseName, history_store, settings_of, target_of
from pgdba.api.models import ERROR_RESPONSES
from pgdba.api.query_text import finding_without_literals
from pgdba.api.settings import ApiSettings
from pgdba.api.v1_models import CheckupResponse, HealthResponse, ReportResponse
from pgdba.checkup import run_checkup
from pgdba.findings import SCHEMA_VERSION
from pgdba.report.score import health_score
from pgdba.report.weekly import build_report
from pgdba.target import Target

router = APIRouter(prefix="/api/v1", tags=["checkup"], responses=ERROR_RESPONSES)


def checkup_body(settings: ApiSettings, target: Target) -> dict[str, Any]:
    """The check-up's findings (query texts normalised) with its health score, as `pgdba check --format json`."""
    with history_store(settings) as store:
        result = run_checkup(target, store=store)
    report = result.report.to_dict()
    report["findings"] = [finding_without_literals(f) for f in report["findings"]]
    return {**report, "score": health_score(result).to_dict()}


@router.get("/checkup", response_model=CheckupResponse)
def checkup(request: Request, db: DatabaseName = None) -> dict[str, Any]:
    """Every check: findings worst first, the health score, the checks that could not run and why."""
    return checkup_body(settings_of(request), target_of(request, db))


@router.get("/health", response_model=HealthResponse)
def health(request: Request, db: DatabaseName = None) -> dict[str, Any]:
    """The health score out of 10 with every deduction (check, weight, worst severity, points)."""
    return {
        **checkup_body(settings_of(request), target_of(request, db))["score"],
        "schema_version": SCHEMA_VERSION,
    }


@router.get("/report", response_model=ReportResponse)
def report(request: Request, db: DatabaseName = None) -> dict[str, Any]:
    """The weekly report (score, top findings and queries, growth, diff against the last stored report).

    Reading it does not store it: `pgdba report --out FILE` does, so next week's diff starts from there."""
    target = target_of(request, db)
    with history_store(settings_of(request)) as store:
        return build_report(target, store, save=False).to_shareable_dict()
