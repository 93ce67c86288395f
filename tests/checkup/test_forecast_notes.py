"""`capacity tables --forecast-days`: empty growth and forecast columns always come with the reason."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pgdba.cli import main
from tests.conftest import TestDatabase


def _forecast(db: TestDatabase, path: str, capsys: pytest.CaptureFixture[str], fmt: str) -> str:
    capsys.readouterr()
    args = ["capacity", "tables", "--dsn", db.dsn, "--store", path, "--forecast-days", "30", "-f", fmt]
    assert main(args) == 0
    return capsys.readouterr().out


def _json(db: TestDatabase, path: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_forecast(db, path, capsys, "json"))
    return data


@pytest.mark.catalog
def test_forecast_without_any_snapshot_says_one_is_needed(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "h.sqlite3")
    db.execute("CREATE TABLE events (id bigint PRIMARY KEY)")
    data = _json(db, path, capsys)
    assert data["tables"][0]["bytesPerDay"] is None
    [note] = data["notes"]
    assert note.startswith("no table snapshot of this database in the history store")
    assert "pgdba snapshot" in note
    table = " ".join(_forecast(db, path, capsys, "table").split())
    assert "no table snapshot of this database in the history store" in table


@pytest.mark.catalog
def test_forecast_from_a_fresh_snapshot_says_the_window_is_too_short(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "h.sqlite3")
    db.execute("CREATE TABLE events (id bigint PRIMARY KEY)")
    assert main(["snapshot", "--dsn", db.dsn, "--store", path]) == 0
    data = _json(db, path, capsys)
    assert data["tables"][0]["bytesPerDay"] is None
    [note] = data["notes"]
    assert "the oldest table snapshot" in note and "less than 1 h old" in note
    markdown = _forecast(db, path, capsys, "markdown")
    assert "less than 1 h old" in markdown


@pytest.mark.catalog
def test_forecast_names_how_many_tables_have_no_old_enough_sample(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "h.sqlite3")
    db.execute("CREATE TABLE events (id bigint PRIMARY KEY)")
    assert main(["snapshot", "--dsn", db.dsn, "--store", path]) == 0
    with sqlite3.connect(path) as history:  # the snapshot two hours back: a window worth a rate
        history.execute(
            "UPDATE snapshot SET taken_at = ?", ((datetime.now(UTC) - timedelta(hours=2)).isoformat(),)
        )
    db.execute("CREATE TABLE created_since (id bigint PRIMARY KEY)")
    data = _json(db, path, capsys)
    rows = {r["table"]: r for r in data["tables"]}
    assert rows["public.events"]["bytesPerDay"] == 0 and rows["public.created_since"]["bytesPerDay"] is None
    [note] = data["notes"]
    assert note.startswith("1 of 2 tables (public.created_since) have no size sample at least 1 h old")
    with sqlite3.connect(path) as history:
        history.execute("DELETE FROM snapshot")
    db.execute("DROP TABLE created_since")
    assert main(["snapshot", "--dsn", db.dsn, "--store", path]) == 0
    with sqlite3.connect(path) as history:
        history.execute(
            "UPDATE snapshot SET taken_at = ?", ((datetime.now(UTC) - timedelta(hours=2)).isoformat(),)
        )
    assert _json(db, path, capsys)["notes"] == []  # every column filled: nothing to explain
