"""Pydantic response models of /api/v1 (camelCase like the seed's endpoints; numbers are raw units)."""

from __future__ import annotations

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
