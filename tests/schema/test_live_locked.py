"""The live schema while a migration holds (or waits for) ACCESS EXCLUSIVE on one table: the other tables are
read without waiting, the locked one is left out of the comparison with a note naming it, and never reported
as missing, renamed or different."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from pgdba.cli import main
from pgdba.schema.live_source import load_live
from pgdba.target import resolve_target
from tests.checkup.helpers import wait_until
from tests.locks import locked

QUICK_LOCK_TIMEOUT_MS = 100  # any wait for a lock fails within 0.1 s

# users has what only lock-taking functions print: a default and a CHECK (pg_get_expr), an expression and a
# partial index (pg_get_indexdef); users_archive looks like a rename of users to the comparison
LIVE_DDL = """
CREATE TABLE users (
    id integer NOT NULL, email text NOT NULL, score integer NOT NULL DEFAULT 5 CHECK (score >= 0),
    CONSTRAINT users_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_score_idx ON users (score);
CREATE INDEX users_lower_email ON users (lower(email)) WHERE score > 0;
CREATE TABLE orders (
    id integer NOT NULL, user_id integer NOT NULL, note text,
    CONSTRAINT orders_pkey PRIMARY KEY (id),
    CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id)
        ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE TABLE users_archive (id integer NOT NULL, email text NOT NULL, score integer NOT NULL DEFAULT 5);
CREATE TABLE ev (id integer NOT NULL, at date NOT NULL, CONSTRAINT ev_pkey PRIMARY KEY (id, at))
    PARTITION BY RANGE (at);
CREATE TABLE ev_2024 PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE ev_2025 PARTITION OF ev FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
"""

PRISMA = """
datasource db {
  provider = "postgresql"
}

model users {
  id     Int      @id(map: "users_pkey")
  email  String   @unique(map: "users_email_key")
  score  Int      @default(6)
  orders orders[]

  @@index([score], map: "users_score_idx")
}

model orders {
  id      Int     @id(map: "orders_pkey")
  user_id Int
  note    String?
  user    users   @relation(fields: [user_id], references: [id], map: "orders_user_id_fkey")
}

model ev {
  id Int
  at DateTime @db.Date

  @@id([id, at], map: "ev_pkey")
}
"""


def check_json(db: Any, prisma: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["schema", "check", f"prisma:{prisma}", "live", "--dsn", db.dsn, "--format", "json"])
    out, err = capsys.readouterr()
    assert err == "", err
    return code, json.loads(out)


def drift(report: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((f["code"], f["object"]) for f in report["pairs"][0]["findings"] if f["severity"] != "info")


@pytest.fixture
def prisma(tmp_path: Path) -> Path:
    path = tmp_path / "schema.prisma"
    path.write_text(PRISMA)
    return path


@pytest.mark.catalog
def test_a_locked_table_is_left_out_with_a_note_and_the_others_are_read(db: Any) -> None:
    db.execute(LIVE_DDL)
    quick = resolve_target(db.dsn, lock_timeout_ms=QUICK_LOCK_TIMEOUT_MS)
    with locked(db, "users"):
        live = load_live(quick, {"public"})
    assert sorted(name for _, name in live.tables) == ["ev", "orders", "users_archive"]
    assert "users" in live.unevaluated_tables
    [note] = live.notes
    assert note.startswith("public.users: not read") and "ACCESS EXCLUSIVE" in note
    orders = live.tables[("public", "orders")]  # its foreign key to the locked table is read all the same
    assert [(f.ref_table, f.columns, f.on_delete) for f in orders.foreign_keys] == [
        ("users", ("user_id",), "RESTRICT")
    ]


@pytest.mark.catalog
def test_a_schema_check_never_reports_a_locked_table_as_drift(
    db: Any, prisma: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(LIVE_DDL)
    code, unlocked = check_json(db, prisma, capsys)
    missing_archive = ("schema.table.missing", "users_archive")
    assert (code, drift(unlocked)) == (1, [("schema.column.default", "users.score"), missing_archive])
    # Prisma cannot declare an expression index: information, not drift
    assert [
        (f["code"], f["severity"])
        for f in unlocked["pairs"][0]["findings"]
        if f["object"].endswith("lower_email")
    ] == [("schema.index.missing", "info")]
    with locked(db, "users"):
        code, report = check_json(db, prisma, capsys)
    # not "users missing in live", nor "users renamed to users_archive": the locked table is not compared
    assert (code, drift(report)) == (1, [missing_archive])
    assert report["pairs"][0]["compared"]["tables"] == unlocked["pairs"][0]["compared"]["tables"] - 1
    live = next(s for s in report["sources"] if s["kind"] == "live")
    assert any(n.startswith("public.users: not read") for n in live["notes"]), live["notes"]


@pytest.mark.catalog
def test_a_table_another_session_waits_to_lock_is_left_out_too(db: Any) -> None:
    """A queued ACCESS EXCLUSIVE request blocks every later reader of the table just as a granted one does."""
    db.execute(LIVE_DDL)
    reader, migration = db.connect(autocommit=False), db.connect(autocommit=False)
    try:
        reader.execute("SELECT count(*) FROM users")  # holds ACCESS SHARE: the migration queues behind it
        waiting = threading.Thread(
            target=migration.execute, args=("LOCK TABLE users IN ACCESS EXCLUSIVE MODE",)
        )
        waiting.start()
        wait_until(lambda: _lock_waiters(db) == 1, what="the migration to wait for its lock")
        live = load_live(resolve_target(db.dsn, lock_timeout_ms=QUICK_LOCK_TIMEOUT_MS), {"public"})
        reader.rollback()
        waiting.join()
    finally:
        reader.close()
        migration.rollback()
        migration.close()
    assert ("public", "users") not in live.tables and ("public", "orders") in live.tables
    assert any(n.startswith("public.users: not read") for n in live.notes)


@pytest.mark.catalog
def test_a_locked_partition_does_not_stop_reading_its_partitioned_table(db: Any) -> None:
    db.execute(LIVE_DDL)
    with locked(db, "ev_2025"):  # e.g. VACUUM FULL on one partition
        live = load_live(resolve_target(db.dsn, lock_timeout_ms=QUICK_LOCK_TIMEOUT_MS), {"public"})
    ev = live.tables[("public", "ev")]
    assert ev.primary_key is not None and ev.primary_key.columns == ("id", "at")
    assert live.notes == []


def _lock_waiters(db: Any) -> int:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock'"
            " AND NOT granted AND relation = 'users'::regclass"
        ).fetchone()
    return int(row[0]) if row else 0
