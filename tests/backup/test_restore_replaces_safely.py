"""`backup restore --force --apply` never loses the database it replaces: the archive is checked before
anything changes, the backup goes into a new database first, and every failure leaves the existing one
exactly as it was (its table and rows still there, no temporary copy left behind)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pgdba.backup import find_backup, restore_backup, run_backup
from pgdba.backup.restore import RestoreResult, _swap
from pgdba.backup.tools import PgTools, find_pg_tools
from pgdba.cli import main
from tests.conftest import TestDatabase


@pytest.fixture
def victim(db: TestDatabase) -> str:
    """A database with a table `precious` of 100 rows, on the cluster of `db`, that a restore replaces."""
    name = f"{db.name}_victim"
    db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)).as_string())
    with psycopg.connect(db.cluster.dsn(name), autocommit=True) as conn:
        conn.execute("CREATE TABLE precious AS SELECT g AS id FROM generate_series(1, 100) AS g")
    yield name
    with psycopg.connect(db.cluster.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def app_db(db: TestDatabase) -> TestDatabase:
    db.execute("CREATE TABLE t1 AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) AS g")
    return db


def _precious_rows(db: TestDatabase, name: str) -> int:
    with psycopg.connect(db.cluster.dsn(name)) as conn:
        row = conn.execute("SELECT count(*) FROM precious").fetchone()
    assert row is not None
    return int(row[0])


def _leftovers(db: TestDatabase) -> list[str]:
    with psycopg.connect(db.cluster.dsn()) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'pgdba\\_new\\_%' OR datname LIKE "
            "'pgdba\\_old\\_%'"
        ).fetchall()
    return [str(r[0]) for r in rows]


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.catalog
def test_a_corrupted_archive_with_force_leaves_the_replaced_database_intact(
    app_db, victim, file_storage, capsys
):
    manifest = run_backup(app_db.target, file_storage, include_globals=False)
    _flip_a_byte(file_storage.root / manifest.dump_key)
    info = find_backup(file_storage, manifest.backup_id, None)

    result = restore_backup(file_storage, info, app_db.target, victim, force=True, apply=True)
    assert not result.ok
    assert "does not match its manifest" in result.problems[0] and "nothing was changed" in result.problems[0]
    assert _precious_rows(app_db, victim) == 100
    assert _leftovers(app_db) == []

    argv = ["backup", "restore", f"{manifest.database}/{manifest.backup_id}", "--dsn", app_db.dsn]
    argv += ["--storage", str(file_storage.root), "--into", victim, "--force", "--apply"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "stopped" in out and "nothing was changed" in out
    assert _precious_rows(app_db, victim) == 100
    assert _leftovers(app_db) == []


def _failing_pg_restore(tmp_path: Path, real: PgTools) -> PgTools:
    """pg_restore that lists the archive as the real one does but fails the restore half-way."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pg_restore"
    script.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" --list "*) exec ' + real.pg_restore + ' "$@";; esac\n'
        "head -c 1000 >/dev/null\n"
        'echo "pg_restore: error: injected failure" >&2\n'
        "exit 1\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return PgTools(bin_dir, real.major, real.version)


@pytest.mark.catalog
def test_a_restore_failing_half_way_drops_the_new_copy_and_keeps_the_replaced_database(
    app_db, victim, file_storage, server_major, tmp_path
):
    manifest = run_backup(app_db.target, file_storage, include_globals=False)
    info = find_backup(file_storage, manifest.backup_id, None)
    tools = _failing_pg_restore(tmp_path, find_pg_tools(server_major))

    result = restore_backup(file_storage, info, app_db.target, victim, force=True, apply=True, tools=tools)
    assert not result.ok
    assert "injected failure" in result.problems[0]
    assert f"{victim!r} was not changed" in result.problems[-1]
    assert _precious_rows(app_db, victim) == 100
    assert _leftovers(app_db) == []


@pytest.mark.catalog
def test_database_properties_that_cannot_be_applied_keep_the_replaced_database(
    app_db, victim, file_storage, backup_dir
):
    manifest = run_backup(app_db.target, file_storage, include_globals=False)
    path = backup_dir / manifest.database / manifest.backup_id / "manifest.json"
    doc = json.loads(path.read_text())
    doc["database_properties"]["settings"] = [{"role": None, "name": "work_mem", "value": "lots"}]
    path.write_text(json.dumps(doc))
    info = find_backup(file_storage, manifest.backup_id, None)

    result = restore_backup(file_storage, info, app_db.target, victim, force=True, apply=True)
    assert not result.ok
    assert result.problems[0].startswith("the database's properties could not be applied")
    assert _precious_rows(app_db, victim) == 100
    assert _leftovers(app_db) == []


@pytest.mark.catalog
def test_force_replaces_a_database_with_open_sessions_and_the_new_one_has_the_backup(
    app_db, victim, file_storage
):
    manifest = run_backup(app_db.target, file_storage, include_globals=False)
    info = find_backup(file_storage, manifest.backup_id, None)
    held = psycopg.connect(app_db.cluster.dsn(victim), autocommit=True)
    try:
        result = restore_backup(file_storage, info, app_db.target, victim, force=True, apply=True)
        assert result.ok, result.to_dict()
        assert held.closed or held.broken or _session_was_ended(held)
    finally:
        held.close()
    with psycopg.connect(app_db.cluster.dsn(victim)) as conn:
        assert conn.execute("SELECT count(*) FROM t1").fetchone() == (20000,)
        assert conn.execute("SELECT to_regclass('precious')").fetchone() == (None,)
    assert _leftovers(app_db) == []


def _session_was_ended(conn: psycopg.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


def test_a_failed_rename_puts_the_replaced_database_back_under_its_name(db, victim):
    """The restored copy cannot take the name (here: it is gone): the existing database, already renamed
    aside, gets its name back."""
    result = RestoreResult(victim, "id", applied=True, ok=False)
    _swap(result, db.target, victim, "pgdba_new_gone", f"pgdba_old_{os.getpid()}", replacing=True)
    assert result.problems and "could not be renamed to" in result.problems[0]
    assert len(result.problems) == 1  # put back
    assert _precious_rows(db, victim) == 100
    assert _leftovers(db) == []


@pytest.mark.catalog
def test_restoring_into_the_database_of_the_dsn_itself_works(app_db, file_storage):
    """The sessions of pgdba itself run in another database: a database cannot be renamed from inside."""
    manifest = run_backup(app_db.target, file_storage, include_globals=False)
    info = find_backup(file_storage, manifest.backup_id, None)
    app_db.execute("CREATE TABLE added_after AS SELECT 1 AS x")
    result = restore_backup(file_storage, info, app_db.target, app_db.name, force=True, apply=True)
    assert result.ok, result.to_dict()
    with psycopg.connect(app_db.dsn) as conn:
        assert conn.execute("SELECT to_regclass('added_after')").fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM t1").fetchone() == (20000,)


def test_an_encrypted_backup_is_checked_through_age_before_the_replacement(
    app_db, victim, file_storage, tmp_path
):
    """pg_restore --list stops after the table of contents while age still writes: the check reads on (the
    sha256 is of the whole object) and does not count age's SIGPIPE as a failure; a wrong key changes nothing."""
    keys = {}
    for name in ("right", "wrong"):
        keys[name] = tmp_path / f"{name}.agekey"
        out = subprocess.run(
            ["age-keygen", "-o", str(keys[name])], capture_output=True, text=True, check=True
        )
    recipient = subprocess.run(
        ["age-keygen", "-y", str(keys["right"])], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out.returncode == 0 and recipient.startswith("age1")
    manifest = run_backup(app_db.target, file_storage, include_globals=False, age_recipients=[recipient])
    info = find_backup(file_storage, manifest.backup_id, None)

    wrong = restore_backup(
        file_storage, info, app_db.target, victim, force=True, apply=True, age_identity=keys["wrong"]
    )
    assert (
        not wrong.ok
        and "table of contents" in wrong.problems[0]
        and "nothing was changed" in wrong.problems[0]
    )
    assert _precious_rows(app_db, victim) == 100

    right = restore_backup(
        file_storage, info, app_db.target, victim, force=True, apply=True, age_identity=keys["right"]
    )
    assert right.ok, right.to_dict()
    with psycopg.connect(app_db.cluster.dsn(victim)) as conn:
        assert conn.execute("SELECT count(*) FROM t1").fetchone() == (20000,)
    assert _leftovers(app_db) == []
