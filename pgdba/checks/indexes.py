"""Index checks: usage and unused indexes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pgdba.stats.indexes import IndexStats

if TYPE_CHECKING:
    from pgdba.server import ServerFacts

MIN_STATS_AGE = timedelta(days=7)
_SECOND = timedelta(seconds=1)
MAX_STATS_AGE_DAYS = 36_525  # a threshold of 100 years; more overflows nothing but means nothing either

# a standby counts only the scans of the queries it ran itself, never the primary's
UNUSED_ON_REPLICA = (
    "a replica (in recovery): its index scan counters show only its own reads, not the primary's; "
    "unused indexes are judged on the primary"
)


@dataclass(frozen=True)
class StatsAge:
    """How long the usage counters have been counting, and whether that is long enough to judge.

    `since` is the database's stats_reset. NULL means never reset (every database on 15+ until one), not
    old: its counters then count from `server_since`, when the server's statistics began (initdb, or the
    end of crash recovery after a crash or an immediate shutdown; ServerFacts.server_stats_since). A server
    `promoted_at` a later time (a failover) counted only the standby's own reads before it."""

    since: datetime | None
    now: datetime
    min_age: timedelta = MIN_STATS_AGE
    server_since: datetime | None = None
    promoted_at: datetime | None = None

    @property
    def _counted_since(self) -> datetime | None:
        """The database's reset, else the server's statistics' start."""
        return self.since if self.since is not None else self.server_since

    @property
    def _since_promotion(self) -> bool:
        counted = self._counted_since
        # the history file's time is in whole seconds: a promotion within the second after the counters' start
        return self.promoted_at is not None and (counted is None or self.promoted_at + _SECOND > counted)

    @property
    def start(self) -> datetime | None:
        """When the counters began counting the primary's work."""
        counted = self._counted_since
        if self.promoted_at is not None and self._since_promotion:
            return self.promoted_at if counted is None else max(self.promoted_at, counted)
        return counted

    @property
    def age(self) -> timedelta | None:
        return None if self.start is None else self.now - self.start

    @property
    def too_young(self) -> bool:
        return self.age is not None and self.age < self.min_age

    def not_judged(self, *, week_old_snapshot: bool) -> str | None:
        """Why unused indexes cannot be judged on these counters, or None. Of unknown age they can only
        with a history store's index snapshot a week old (IndexAges): its indexes existed then."""
        if self.too_young:
            return self.note()
        if self.start is None and not week_old_snapshot:
            return (
                f"{self.note()}, and no index snapshot {_days(self.min_age)} old tells which indexes are "
                "that old: unused indexes are not judged (run `pgdba snapshot` regularly with a history store)"
            )
        return None

    def note(self) -> str:
        start = self.start
        if start is None:
            return "statistics have never been reset; their age is unknown"
        hours = self.age.total_seconds() / 3600 if self.age else 0.0
        if self._since_promotion:
            text = (
                f"statistics collected for {hours:,.1f} hours as a primary: this server was promoted from a "
                f"replica at {start:%Y-%m-%d %H:%M} UTC, and counted only its own reads before"
            )
        elif self.since is not None:
            text = f"statistics collected for {hours:,.1f} hours (since {start:%Y-%m-%d %H:%M} UTC)"
        else:
            text = (
                f"statistics never reset in this database: collected for {hours:,.1f} hours, since the "
                f"server's statistics began ({start:%Y-%m-%d %H:%M} UTC: initdb, or the end of crash recovery "
                "after a crash or an immediate shutdown)"
            )
        if self.too_young:
            text += f": too young to judge unused indexes (wait at least {_days(self.min_age)})"
        return text


def _days(span: timedelta) -> str:
    days = span.total_seconds() / 86_400
    return f"{days:g} day" + ("" if days == 1 else "s")


def server_stats_age(facts: ServerFacts, now: datetime, min_age: timedelta = MIN_STATS_AGE) -> StatsAge:
    """The age of this database's usage counters, as the server tells it."""
    return StatsAge(facts.stats_reset, now, min_age, facts.server_stats_since, facts.promoted_at)


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
