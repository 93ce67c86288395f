"""Pydantic response models of the four /debug/query-optimizer endpoints (the seed's JSON shapes)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    error: str
    detail: str


class RequestErrorBody(BaseModel):
    """400/422: pgdba's InputError ({error, detail}) or FastAPI's parameter validation
    ({error: "RequestValidationError", detail: [...]})."""

    error: str | None = None
    detail: str | list[dict[str, Any]]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": RequestErrorBody, "description": "The request body is not JSON"},
    401: {"model": ErrorBody, "description": "A token is configured and the request did not carry it"},
    403: {"model": ErrorBody, "description": "Actions are disabled (no token configured)"},
    404: {"model": ErrorBody, "description": "Unknown monitored database"},
    409: {"model": ErrorBody, "description": "The server cannot answer this (extension, privilege, feature)"},
    413: {"model": ErrorBody, "description": "Request body too large"},
    422: {"model": RequestErrorBody, "description": "Invalid parameters"},
    503: {"model": ErrorBody, "description": "The database could not be reached or failed"},
    504: {"model": ErrorBody, "description": "The request took too long"},
}


class Issue(BaseModel):
    type: str
    severity: str
    message: str


class Advice(BaseModel):
    action: str
    description: str
    table: str
    columns: list[str]
    sql: str | None


class QueryMetrics(BaseModel):
    calls: int
    meanTime: float
    totalTime: float
    cacheHitRatio: float | None
    rowsPerCall: float
    stddevTime: float


class QueryRecommendationModel(BaseModel):
    queryid: str
    query: str
    metrics: QueryMetrics
    issues: list[Issue]
    recommendations: list[Advice]


class AnalyzeWindow(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    source: str
    from_: str | None = Field(alias="from")
    to: str


class AnalyzeResponse(BaseModel):
    schema_version: int
    analyzed: int
    threshold: str
    window: AnalyzeWindow
    recommendations: list[QueryRecommendationModel]
    notes: list[str]


class IndexRow(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    schema_: str = Field(alias="schema")
    table: str
    index: str
    scans: int
    tuplesRead: int
    sizeBytes: int
    unique: bool
    primary: bool
    constraint: bool
    valid: bool
    definition: str


class UnusedIndexRow(IndexRow):
    recommendation: str
    sql: str


class IndexUsageResponse(BaseModel):
    schema_version: int
    statsSince: str | None
    statsNote: str
    indexes: list[IndexRow]


class UnusedIndexResponse(BaseModel):
    schema_version: int
    maxScans: int
    statsSince: str | None
    tooYoungToJudge: bool
    notJudgedReason: str | None = None
    statsNote: str
    notes: list[str]
    notJudged: list[IndexRow]
    totalReclaimableBytes: int
    indexes: list[UnusedIndexRow]


class TableCapacity(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    schema_: str = Field(alias="schema")
    table: str
    totalBytes: int
    tableBytes: int
    indexBytes: int
    toastBytes: int
    rows: int
    deadRows: int
    deadRatio: float
    partitioned: bool = Field(
        False, description="a partitioned table: its sizes are its partitions' summed, which are listed too"
    )


class CapacityResponse(BaseModel):
    schema_version: int
    databaseSizeBytes: int
    tables: list[TableCapacity]
