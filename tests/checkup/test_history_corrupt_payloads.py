"""A history store whose payloads do not read back as what pgdba wrote (edited by hand, damaged on disk) is
reported as corrupt, in one line with exit 2, by every command that reads it: never an internal error."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from pgdba.cli import main
from pgdba.history.store import HistoryStore, open_store
from tests.conftest import TestDatabase

READERS: dict[str, Callable[[Path], list[str]]] = {
    "queries analyze": lambda _tmp: ["queries", "analyze"],
    "capacity tables": lambda _tmp: ["capacity", "tables", "--forecast-days", "7"],
    "indexes unused": lambda _tmp: ["indexes", "unused", "--min-stats-age-days", "0"],
    "report": lambda tmp: ["report", "--out", str(tmp / "report.md")],
    "alerts check": lambda _tmp: ["alerts", "check"],
    "check": lambda _tmp: ["check"],
}
NOT_JSON = "not json{"
WRONG_SHAPE = "[1,2]"


@pytest.fixture
def filled_store(db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A SQLite store written by the commands themselves: snapshots, alert state, a report, a restore test."""
    db.execute("CREATE TABLE course (id int PRIMARY KEY, title text); INSERT INTO course VALUES (1, 'a')")
    path = tmp_path / "history.sqlite3"
    assert main(["snapshot", "--dsn", db.dsn, "--store", str(path)]) == 0
    assert main(["alerts", "check", "--dsn", db.dsn, "--store", str(path)]) in (0, 1)
    assert main(["report", "--dsn", db.dsn, "--store", str(path), "--out", str(tmp_path / "r0.md")]) == 0
    with HistoryStore(path) as store:
        store.add_record(db.target.key, "restore_test", {"passed": True})
    capsys.readouterr()
    return path


def _corrupt(path: Path, table: str, payload: str, kind: str | None = None) -> None:
    """Overwrite the payloads of a table (of one kind only, when given) with sqlite3, as a damaged file."""
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE {table} SET payload = ? WHERE kind = coalesce(?, kind)", (payload, kind))
    conn.close()


def _run(command: list[str], db: TestDatabase, store: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main([*command, "--dsn", db.dsn, "--store", str(store)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    return line


@pytest.mark.parametrize("payload", [NOT_JSON, WRONG_SHAPE])
@pytest.mark.parametrize("reader", READERS)
def test_a_corrupt_snapshot_payload_is_a_one_line_error(
    db: TestDatabase,
    filled_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    reader: str,
    payload: str,
) -> None:
    _corrupt(filled_store, "snapshot", payload)
    line = _run(READERS[reader](tmp_path), db, filled_store, capsys)
    assert line.startswith(
        f"pgdba: error: history store {filled_store} is corrupt (a snapshot payload is not valid: the "
    )
    assert ("is not JSON" if payload == NOT_JSON else "is not a") in line


@pytest.mark.parametrize("payload", [NOT_JSON, WRONG_SHAPE])
@pytest.mark.parametrize(
    ("reader", "kind"), [("report", "report"), ("alerts check", "alert_state"), ("check", "restore_test")]
)
def test_a_corrupt_record_payload_is_a_one_line_error(
    db: TestDatabase,
    filled_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    reader: str,
    kind: str,
    payload: str,
) -> None:
    _corrupt(filled_store, "record", payload, kind)
    line = _run(READERS[reader](tmp_path), db, filled_store, capsys)
    prefix = (
        f"pgdba: error: history store {filled_store} is corrupt (a record payload is not valid: the {kind} "
    )
    assert line.startswith(prefix)


@pytest.mark.parametrize(
    ("reader", "table", "kind", "payload"),
    [
        ("queries analyze", "snapshot", "statements", '[{"queryid": 1}]'),  # a row without its counters
        ("capacity tables", "snapshot", "tables", '[{"table": "course"}]'),  # without its schema and size
        ("report", "record", "report", '{"findings": [{"code": "x"}]}'),  # a finding it cannot compare
        ("alerts check", "record", "alert_state", '{"states": {"a": 1}}'),  # a state that is no object
        ("alerts check", "snapshot", "alerts.counters", '{"statements": {"q": [1]}}'),  # calls, no time
    ],
)
def test_json_of_another_layout_is_a_one_line_error(
    db: TestDatabase,
    filled_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    reader: str,
    table: str,
    kind: str,
    payload: str,
) -> None:
    _corrupt(filled_store, table, payload, kind)
    line = _run(READERS[reader](tmp_path), db, filled_store, capsys)
    assert line.startswith(
        f"pgdba: error: history store {filled_store} is corrupt (a {table} payload is not valid:"
    )
    assert kind in line


def test_a_store_that_reads_back_as_written_still_works(
    db: TestDatabase, filled_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in READERS.values():
        assert main([*command(tmp_path), "--dsn", db.dsn, "--store", str(filled_store)]) in (0, 1)
    assert "error" not in capsys.readouterr().err


def test_the_postgresql_store_reports_a_payload_of_another_shape(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["snapshot", "--dsn", db.dsn, "--store", db.dsn]) == 0
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute("UPDATE pgdba.snapshot SET payload = '[1, 2]'::jsonb WHERE kind = 'tables'")
    capsys.readouterr()
    assert main(["capacity", "tables", "--dsn", db.dsn, "--store", db.dsn, "--forecast-days", "7"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    with open_store(db.dsn) as store:
        shown = store.label
    assert line.startswith(
        f"pgdba: error: history store {shown} is corrupt (a snapshot payload is not valid:"
    )
    assert "the tables snapshot" in line and "is not a list of table statistics rows" in line


def test_a_payload_that_is_not_utf8_is_reported_as_corrupt(
    db: TestDatabase, filled_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(filled_store) as conn:
        conn.execute("UPDATE snapshot SET payload = CAST(x'ff7b' AS TEXT) WHERE kind = 'tables'")
    conn.close()
    line = _run(["capacity", "tables", "--forecast-days", "7"], db, filled_store, capsys)
    assert line.startswith(f"pgdba: error: history store {filled_store} is corrupt (a snapshot payload is")
    assert "the tables snapshot" in line and "is not JSON" in line


def _set_in_rows(path: Path, table: str, kind: str, json_path: str, value: object) -> None:
    """Set one value inside the stored payloads of a kind, with sqlite's own JSON functions."""
    with sqlite3.connect(path) as conn:
        changed = conn.execute(
            f"UPDATE {table} SET payload = json_set(payload, ?, json(?)) WHERE kind = ?",
            (json_path, json.dumps(value), kind),
        ).rowcount
    conn.close()
    assert changed > 0


@pytest.mark.parametrize(
    ("reader", "table", "kind", "json_path", "value"),
    [
        ("report", "snapshot", "statements", "$[0].total_ms", "slow"),  # time as text
        ("queries analyze", "snapshot", "statements", "$[0].calls", [1]),
        ("capacity tables", "snapshot", "tables", "$[0].total_bytes", "1 GB"),
        ("check", "snapshot", "tables", "$[0].last_vacuum", "yesterday"),  # not a timestamp
        ("indexes unused", "snapshot", "indexes", "$[0].scans", "none"),
        ("report", "snapshot", "database", "$[0].size_bytes", {"bytes": 1}),
        ("alerts check", "record", "alert_state", "$.states", {"rule|x": {"level": "ok", "value": "3"}}),
        ("alerts check", "record", "alert_state", "$.states", {"rule|x": {"pending_since": "soon"}}),
        ("alerts check", "record", "alert_state", "$.states", {"rule|x": {"critical_since": 5}}),
        ("report", "record", "report", "$.score", "ten"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_one_line_error(
    db: TestDatabase,
    filled_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    reader: str,
    table: str,
    kind: str,
    json_path: str,
    value: object,
) -> None:
    _set_in_rows(filled_store, table, kind, json_path, value)
    line = _run(READERS[reader](tmp_path), db, filled_store, capsys)
    assert line.startswith(
        f"pgdba: error: history store {filled_store} is corrupt (a {table} payload is not valid:"
    )
    assert kind in line
