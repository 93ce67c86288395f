"""`backup verify` and `backup restore` choose pg_restore as restore-test does: by the major of the pg_dump
that wrote the archive (the manifest's pg_dump_version), not by the source server's. An archive of a newer
pg_dump than any pg_restore installed is refused before anything is read or created, naming the version."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from pgdba.backup import find_backup, restore_backup, run_backup, verify_backup
from pgdba.backup.manifest import BackupInfo, write_manifest
from pgdba.backup.storage import FileStorage
from pgdba.backup.tools import find_pg_tools
from pgdba.cli import main
from pgdba.errors import NotAvailable


def _only(bin_dir: Path) -> dict[str, str]:
    return {"PGDBA_PG_BIN": str(bin_dir), "PATH": ""}


def _database_exists(db, name: str) -> bool:  # type: ignore[no-untyped-def]
    with psycopg.connect(db.cluster.dsn(), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _backup_recorded_as_from_pg_dump(db, storage: FileStorage, major: int) -> BackupInfo:  # type: ignore[no-untyped-def]
    """A real backup whose manifest says pg_dump `major` wrote it (as that pg_dump records itself)."""
    db.execute("CREATE TABLE note (id int PRIMARY KEY); INSERT INTO note SELECT generate_series(1, 10)")
    manifest = run_backup(db.target, storage, include_globals=False)
    manifest.pg_dump_version = f"pg_dump (PostgreSQL) {major}.2"
    write_manifest(storage, manifest)
    return find_backup(storage, manifest.backup_id, None)


@pytest.mark.catalog
def test_verify_of_an_archive_from_a_newer_pg_dump_is_refused_naming_the_pg_restore_it_needs(
    db, file_storage, server_major, monkeypatch, capsys
):
    installed = find_pg_tools(server_major)
    newer = installed.major + 1
    info = _backup_recorded_as_from_pg_dump(db, file_storage, newer)

    with pytest.raises(
        NotAvailable, match=f"written by pg_dump {newer} and needs pg_restore {newer} or newer"
    ):
        verify_backup(file_storage, info, environ=_only(installed.bin_dir))

    monkeypatch.setenv("PGDBA_PG_BIN", str(installed.bin_dir))
    code = main(["backup", "verify", info.backup_id, "--storage", str(file_storage.root)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and f"pg_restore {newer} or newer" in err and "Traceback" not in err


@pytest.mark.catalog
def test_verify_of_an_archive_from_an_older_pg_dump_reads_it_with_a_newer_pg_restore(
    db, file_storage, server_major
):
    installed = find_pg_tools(server_major)
    info = _backup_recorded_as_from_pg_dump(db, file_storage, installed.major - 2)
    result = verify_backup(file_storage, info, environ=_only(installed.bin_dir))
    assert result.ok, result.problems


@pytest.mark.catalog
def test_restore_of_an_archive_from_a_newer_pg_dump_is_refused_before_the_database_is_created(
    db, file_storage, server_major, monkeypatch, capsys
):
    installed = find_pg_tools(server_major)
    newer = installed.major + 1
    info = _backup_recorded_as_from_pg_dump(db, file_storage, newer)
    into = f"{db.name}_copy"

    with pytest.raises(NotAvailable, match=f"needs pg_restore {newer} or newer"):
        restore_backup(file_storage, info, db.target, into, apply=True, environ=_only(installed.bin_dir))
    assert not _database_exists(db, into)

    monkeypatch.setenv("PGDBA_PG_BIN", str(installed.bin_dir))
    argv = ["backup", "restore", info.backup_id, "--dsn", db.dsn, "--storage", str(file_storage.root)]
    code = main([*argv, "--into", into, "--apply"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and f"pg_restore {newer} or newer" in err and "Traceback" not in err
    assert not _database_exists(db, into)
