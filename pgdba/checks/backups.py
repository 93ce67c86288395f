"""Backup safety from the history store: a backup nobody restored is a hope, not a backup."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pgdba.findings import Finding, Severity

RESTORE_TEST_KIND = "restore_test"


def restore_test_findings(
    restore_tests: Sequence[tuple[datetime, Any]], now: datetime, *, max_age: timedelta = timedelta(days=7)
) -> list[Finding]:
    """Critical when no restore test passed within `max_age` (7 days: the user's weekly restore test).
    `restore_tests` are the history store's records of kind "restore_test" (newest first)."""
    passed = [when for when, payload in restore_tests if isinstance(payload, dict) and payload.get("passed")]
    latest = max(passed, default=None)
    if latest is not None and now - latest <= max_age:
        return []
    failed = len(restore_tests) - len(passed)
    title = (
        "No successful restore test recorded"
        if latest is None
        else f"Last successful restore test was {(now - latest).days} days ago"
    )
    return [
        Finding(
            "backup.restore_test",
            Severity.CRITICAL,
            title,
            "backups",
            {"last_success": latest, "failed_tests": failed, "max_age_days": max_age.days},
            "Run `pgdba restore-test` (and schedule it weekly): only a restored backup is known to work",
        )
    ]
