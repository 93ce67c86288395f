"""The dashboard's pages in navigation order (each page module holds its panels)."""

from __future__ import annotations

from pgdba.api.dashboard import Page
from pgdba.api.panels import (
    alerts,
    backups,
    connections,
    indexes,
    maintenance,
    overview,
    queries,
    schema,
    space,
)

PAGES: list[Page] = [
    overview.PAGE,
    queries.PAGE,
    indexes.PAGE,
    space.PAGE,
    maintenance.PAGE,
    connections.PAGE,
    schema.PAGE,
    alerts.PAGE,
    backups.PAGE,
]
