"""A backup that cannot lock a table says which step gave up, which session holds which table, and what to
do, in one line; it stores nothing and never hangs behind DDL (pg_dump gets --lock-wait-timeout)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest

from pgdba.cli import main

# a safety net, not a synchronisation: should pg_dump wait forever, the holder is ended after this and
# the backup then succeeds, which the tests below report as a failure instead of hanging
HOLDER_IDLE_LIMIT = "60s"


@pytest.fixture
def lock_table(demo_db) -> Iterator[Callable[[str], int]]:  # type: ignore[no-untyped-def]
    """Take ACCESS EXCLUSIVE on a table in an open transaction of a second session; returns its pid."""
    holders: list[psycopg.Connection] = []

    def hold(table: str) -> int:
        conn = demo_db.connect(autocommit=False)
        holders.append(conn)
        conn.execute(f"SET idle_in_transaction_session_timeout = '{HOLDER_IDLE_LIMIT}'")
        conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        return int(row[0])

    yield hold
    for conn in holders:
        conn.close()


def _backup_run(demo_db, file_storage, *options: str) -> int:  # type: ignore[no-untyped-def]
    args = ["backup", "run", "--dsn", demo_db.dsn, "--storage", str(file_storage.root), "--no-globals"]
    return main([*args, "--lock-timeout", "200", *options])


@pytest.mark.parametrize(("options", "step"), [((), "catalog query"), (("--exact",), "--exact")])
def test_backup_run_behind_an_exclusive_lock_names_the_step_the_table_and_the_remedy(
    demo_db, file_storage, lock_table, capsys, options, step
):
    pid = lock_table("public.enrollment")
    assert _backup_run(demo_db, file_storage, *options) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith("pgdba: error: ") and step in line
    assert f"session {pid} holds an ACCESS EXCLUSIVE lock on public.enrollment" in line
    assert "200 ms" in line and "--lock-timeout" in line and "nothing stored" in line
    assert captured.out == ""
    assert not any(file_storage.root.iterdir())


def test_pg_dump_gives_up_on_a_table_lock_instead_of_waiting_behind_ddl(
    demo_db, file_storage, lock_table, capsys
):
    # a partitioned table: pgdba's size query reads plain tables only, pg_dump locks this one too
    demo_db.execute("CREATE TABLE measurement (at date, value int) PARTITION BY RANGE (at)")
    pid = lock_table("public.measurement")
    assert _backup_run(demo_db, file_storage) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("pgdba: error: pg_dump (--lock-wait-timeout) gave up after waiting 200 ms")
    assert f"session {pid} holds an ACCESS EXCLUSIVE lock on public.measurement" in line
    assert "--lock-timeout" in line
    assert not any(file_storage.root.rglob("*.pgdump")) and not any(file_storage.root.rglob("manifest.json"))
