"""The snapshot store. Default: a SQLite file in the user's data dir.

A snapshot is one kind of statistics ("statements", "tables", …) of one target at one time, stored as JSON
with metadata (server start, stats reset) that lets deltas detect resets. Records are timestamped events
(restore tests, alert state, reports) of one kind.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import platformdirs

from pgdba.errors import InputError
from pgdba.history.payload_shapes import OBJECT, RECORD_SHAPES, SNAPSHOT_SHAPES
from pgdba.render import to_json
from pgdba.target import HistoryKey

SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshot (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    meta TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshot_target_kind_taken ON snapshot (target, kind, taken_at);
CREATE TABLE IF NOT EXISTS record (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS record_target_kind_recorded ON record (target, kind, recorded_at);
"""


@dataclass(frozen=True)
class Snapshot:
    id: int
    target: str
    kind: str
    taken_at: datetime
    meta: dict[str, Any]
    payload: Any


def stored_keys(target: str) -> tuple[str, ...]:
    """The keys a target's history may be stored under: its key, then any key an earlier version used."""
    return (str(target), *target.former) if isinstance(target, HistoryKey) else (target,)


def _lenient_text(raw: bytes) -> str:
    """A TEXT column as str. Bytes that are not UTF-8 (a damaged file) would make sqlite3 fail the whole
    query; decoded with U+FFFD they fail the JSON check instead, which names the row and the store."""
    return raw.decode("utf-8", errors="replace")


def _placeholders(keys: tuple[str, ...]) -> str:
    return ", ".join("?" * len(keys))


def default_store_path() -> Path:
    """PGDBA_HISTORY, else history.sqlite3 in the user's data dir."""
    if env := os.environ.get("PGDBA_HISTORY"):
        return Path(env)
    return Path(platformdirs.user_data_dir("pgdba")) / "history.sqlite3"


class HistoryStore:
    """Snapshots and records in a SQLite file."""

    def __init__(self, path: Path, *, create_folder: bool = False) -> None:
        """create_folder: make the file's folder when missing (the default location only; a folder a user
        named that does not exist is a typo, not something to create)."""
        self.path = path
        if not create_folder and not path.parent.is_dir():
            raise InputError(f"cannot open history store {path}: folder {path.parent} does not exist")
        try:
            if create_folder:
                path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():  # statement texts, report findings: readable by its owner only
                with contextlib.suppress(FileExistsError):  # another pgdba created it meanwhile
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            self._db = sqlite3.connect(str(path), timeout=30)
            self._db.text_factory = _lenient_text
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise InputError(f"cannot open history store {path}: {exc}") from None

    @property
    def label(self) -> str:
        """The store as messages name it."""
        return str(self.path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- snapshots ---------------------------------------------------------------------------------
    def save_snapshot(
        self,
        target: str,
        kind: str,
        payload: Any,
        *,
        meta: dict[str, Any] | None = None,
        taken_at: datetime | None = None,
    ) -> int:
        when = (taken_at or datetime.now(UTC)).isoformat()
        with self._db:
            cur = self._db.execute(
                "INSERT INTO snapshot (target, kind, taken_at, meta, payload) VALUES (?, ?, ?, ?, ?)",
                (str(target), kind, when, to_json(meta or {}), to_json(payload)),
            )
        return int(cur.lastrowid or 0)

    def snapshots(
        self, target: str, kind: str, *, since: datetime | None = None, limit: int = 1000
    ) -> list[Snapshot]:
        """Snapshots of one kind, newest first."""
        keys = stored_keys(target)
        rows = self._db.execute(
            "SELECT id, target, kind, taken_at, meta, payload FROM snapshot"
            f" WHERE target IN ({_placeholders(keys)}) AND kind = ? AND taken_at >= ?"
            " ORDER BY taken_at DESC, id DESC LIMIT ?",
            (*keys, kind, (since or datetime.min.replace(tzinfo=UTC)).isoformat(), limit),
        ).fetchall()
        return [self._snapshot(row) for row in rows]

    def latest_snapshot(self, target: str, kind: str) -> Snapshot | None:
        found = self.snapshots(target, kind, limit=1)
        return found[0] if found else None

    def baseline_snapshot(self, target: str, kind: str, at: datetime) -> Snapshot | None:
        """The newest snapshot taken at or before `at`; when every snapshot is younger, the oldest one (the
        caller's window is then shorter than it asked for)."""
        keys = stored_keys(target)
        columns = (
            "SELECT id, target, kind, taken_at, meta, payload FROM snapshot"
            f" WHERE target IN ({_placeholders(keys)}) AND kind = ?"
        )
        row = (
            self._db.execute(
                f"{columns} AND taken_at <= ? ORDER BY taken_at DESC, id DESC LIMIT 1",
                (*keys, kind, at.astimezone(UTC).isoformat()),
            ).fetchone()
            or self._db.execute(f"{columns} ORDER BY taken_at, id LIMIT 1", (*keys, kind)).fetchone()
        )
        return None if row is None else self._snapshot(row)

    def prune(self, older_than: timedelta) -> int:
        """Delete snapshots and records older than the retention period; returns how many went."""
        cutoff = (datetime.now(UTC) - older_than).isoformat()
        with self._db:
            a = self._db.execute("DELETE FROM snapshot WHERE taken_at < ?", (cutoff,)).rowcount
            b = self._db.execute("DELETE FROM record WHERE recorded_at < ?", (cutoff,)).rowcount
        return int(a + b)

    # ---- records -----------------------------------------------------------------------------------
    def add_record(self, target: str, kind: str, payload: Any, *, recorded_at: datetime | None = None) -> int:
        when = (recorded_at or datetime.now(UTC)).isoformat()
        with self._db:
            cur = self._db.execute(
                "INSERT INTO record (target, kind, recorded_at, payload) VALUES (?, ?, ?, ?)",
                (str(target), kind, when, to_json(payload)),
            )
        return int(cur.lastrowid or 0)

    def records(self, target: str, kind: str, *, limit: int = 100) -> list[tuple[datetime, Any]]:
        """Records of one kind, newest first."""
        keys = stored_keys(target)
        rows = self._db.execute(
            "SELECT id, recorded_at, payload FROM record"
            f" WHERE target IN ({_placeholders(keys)}) AND kind = ?"
            " ORDER BY recorded_at DESC, id DESC LIMIT ?",
            (*keys, kind, limit),
        ).fetchall()
        return [self._record(kind, *row) for row in rows]

    # ---- reading stored rows -----------------------------------------------------------------------
    # A payload that does not decode, or lacks the shape its readers rely on (someone edited the file, a
    # disk error), is reported as a corrupt store, one line and exit 2, rather than crashing a reader.
    def corrupt(self, what: str, reason: str) -> InputError:
        return InputError(f"history store {self.label} is corrupt (a {what} is not valid: {reason})")

    def _snapshot(self, row: tuple[Any, ...]) -> Snapshot:
        snapshot_id, target, kind, taken_at, meta, payload = row
        name = f"the {kind} snapshot {snapshot_id}"
        return self.checked_snapshot(
            Snapshot(
                snapshot_id,
                target,
                kind,
                self._timestamp(taken_at, "snapshot", name),
                self._json(meta, "snapshot", f"the metadata of {name}"),
                self._json(payload, "snapshot payload", name),
            )
        )

    def _record(self, kind: str, record_id: int, recorded_at: str, payload: str) -> tuple[datetime, Any]:
        name = f"the {kind} record {record_id}"
        when = self._timestamp(recorded_at, "record", name)
        return when, self.checked_record(kind, record_id, self._json(payload, "record payload", name))

    def _json(self, text: str, what: str, name: str) -> Any:
        try:
            return json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise self.corrupt(what, f"{name} is not JSON ({exc})") from None

    def _timestamp(self, text: str, what: str, name: str) -> datetime:
        try:
            return datetime.fromisoformat(text)
        except (ValueError, TypeError):
            raise self.corrupt(what, f"{name} has no valid time ({text!r})") from None

    def checked_snapshot(self, snap: Snapshot) -> Snapshot:
        """The snapshot, when its metadata is an object and its payload has its kind's shape."""
        name = f"the {snap.kind} snapshot {snap.id}"
        if not isinstance(snap.meta, dict):
            raise self.corrupt("snapshot", f"the metadata of {name} is not {OBJECT.description}")
        shape = SNAPSHOT_SHAPES.get(snap.kind)
        if shape is not None and not shape.matches(snap.payload):
            raise self.corrupt("snapshot payload", f"{name} is not {shape.description}")
        return snap

    def checked_record(self, kind: str, record_id: int, payload: Any) -> Any:
        """The record's payload, when it is an object laid out as its kind's readers need."""
        shape = RECORD_SHAPES.get(kind, OBJECT)
        if not shape.matches(payload):
            raise self.corrupt("record payload", f"the {kind} record {record_id} is not {shape.description}")
        return payload

    @contextlib.contextmanager
    def reading(self, kind: str) -> Iterator[None]:
        """Around turning a kind's snapshot rows into objects: a row without a field its reader needs (or
        with a value of the wrong type) is the corrupt-store error too."""
        try:
            yield
        except KeyError as exc:
            raise self.corrupt("snapshot payload", f"a {kind} snapshot has a row without {exc}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise self.corrupt(
                "snapshot payload", f"a {kind} snapshot has a row pgdba cannot read ({exc})"
            ) from None


def open_store(location: str | None = None) -> HistoryStore:
    """A store from `--store` / PGDBA_HISTORY: a file path, sqlite:///path, or postgresql://… (a `pgdba`
    schema in that database); default: a SQLite file in the user data dir."""
    location = location or os.environ.get("PGDBA_HISTORY")
    if not location:
        return HistoryStore(default_store_path(), create_folder=True)
    if location.startswith("sqlite:///"):
        return HistoryStore(Path(location.removeprefix("sqlite://")))
    if location.startswith(("postgresql://", "postgres://")):
        from pgdba.history.pg_store import PostgresHistoryStore  # imports psycopg's JSON adapters lazily

        return PostgresHistoryStore(location)
    scheme, separator, _ = location.partition("://")
    if separator and scheme.replace("+", "").isalnum():
        raise InputError(
            f"history store {scheme}://…: not a store pgdba knows; use a file path, "
            "sqlite:///absolute/path or postgresql://…"
        )
    return HistoryStore(Path(location))
