"""Backup safety from the history store: a backup nobody restored is a hope, not a backup.

A database with no pgdba backup is judged by the server's WAL archiving instead: working archiving means
another tool backs it up (pgdba cannot test those restores), none means no backup is known at all.
A failing archiver is reported for every database, pgdba backups or not (failing_wal_archive_findings)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pgdba.findings import Finding, Severity
from pgdba.stats.archiver import ArchiverStatus

RESTORE_TEST_KIND = "restore_test"
NONE_KNOWN = "backup.none_known"
WAL_ARCHIVE_FAILING = "backup.wal_archive_failing"
WAL_ARCHIVED_ELSEWHERE = "backup.wal_archived_elsewhere"
RESTORE_TEST_OPTIONS = ("max_age",)  # the thresholds of restore_test_findings
ARCHIVE_OPTIONS = ("max_archive_age_hours",)  # … and of unknown_backup_findings


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
            {"last_success": latest, "failed_tests": failed, "max_age_days": _in_days(max_age)},
            "Run `pgdba restore-test` (and schedule it weekly): only a restored backup is known to work",
        )
    ]


def unknown_backup_findings(
    archiver: ArchiverStatus,
    now: datetime,
    *,
    max_archive_age_hours: float = 24.0,
    history_store: bool = True,
) -> list[Finding]:
    """For a database pgdba has no backup of: judged by WAL archiving (pg_stat_archiver).

    Working (archive_mode on, a WAL archived within `max_archive_age_hours`, 24 h, and no failure since) is
    info: another tool backs it up. Off, idle or failing is a warning: no working backup is known at all
    (a failing archiver is also failing_wal_archive_findings' own finding, for every database)."""
    max_age = timedelta(hours=max_archive_age_hours)
    metrics = {
        **archiver.to_dict(),
        "pgdba_backups": 0,
        "history_store": history_store,
        "max_archive_age_hours": max_archive_age_hours,
    }
    not_working = _why_archiving_is_not_working(archiver, now, max_age)
    if not_working is None:
        return [_archived_elsewhere(archiver, metrics)]
    where = "pgdba" if history_store else "pgdba (no history store given)"
    return [
        Finding(
            NONE_KNOWN,
            Severity.WARNING,
            f"No backup of this database is known to {where} and WAL archiving is not active ({not_working})",
            "backups",
            metrics,
            "Back it up with `pgdba backup run --storage URL` and schedule the daily backup and weekly "
            "restore test with `pgdba schedule --apply`",
        )
    ]


def failing_wal_archive_findings(
    archiver: ArchiverStatus,
    now: datetime,
    *,
    max_archive_age_hours: float = 24.0,
    pgdba_backups: int = 0,
    history_store: bool = True,
) -> list[Finding]:
    """Every database, whatever backs it up: the archiver's newest attempt failed (pg_stat_archiver).

    Until archive_command succeeds, WAL piles up in pg_wal until the disk fills, and recovery from the
    archive stops at the last archived file: a warning, critical once no WAL file was archived for
    `max_archive_age_hours` (24 h; counted from the last success, else from the counters' reset, as
    ArchiverStatus.time_without_success). `pgdba_backups` (this server's backup records in the history store)
    only changes the advice: pgdba's dumps do not replace the archive, but without them nothing does."""
    lasting = archiver.time_without_success(now)
    if lasting is None:
        return []
    max_age = timedelta(hours=max_archive_age_hours)
    last = archiver.last_archived_time
    since = "no WAL file ever archived" if last is None else f"last success {_utc(last)}"
    failed_at = _utc(archiver.last_failed_time) if archiver.last_failed_time else "?"
    recommendation = (
        "Fix archive_command (the server log has its error): until it succeeds, WAL piles up in pg_wal "
        "and recovery from the archive stops at the last archived file"
    )
    return [
        Finding(
            WAL_ARCHIVE_FAILING,
            Severity.CRITICAL if lasting > max_age else Severity.WARNING,
            f"WAL archiving is failing: {archiver.last_failed_wal} failed at {failed_at} ({since})"
            + ("" if pgdba_backups else "; no pgdba backup of this database either"),
            "backups",
            {
                **archiver.to_dict(),
                "pgdba_backups": pgdba_backups,
                "history_store": history_store,
                "max_archive_age_hours": max_archive_age_hours,
                "hours_without_success": round(lasting.total_seconds() / 3600, 2),
            },
            recommendation
            if pgdba_backups
            else f"{recommendation}; `pgdba backup run --storage URL` gives a backup pgdba can test meanwhile",
        )
    ]


def _why_archiving_is_not_working(archiver: ArchiverStatus, now: datetime, max_age: timedelta) -> str | None:
    """None when WAL archiving works, else why not (in words)."""
    if archiver.archive_mode == "off":
        return "archive_mode is off"
    if archiver.failing:
        failed_at = _utc(archiver.last_failed_time) if archiver.last_failed_time else "?"
        return f"archive_command is failing: {archiver.last_failed_wal} failed at {failed_at}"
    last = archiver.last_archived_time
    if archiver.archived_count == 0 or last is None:
        return f"archive_mode is {archiver.archive_mode} but no WAL file has been archived"
    if now - last > max_age:
        return f"no WAL file archived within {_hours(max_age)}, the last at {_utc(last)}"
    return None


def _archived_elsewhere(archiver: ArchiverStatus, metrics: dict[str, Any]) -> Finding:
    last = _utc(archiver.last_archived_time) if archiver.last_archived_time else "?"
    return Finding(
        WAL_ARCHIVED_ELSEWHERE,
        Severity.INFO,
        f"An external tool archives WAL (last {archiver.last_archived_wal} at {last}); "
        "pgdba has no backup of this database and cannot test its restores",
        "backups",
        metrics,
        "Test restores with that tool, or have pgdba test one too: `pgdba backup run --storage URL` then "
        "`pgdba restore-test` (`pgdba schedule --apply` runs both)",
    )


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _in_days(span: timedelta) -> int | float:
    """7 for 7 days (as always written), 0.5 for 12 hours."""
    days = span / timedelta(days=1)
    return int(days) if days.is_integer() else days


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"
