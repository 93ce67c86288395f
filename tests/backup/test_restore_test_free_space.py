"""`restore-test` checks the server's free space before it creates the scratch database: the backup's
database size × 1.5 must fit on the data directory's filesystem, the WAL it writes on pg_wal's (here a
tmpfs of its own) and the objects of each tablespace on the tablespace's, else it refuses in one line
naming the filesystem (exit 2, nothing created, nothing recorded) unless --skip-space-check; where the
space cannot be measured it says so and runs."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from pgdba.alerts.metrics import data_directory_disk
from pgdba.backup import find_backup, restore_test, run_backup
from pgdba.backup.manifest import Manifest, write_manifest
from pgdba.backup.restore_test import SCRATCH_SPACE_MARGIN, scratch_space
from pgdba.backup.storage import FileStorage
from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.target import Target, resolve_target
from pgdba.units import format_bytes
from tests.clusters import own_cluster


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


MB = 2**20


@contextmanager
def _tmpfs(size_mb: int) -> Iterator[Path]:
    """A tmpfs of its own (a filesystem with a known, small free space), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = Path(tempfile.mkdtemp(prefix="pgdba-tmpfs-"))
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)
        mount_point.rmdir()


def _server_owned(cluster: EmbeddedCluster, folder: Path) -> None:
    assert cluster.run_as is not None
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, cluster.run_as.pw_uid, cluster.run_as.pw_gid)


@pytest.fixture(scope="module")
def wal_elsewhere() -> Iterator[tuple[EmbeddedCluster, Path, Path]]:
    """A cluster whose pg_wal is a symlink to a 256 MB tmpfs, with a tablespace `small` on an 8 MB tmpfs:
    (cluster, pg_wal's filesystem, the tablespace's location)."""
    # max_wal_size set here: the WAL room a restore needs is the smaller of it and the database size
    with (
        _tmpfs(256) as wal_disk,
        _tmpfs(8) as tablespace_disk,
        own_cluster("wal-elsewhere", max_wal_size="1GB", min_wal_size="32MB") as cluster,
    ):
        cluster.stop()
        wal = wal_disk / "pg_wal"
        shutil.copytree(cluster.data_dir / "pg_wal", wal)
        shutil.rmtree(cluster.data_dir / "pg_wal")
        (cluster.data_dir / "pg_wal").symlink_to(wal)
        location = tablespace_disk / "small"
        location.mkdir(mode=0o700)
        _server_owned(cluster, wal_disk)
        _server_owned(cluster, location)
        cluster.start()
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE TABLESPACE small LOCATION '{location}'")
        yield cluster, wal_disk, location


def _database_on(cluster: EmbeddedCluster, setup: str) -> Target:
    name = f"shop_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    with psycopg.connect(cluster.dsn(name), autocommit=True) as conn:
        conn.execute(setup)
    return resolve_target(cluster.dsn(name))


def _scratch_databases_on(cluster: EmbeddedCluster) -> list[str]:
    with psycopg.connect(cluster.dsn()) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'pgdba_restore_test_%'")
        return [str(r[0]) for r in rows.fetchall()]


def _refusal(source: Target, storage: FileStorage, tmp_path: Path, capsys) -> str:  # type: ignore[no-untyped-def]
    """The one stderr line of a restore test of `source`'s newest backup that refused to run (exit 2, no
    output)."""
    argv = ["restore-test", "--dsn", source.dsn, "--storage", f"file://{storage.root}"]
    assert main([*argv, "--store", str(tmp_path / "history.sqlite3")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    return str(line)


def test_restore_test_checks_the_wal_room_on_pg_wals_own_filesystem_and_names_it_when_short(
    wal_elsewhere: tuple[EmbeddedCluster, Path, Path], tmp_path: Path, capsys
):
    cluster, wal_disk, _ = wal_elsewhere
    source = _database_on(
        cluster, "CREATE TABLE item AS SELECT g AS id, md5(g::text) AS name FROM generate_series(1, 2000) g"
    )
    storage = FileStorage(tmp_path / "backups")
    manifest = run_backup(source, storage, include_globals=False)
    result = restore_test(storage, find_backup(storage, None, source.database), source)
    assert result.passed, result.to_dict()
    data_dir = str(cluster.data_dir)
    data_room, wal_room = result.to_dict()["scratch_space"]["filesystems"]
    assert (data_room["path"], data_room["needed_bytes"]) == (
        data_dir,
        math.ceil(manifest.database_size * SCRATCH_SPACE_MARGIN),
    )
    assert (wal_room["path"], wal_room["needed_bytes"], wal_room["fits"]) == (
        f"{data_dir}/pg_wal",
        manifest.database_size,  # smaller than max_wal_size (1 GB)
        True,
    )
    assert 0 < wal_room["available_bytes"] <= shutil.disk_usage(wal_disk).total

    # 2 GB: 3 GB fit on the data directory's disk, 1 GB of WAL (max_wal_size) not on pg_wal's 256 MB
    write_manifest(storage, dataclasses.replace(manifest, database_size=2 * 2**30))
    assert shutil.disk_usage(cluster.data_dir).free > 3 * 2**30
    line = _refusal(source, storage, tmp_path, capsys)
    assert line.startswith(
        f"pgdba: error: restoring {source.database}/{manifest.backup_id} needs about 1.0 GB on the "
        f"filesystem of {data_dir}/pg_wal (its WAL in pg_wal: the smaller of its database size and "
        "max_wal_size) and it has "
    )
    assert line.endswith(
        "free (the restore test did not run, nothing recorded; --skip-space-check runs it anyway)"
    )
    assert _scratch_databases_on(cluster) == []


def test_restore_test_refuses_when_a_tablespaces_objects_would_not_fit_on_its_filesystem(
    wal_elsewhere: tuple[EmbeddedCluster, Path, Path], tmp_path: Path, capsys
):
    cluster, _, location = wal_elsewhere
    # about 5 MB in the 8 MB tablespace: a copy restored next to it does not fit
    source = _database_on(
        cluster,
        "CREATE TABLE wide (id int, pad text) TABLESPACE small; "
        "INSERT INTO wide SELECT g, repeat('x', 500) FROM generate_series(1, 9000) g",
    )
    storage = FileStorage(tmp_path / "backups")
    manifest = run_backup(source, storage, include_globals=False)
    assert manifest.tablespace_sizes is not None and manifest.tablespace_sizes["small"] > 4 * MB
    free = shutil.disk_usage(location).free
    assert free < manifest.tablespace_sizes["small"]
    line = _refusal(source, storage, tmp_path, capsys)
    assert line.startswith(
        f"pgdba: error: restoring {source.database}/{manifest.backup_id} needs about "
        f"{format_bytes(manifest.tablespace_sizes['small'])} on the filesystem of {location} (its objects "
        "in tablespace small) and it has "
    )
    assert _scratch_databases_on(cluster) == []
    assert not list(storage.root.rglob("restore-test.json"))


def test_restore_test_names_the_tablespace_path_this_machine_cannot_see(
    wal_elsewhere: tuple[EmbeddedCluster, Path, Path], tmp_path: Path
):
    cluster, _, location = wal_elsewhere
    source = _database_on(
        cluster, "CREATE TABLE tagged (id int) TABLESPACE small; INSERT INTO tagged VALUES (1)"
    )
    storage = FileStorage(tmp_path / "backups")
    run_backup(source, storage, include_globals=False)
    argv = ["restore-test", "--dsn", source.dsn, "--storage", f"file://{storage.root}", "--format", "json"]
    argv += ["--store", str(tmp_path / "history.sqlite3")]
    # pgdba in a mount namespace of its own, where an empty filesystem hides the tablespace's (as in a
    # container on the server's machine that was not given that mount); the server still writes there
    hidden = f'mount -t tmpfs -o size=1m tmpfs {location.parent} && exec "$0" -m pgdba "$@"'
    run = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", hidden, sys.executable, *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    tested = json.loads(run.stdout)
    assert tested["passed"] is True
    assert tested["scratch_space"]["unmeasured"] == [str(location)]
    assert [room["path"] for room in tested["scratch_space"]["filesystems"]] == [
        str(cluster.data_dir),
        f"{cluster.data_dir}/pg_wal",
    ]
    assert run.stderr.splitlines() == [
        f"pgdba: note: free space not measured on {location} (this machine cannot see it): the restore test "
        "ran without checking the room there"
    ]
    assert location.is_dir()  # outside the namespace nothing was hidden
