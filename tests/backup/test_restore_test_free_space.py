"""`restore-test` checks the server's free space before it creates the scratch database: the backup's
database size × 1.5 must fit on the data directory's filesystem, else it refuses in one line (exit 2,
nothing created, nothing recorded) unless --skip-space-check; where the space cannot be measured it says so
and runs."""

from __future__ import annotations

import dataclasses
import json
import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgdba.alerts.metrics import data_directory_disk
from pgdba.backup import find_backup, restore_test, run_backup
from pgdba.backup.manifest import Manifest, write_manifest
from pgdba.backup.restore_test import SCRATCH_SPACE_MARGIN, scratch_space
from pgdba.backup.storage import FileStorage
from pgdba.cli import main
from pgdba.target import Target, resolve_target


def _scratch_databases(db) -> set[str]:  # type: ignore[no-untyped-def]
    with psycopg.connect(db.cluster.dsn(), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'pgdba_restore_test_%'")
        return {str(r[0]) for r in rows.fetchall()}


def _data_directory(db) -> str:  # type: ignore[no-untyped-def]
    with psycopg.connect(db.cluster.dsn()) as conn:
        row = conn.execute("SELECT current_setting('data_directory')").fetchone()
        assert row is not None
        return str(row[0])


def test_restore_test_records_the_free_space_it_checked(db, file_storage: FileStorage):
    manifest = run_backup(db.target, file_storage, include_globals=False)
    result = restore_test(file_storage, find_backup(file_storage, None, db.name), db.target)
    assert result.passed, result.to_dict()
    space = result.to_dict()["scratch_space"]
    assert space["path"] == _data_directory(db) and space["note"] == ""
    assert space["needed_bytes"] == math.ceil(manifest.database_size * SCRATCH_SPACE_MARGIN) > 0
    assert space["available_bytes"] > space["needed_bytes"] and space["fits"] is True


@pytest.fixture
def oversized_backup(db, file_storage: FileStorage) -> Manifest:  # type: ignore[no-untyped-def]
    """A backup whose manifest says the database was larger than any disk (10 PiB)."""
    manifest = run_backup(db.target, file_storage, include_globals=False)
    huge = dataclasses.replace(manifest, database_size=10 * 2**50)
    write_manifest(file_storage, huge)
    return huge


def test_restore_test_refuses_in_one_line_when_the_copy_would_not_fit(
    db, oversized_backup: Manifest, backup_dir: Path, tmp_path: Path, capsys
):
    before = _scratch_databases(db)
    argv = ["restore-test", "--dsn", db.dsn, "--storage", f"file://{backup_dir}"]
    argv += ["--store", str(tmp_path / "history.sqlite3")]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(
        f"pgdba: error: restoring {db.name}/{oversized_backup.backup_id} needs about 15.0 PB "
        f"(1.5 × its database size of 10.0 PB) and {_data_directory(db)} has "
    )
    assert line.endswith(
        "free (the restore test did not run, nothing recorded; --skip-space-check runs it anyway)"
    )
    assert _scratch_databases(db) == before
    assert not list(backup_dir.rglob("restore-test.json"))

    assert main([*argv, "--skip-space-check", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    tested = json.loads(out)
    assert tested["passed"] is True and err == ""
    assert tested["scratch_space"]["skipped"] is True and tested["scratch_space"]["fits"] is None
    assert _scratch_databases(db) == before


@pytest.fixture
def createdb_role(db) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """A role that may create databases but not read data_directory (no pg_monitor)."""
    name, password = f"tester_{uuid.uuid4().hex[:8]}", "pw-Tester-7"
    db.execute(f"CREATE ROLE {name} LOGIN CREATEDB PASSWORD '{password}'")
    yield name, password
    db.execute(f"DROP OWNED BY {name}")
    db.execute(f"DROP ROLE {name}")


def test_restore_test_says_when_the_free_space_is_not_measurable_and_runs(
    db, named_database, createdb_role: tuple[str, str], backup_dir: Path, tmp_path: Path, capsys
):
    source = named_database(f"shop_{uuid.uuid4().hex[:6]}")  # no extension the role could not create
    run_backup(source, FileStorage(backup_dir), include_globals=False)
    name, password = createdb_role
    params = db.target.params()
    as_role = f"postgresql://{name}:{password}@{params['host']}:{params['port']}/{source.database}"
    argv = ["restore-test", "--dsn", as_role, "--storage", f"file://{backup_dir}", "--format", "json"]
    assert main([*argv, "--store", str(tmp_path / "history.sqlite3")]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["passed"] is True
    assert err.splitlines() == [
        "pgdba: note: free space not measurable: data_directory is not readable (needs pg_monitor): the "
        "restore test ran without a free-space check"
    ]
    assert password not in err


def test_the_free_space_is_not_measured_for_a_server_elsewhere_nor_without_a_recorded_size(
    db, file_storage: FileStorage
):
    elsewhere = Target(f"host=db.example port=5432 dbname={db.name} user=postgres")
    with db.target.connect() as conn:
        disk = data_directory_disk(conn, elsewhere)
    assert disk.avail_bytes is None
    assert disk.reason == "not measurable: the server runs on db.example, not this machine"

    manifest = run_backup(db.target, file_storage, include_globals=False)
    unsized = dataclasses.replace(manifest, database_size=0)  # as a manifest without the field reads
    space = scratch_space(resolve_target(db.dsn), unsized)
    assert (space.fits, space.note) == (
        None,
        "free space not checked: the backup's manifest records no database size",
    )
