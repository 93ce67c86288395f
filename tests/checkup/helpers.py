"""Small helpers the check-up tests share: run named checks, wait for a session state on the server."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from pgdba.checkup import CheckupResult, run_checkup
from pgdba.findings import Finding, Severity
from pgdba.history.store import HistoryStore
from tests.conftest import TestDatabase


def run(
    db: TestDatabase,
    *checks: str,
    store: HistoryStore | None = None,
    **options: dict[str, Any],
) -> CheckupResult:
    """Run only the named checks, with per-check threshold options (keyword = check name with _ for .)."""
    opts = {name.replace("__", "."): kw for name, kw in options.items()}
    return run_checkup(db.target, store=store, options=opts, only=set(checks) if checks else None)


def codes(result: CheckupResult) -> list[str]:
    return sorted(f.code for f in result.report.findings)


def find(result: CheckupResult, code: str) -> list[Finding]:
    return [f for f in result.report.findings if f.code == code]


def serious(result: CheckupResult) -> list[Finding]:
    return [f for f in result.report.findings if f.severity is not Severity.INFO]


def wait_until(condition: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll the server for a state another connection is about to reach (not a timing guess: it returns
    as soon as the state is visible, and fails loudly if it never is)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def session_state(db: TestDatabase, pid: int) -> tuple[str | None, list[int]]:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT state, pg_blocking_pids(pid) FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
    return (row[0], list(row[1])) if row else (None, [])


def store_at(tmp_path: Path) -> HistoryStore:
    return HistoryStore(tmp_path / "history.sqlite3")


def backend_pid(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


def script(db: TestDatabase, text: str) -> None:
    """Run `;`-separated statements one by one (VACUUM cannot run inside the implicit transaction)."""
    with db.connect() as conn:
        for statement in text.split(";"):
            if statement.strip():
                conn.execute(statement)  # type: ignore[call-overload]


# two related tables the query checks' tests run their statements against
COURSE_LESSON_SCHEMA = """
CREATE TABLE course (id int PRIMARY KEY, title text NOT NULL);
CREATE TABLE lesson (id int PRIMARY KEY, course_id int NOT NULL REFERENCES course (id), title text);
CREATE INDEX lesson_course_id_idx ON lesson (course_id);
INSERT INTO course SELECT g, 'course ' || g FROM generate_series(1, 50) g;
INSERT INTO lesson SELECT g, 1 + g % 50, 'lesson ' || g FROM generate_series(1, 600) g;
ANALYZE course;
ANALYZE lesson
"""


def reset_statements(db: TestDatabase) -> None:
    db.execute("SELECT pg_stat_statements_reset()")


def list_then_look_up_each(conn: psycopg.Connection, pages: int = 2, lessons: int = 600) -> None:
    """The ORM loop of an N+1: list lessons, then one course lookup per listed lesson (COURSE_LESSON_SCHEMA)."""
    for _ in range(pages):
        listed = conn.execute("SELECT id, course_id FROM lesson WHERE id <= %s", (lessons,)).fetchall()
        for _, course_id in listed:
            conn.execute("SELECT id, title FROM course WHERE id = %s", (course_id,)).fetchone()


def current_date(db: TestDatabase) -> date:
    """The server's current_date (the date tests partition around)."""
    with db.connect() as conn:
        row = conn.execute("SELECT current_date").fetchone()
    assert row is not None
    return row[0]
