"""/api/v1/pool: pool size advice from the server's limits, and the last surge load test's results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError

from pgdba.api.dependencies import DatabaseName, require_known_database, settings_of, target_of
from pgdba.api.models import ERROR_RESPONSES
from pgdba.api.v1_models import PoolAdviceResponse, PoolBenchResponse
from pgdba.errors import InputError, NotAvailable
from pgdba.pool.advise_server import advise_pool
from pgdba.text_files import read_text_file

router = APIRouter(prefix="/api/v1/pool", tags=["pool"], responses=ERROR_RESPONSES)


@router.get("/advice", response_model=PoolAdviceResponse)
def advice(
    request: Request,
    db: DatabaseName = None,
    instances: Annotated[int, Query(ge=1, le=10_000, description="Copies of the application")] = 1,
    application_name: Annotated[
        str | None,
        Query(
            alias="applicationName",
            max_length=63,
            pattern=r"^[\w .:/-]+$",
            description="The application's application_name (its current connections are not counted twice)",
        ),
    ] = None,
    peak_calls_per_s: Annotated[
        float | None, Query(alias="peakCallsPerS", ge=0, le=1e7, allow_inf_nan=False)
    ] = None,
    current_pool_size: Annotated[int | None, Query(alias="currentPoolSize", ge=1, le=100_000)] = None,
) -> dict[str, Any]:
    """Per-instance and total pool size with the arithmetic shown, from max_connections and current use."""
    # advise_pool checks its numbers itself (InputError, a 422 like the Query bounds above)
    report = advise_pool(
        target_of(request, db),
        instances=instances,
        application_name=application_name,
        peak_calls_per_s=peak_calls_per_s,
        current_pool_size=current_pool_size,
    )
    return report.to_dict()


def read_bench_report(path: Path) -> dict[str, Any]:
    """The JSON `pgdba pool bench --out FILE` wrote, without error samples (they may quote data); an
    InputError naming the file when it is missing, not JSON or not a bench report."""
    text = read_text_file(path, "--pool-bench file")
    try:
        report = PoolBenchResponse.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise InputError(f"--pool-bench file {path} is not JSON: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        raise InputError(
            f"--pool-bench file {path} is not a `pgdba pool bench --out` report: {where}: {first['msg']}"
        ) from None
    return report.model_dump()  # the model has no error_samples field, so they are dropped here


def load_bench_report(path: str | None) -> dict[str, Any]:
    """The configured bench results; 409 when none is configured or the file no longer reads."""
    if not path:
        raise NotAvailable(
            "no bench results: run pgdba pool bench --out FILE and serve with --pool-bench FILE"
        )
    try:
        return read_bench_report(Path(path))
    except InputError:  # the server's file, not the request: 409 (the message would show its path)
        raise NotAvailable(
            "cannot read the bench results file (pgdba serve names the problem when it starts)"
        ) from None


@router.get("/bench", response_model=PoolBenchResponse)
def bench(request: Request, db: DatabaseName = None) -> dict[str, Any]:
    """The last surge load test (`pgdba pool bench --out FILE`, served with `--pool-bench FILE`): one file
    for the server, the same for every `db` (an unknown one is 404 as everywhere)."""
    require_known_database(request, db)
    return load_bench_report(settings_of(request).pool_bench)
