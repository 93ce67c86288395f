"""Table growth and size forecasts from the history store's table snapshots."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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
        }


def table_forecast(target: Target, store: HistoryStore, days: int) -> TableForecast:
    """Each table's size now, its growth per day since the oldest stored snapshot, and its size in `days`."""
    with session(target) as conn:
        tables = table_stats(conn)
    history = size_history(store, target.key, TABLES, current_oids=table_oids(tables))
    sizes = {t.qualified_name: t.total_bytes for t in tables}
    rates = {g.object: g for g in table_growth(history, tables, datetime.now(UTC))}
    since = min((taken for taken, _ in history), default=None)
    return TableForecast(days, since, {name: rates.get(name) for name in sizes}, sizes)


def table_growth(
    history: Sequence[tuple[datetime, Mapping[str, int]]], tables: Iterable[TableStats], now: datetime
) -> list[Growth]:
    """Per-day growth of the measured tables (not those locked by DDL) over at least MIN_TREND_WINDOW_S of
    history, fastest first: what people are shown (forecasts, the weekly report)."""
    return growth(history, measured_sizes(tables), now, min_window_seconds=MIN_TREND_WINDOW_S)
