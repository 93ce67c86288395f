"""History: snapshots of statistics and records of events (restore tests, alerts, reports), per target."""

from pgdba.history.store import HistoryStore, Snapshot, default_store_path, open_store

__all__ = ["HistoryStore", "Snapshot", "default_store_path", "open_store"]
