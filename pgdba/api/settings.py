"""What the API serves: the target database, the history store and the access token."""

from __future__ import annotations

from dataclasses import dataclass

from pgdba.target import Target


@dataclass(frozen=True)
class ApiSettings:
    target: Target
    token: str | None = None
    history_store: str | None = None
