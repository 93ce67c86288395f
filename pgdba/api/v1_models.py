"""Pydantic response models of /api/v1 (camelCase like the seed's endpoints; numbers are raw units)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class DatabaseEntry(BaseModel):
    name: str
    key: str


class DatabasesResponse(BaseModel):
    schema_version: int
    databases: list[DatabaseEntry]


class QueryHistoryPoint(BaseModel):
    takenAt: str
    calls: int
    totalMs: float
    meanMs: float


class QueryHistoryResponse(BaseModel):
    schema_version: int
    queryid: str
    query: str | None
    points: list[QueryHistoryPoint]


class ActionResponse(BaseModel):
    schema_version: int
    action: str
    subject: str
    status: str
    sql: list[str]
    detail: str


class FindingModel(BaseModel):
    """pgdba's one finding shape (code, severity, title, object, metrics, recommendation, sql)."""

    code: str
    severity: str
    title: str
    object: str
    metrics: dict[str, Any]
    recommendation: str
    sql: str | None


class PoolServerLimits(BaseModel):
    max_connections: int
    superuser_reserved_connections: int
    reserved_connections: int
    connections_by_application: dict[str, int]
    application_name: str | None
    mean_call_ms: float | None
    calls: int
    average_calls_per_s: float | None
    statements_note: str
    server_cpus: int | None
    server_cpus_source: str
    reserved_total: int
    app_connections: int
    other_clients: int


class PoolAdviceStep(BaseModel):
    rule: str
    formula: str
    value: float | None


class PoolAdviceResponse(BaseModel):
    schema_version: int
    server: PoolServerLimits
    inputs: dict[str, Any]
    per_instance: int
    total: int
    instances: int
    available_connections: int
    server_cap_per_instance: int
    demand_per_instance: int
    demand_source: str
    pooler_needed: bool
    steps: list[PoolAdviceStep]
    notes: list[str]
    findings: list[FindingModel]


class PoolBenchResult(BaseModel):
    pool_size: int
    mode: str
    requests: int
    ok: int
    errors: int
    timeouts: int
    overloaded: int
    connection_errors: int
    not_run: int
    failed: int
    duration_s: float
    throughput_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    wait_p99_ms: float | None
    peak_server_connections: int
    peak_active_connections: int


class PoolBenchResponse(BaseModel):
    schema_version: int
    started_at: str
    workload: str
    config: dict[str, Any]
    results: list[PoolBenchResult]
    recommended_pool_size: int | None
    recommendation: str
