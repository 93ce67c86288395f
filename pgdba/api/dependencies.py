"""What every /api/v1 route needs from the request: the settings, the chosen database, the history store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Query, Request

from pgdba.api.settings import ApiSettings
from pgdba.history.store import HistoryStore, open_store
from pgdba.target import Target

DatabaseName = Annotated[
    str | None,
    Query(
        max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="Monitored database (from the config file)"
    ),
]


def settings_of(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def target_of(request: Request, db: str | None) -> Target:
    """The chosen monitored database's target (UnknownDatabase, a 404, for a name not configured)."""
    return settings_of(request).target_for(db)


def require_known_database(request: Request, db: str | None) -> None:
    """UnknownDatabase (404) for a `db=` name not configured, on a route whose data is the server's, the
    same for every database: `db` is honoured there as everywhere else."""
    target_of(request, db)


@contextmanager
def optional_store(settings: ApiSettings) -> Iterator[HistoryStore | None]:
    """The history store when `serve --store` configured one, else None (history features then say so)."""
    store = open_store(settings.history_store) if settings.history_store else None
    try:
        yield store
    finally:
        if store:
            store.close()


@contextmanager
def history_store(settings: ApiSettings) -> Iterator[HistoryStore]:
    """The configured store, else the default one `pgdba snapshot` writes to (PGDBA_HISTORY or user data)."""
    store = open_store(settings.history_store)
    try:
        yield store
    finally:
        store.close()
