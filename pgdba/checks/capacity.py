"""Capacity: database size against the user's thresholds, growth per table from history, days until full."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pgdba.findings import Finding, Severity
from pgdba.units import format_bytes

GB = 1024**3
MB = 1024**2


@dataclass(frozen=True)
class Growth:
    """Size of one object now, at the oldest sample in the window, and the rate in between."""

    object: str
    bytes_now: int
    bytes_then: int
    seconds: float

    @property
    def bytes_per_day(self) -> float:
        return (self.bytes_now - self.bytes_then) / self.seconds * 86400 if self.seconds > 0 else 0.0

    def forecast(self, days: float) -> int:
        return int(self.bytes_now + max(self.bytes_per_day, 0.0) * days)

    def days_until(self, size: int) -> float | None:
        """Days until the object reaches `size` at the current rate (None when not growing)."""
        if self.bytes_now >= size:
            return 0.0
        rate = self.bytes_per_day
        return (size - self.bytes_now) / rate if rate > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "bytes_now": self.bytes_now,
            "bytes_then": self.bytes_then,
            "window_seconds": round(self.seconds),
            "bytes_per_day": round(self.bytes_per_day),
        }


# A per-day rate from less history than this is noise (an index build, a visibility map page): trends and
# forecasts shown to people wait for it
MIN_TREND_WINDOW_S = 3600.0


def growth(
    history: Sequence[tuple[datetime, Mapping[str, int]]],
    current: Mapping[str, int],
    now: datetime,
    *,
    min_window_seconds: float = 0.0,
) -> list[Growth]:
    """Growth of every object in `current` since the oldest sample in `history` that has it (samples are
    (taken_at, {object: bytes})). Objects with no sample at least `min_window_seconds` old are left out;
    fastest growing first."""
    oldest: dict[str, tuple[datetime, int]] = {}
    for taken_at, sizes in history:
        for name, size in sizes.items():
            if name not in oldest or taken_at < oldest[name][0]:
                oldest[name] = (taken_at, size)
    rates = [
        Growth(name, size, oldest[name][1], (now - oldest[name][0]).total_seconds())
        for name, size in current.items()
        if name in oldest and (now - oldest[name][0]).total_seconds() > max(min_window_seconds, 0.0)
    ]
    return sorted(rates, key=lambda g: g.bytes_per_day, reverse=True)


def recent_growth(
    history: Sequence[tuple[datetime, Mapping[str, int]]],
    current: Mapping[str, int],
    now: datetime,
    min_window_seconds: float,
) -> list[Growth]:
    """Growth of every object in `current` since the NEWEST sample at least `min_window_seconds` old that
    has it: the present rate, which a logging loop started today moves at once (the rate since the oldest
    sample averages it over weeks of history). Objects with no sample that old are left out; fastest first."""
    baseline: dict[str, tuple[datetime, int]] = {}
    for taken_at, sizes in history:
        if (now - taken_at).total_seconds() < max(min_window_seconds, 0.0):
            continue
        for name, size in sizes.items():
            if name not in baseline or taken_at > baseline[name][0]:
                baseline[name] = (taken_at, size)
    rates = [
        Growth(name, size, baseline[name][1], (now - baseline[name][0]).total_seconds())
        for name, size in current.items()
        if name in baseline and now > baseline[name][0]
    ]
    return sorted(rates, key=lambda g: g.bytes_per_day, reverse=True)


def database_size(
    database: str, size_bytes: int, *, warning_bytes: int = 40 * GB, critical_bytes: int = 60 * GB
) -> list[Finding]:
    """The database is ≥ `warning_bytes` (40 GB) or ≥ `critical_bytes` (60 GB) — the user's Netdata alerts."""
    if size_bytes < warning_bytes:
        return []
    return [
        Finding(
            "capacity.database_size",
            Severity.CRITICAL if size_bytes >= critical_bytes else Severity.WARNING,
            f"Database is {format_bytes(size_bytes)} (warning at {format_bytes(warning_bytes)})",
            database,
            {"size_bytes": size_bytes, "warning_bytes": warning_bytes, "critical_bytes": critical_bytes},
            "Archive or partition the largest tables (pgdba capacity tables), or plan more storage",
        )
    ]


TABLE_GROWTH_WINDOW_S = 600.0


def table_growth(
    rates: Sequence[Growth],
    *,
    warning_bytes_per_hour: int = 500 * MB,
    min_window_seconds: float = TABLE_GROWTH_WINDOW_S,
) -> list[Finding]:
    """Tables growing ≥ `warning_bytes_per_hour` (500 MB/h, the user's BehaviorLog alert), measured over at
    least `min_window_seconds` of history (the check-up passes `recent_growth` over that window, of a
    partitioned table as a whole, its partitions' sizes summed, and not of its partitions alone)."""
    return [
        Finding(
            "capacity.table_growth",
            Severity.WARNING,
            f"Growing {format_bytes(g.bytes_per_day / 24)}/hour ({format_bytes(g.bytes_now)} now)",
            g.object,
            g.to_dict(),
            "Check for a logging loop or missing retention; partition by time and drop old partitions",
        )
        for g in rates
        if g.seconds >= min_window_seconds and g.bytes_per_day / 24 >= warning_bytes_per_hour
    ]


def size_forecast(
    db_growth: Growth | None,
    *,
    limit_bytes: int = 60 * GB,
    warning_days: float = 30.0,
    critical_days: float = 7.0,
    min_window_seconds: float = 6 * 3600,
) -> list[Finding]:
    """Days until the database reaches `limit_bytes` (the 60 GB critical threshold) at its growth rate:
    a warning within `warning_days`, critical within `critical_days`; only from at least
    `min_window_seconds` (6 hours) of history — minutes of growth say nothing about weeks."""
    if db_growth is None or db_growth.seconds < min_window_seconds:
        return []
    days = db_growth.days_until(limit_bytes)
    if days is None or days >= warning_days:
        return []
    return [
        Finding(
            "capacity.forecast",
            Severity.CRITICAL if days < critical_days else Severity.WARNING,
            f"Reaches {format_bytes(limit_bytes)} in {days:,.1f} days at {format_bytes(db_growth.bytes_per_day)}/day",
            db_growth.object,
            {**db_growth.to_dict(), "days_until_limit": round(days, 1), "limit_bytes": limit_bytes},
            "Plan storage or archiving now",
        )
    ]
