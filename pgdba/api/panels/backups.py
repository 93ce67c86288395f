"""Backups page: the database's backups (newest first) and its restore tests, the last one in detail."""

from __future__ import annotations

from typing import Any

from pgdba.api.backup_routes import backups_body
from pgdba.api.dashboard import Page, Panel, PanelData


def _backups(data: PanelData) -> dict[str, Any]:
    result: dict[str, Any] = data.once("backups", lambda: backups_body(data.settings, data.target))
    return result


PAGE = Page(
    "backups",
    "Backups",
    (
        Panel("last-restore-test", "Last restore test", "panels/last_restore_test.html", _backups),
        Panel("backup-list", "Backups", "panels/backup_list.html", _backups),
    ),
)
