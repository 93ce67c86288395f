"""Index checks: usage and unused indexes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pgdba.stats.indexes import IndexStats

MIN_STATS_AGE = timedelta(days=7)


@dataclass(frozen=True)
class StatsAge:
    """How long the usage counters have been counting, and whether that is long enough to judge."""

    since: datetime | None
    now: datetime
    min_age: timedelta = MIN_STATS_AGE

    @property
    def age(self) -> timedelta | None:
        return None if self.since is None else self.now - self.since

    @property
    def too_young(self) -> bool:
        return self.age is not None and self.age < self.min_age

    def note(self) -> str:
        if self.since is None:
            return "statistics have never been reset; their age is unknown"
        hours = self.age.total_seconds() / 3600 if self.age else 0.0
        text = f"statistics collected for {hours:,.1f} hours (since {self.since:%Y-%m-%d %H:%M} UTC)"
        if self.too_young:
            text += f": too young to judge unused indexes (wait at least {self.min_age.days} days)"
        return text


@dataclass(frozen=True)
class IndexAges:
    """Which indexes existed at the start of the judging window: those in the newest index snapshot taken
    MIN_STATS_AGE ago or earlier. One created since has counted scans for less than that, however old the
    statistics are (its counters start at zero), so it is not judged unused yet."""

    snapshot_at: datetime
    existing: frozenset[int]

    def split(self, indexes: Iterable[IndexStats]) -> tuple[list[IndexStats], list[IndexStats]]:
        """(indexes old enough to judge, indexes created after the snapshot)."""
        old: list[IndexStats] = []
        young: list[IndexStats] = []
        for ix in indexes:
            (old if ix.oid in self.existing else young).append(ix)
        return old, young

    def note(self, names: Sequence[str]) -> str:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return (
            f"unused but not judged: {shown} (created after the index snapshot of "
            f"{self.snapshot_at:%Y-%m-%d %H:%M} UTC, so scanned for less than {MIN_STATS_AGE.days} days)"
        )


def unused_indexes(
    indexes: Iterable[IndexStats], *, max_scans: int = 0, min_size_bytes: int = 0
) -> list[IndexStats]:
    """Indexes scanned at most `max_scans` times, at least `min_size_bytes` large, largest first.

    Unique, primary-key and constraint-backing indexes are never reported: dropping them changes behaviour.
    Invalid indexes are left to the invalid-index check.
    """
    found = [
        ix
        for ix in indexes
        if not ix.protected and ix.is_valid and ix.scans <= max_scans and ix.size_bytes >= min_size_bytes
    ]
    return sorted(found, key=lambda ix: ix.size_bytes, reverse=True)
