"""Table growth and size forecasts from the history store's table snapshots."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pgdba.checks.capacity import MIN_TREND_WINDOW_S, Growth, growth
from pgdba.findings import SCHEMA_VERSION
from pgdba.history.snapshot import TABLES, size_history, table_oids
from pgdba.history.store import HistoryStore
from pgdba.stats.tables import TableStats, measured_sizes, table_stats
from pgdba.target import Target, session


@dataclass
class TableForecast:
    days: int
    since: datetime | None
    tables: dict[str, Growth | None]
    sizes: dict[str, int]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for name, size in self.sizes.items():
            g = self.tables.get(name)
            rows.append(
                {
                    "table": name,
                    "totalBytes": size,
                    "bytesPerDay": None if g is None else round(g.bytes_per_day),
                    "forecastBytes": None if g is None else g.forecast(self.days),
                }
            )
        return {
            "schema_version": SCHEMA_VERSION,
            "forecastDays": self.days,
            "historySince": self.since.isoformat() if self.since else None,
            "tables": rows,
            "notes": self.notes,
        }


def table_forecast(target: Target, store: HistoryStore, days: int) -> TableForecast:
    """Each table's size now, its growth per day since the oldest stored snapshot, and its size in `days`."""
    with session(target) as conn:
        tables = table_stats(conn)
    history = size_history(store, target.key, TABLES, current_oids=table_oids(tables))
    sizes = {t.qualified_name: t.total_bytes for t in tables}
    now = datetime.now(UTC)
    rates = {g.object: g for g in table_growth(history, tables, now)}
    since = min((taken for taken, _ in history), default=None)
    forecasts = {name: rates.get(name) for name in sizes}
    notes = no_growth_notes(forecasts, since, len(history), now)
    return TableForecast(days, since, forecasts, sizes, notes)


def no_growth_notes(
    forecasts: Mapping[str, Growth | None], since: datetime | None, snapshots: int, now: datetime
) -> list[str]:
    """Why tables have no growth (and no forecast): no snapshot, none old enough (MIN_TREND_WINDOW_S), or
    some tables without an old enough sample of their own. Nothing when every table has a rate."""
    missing = [name for name, g in forecasts.items() if g is None]
    window = f"{MIN_TREND_WINDOW_S / 3600:g} h"
    if not missing:
        return []
    if since is None:
        return [
            "no table snapshot of this database in the history store: growth and forecast need one at least"
            f" {window} old (run `pgdba snapshot` daily, e.g. from `pgdba schedule`)"
        ]
    if (now - since).total_seconds() <= MIN_TREND_WINDOW_S:
        taken = f"{since:%Y-%m-%d %H:%M} UTC, {snapshots} snapshot{'' if snapshots == 1 else 's'} in all"
        return [
            f"the oldest table snapshot ({taken}) is less than {window} old: growth and forecast need a"
            f" snapshot at least {window} old (a shorter window is noise); run `pgdba snapshot` again later"
        ]
    shown = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
    return [
        f"{len(missing)} of {len(forecasts)} tables ({shown}) have no size sample at least {window} old"
        " (created or recreated since, locked by DDL during the snapshots, or partitioned and sampled only by"
        " a pgdba that did not sum partitions yet): no growth or forecast for them"
    ]


def table_growth(
    history: Sequence[tuple[datetime, Mapping[str, int]]], tables: Iterable[TableStats], now: datetime
) -> list[Growth]:
    """Per-day growth of the measured tables (not those locked by DDL) over at least MIN_TREND_WINDOW_S of
    history, fastest first: what people are shown (forecasts, the weekly report)."""
    return growth(history, measured_sizes(tables), now, min_window_seconds=MIN_TREND_WINDOW_S)
