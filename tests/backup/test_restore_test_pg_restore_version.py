"""pg_restore is chosen by the major of the pg_dump that wrote the archive (the manifest's
pg_dump_version), not by the source server's: an older pg_restore stops at "unsupported version in file
header", which would record a good backup as a failed restore test."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from pgdba.backup import find_backup, restore_test, run_backup
from pgdba.backup.manifest import RESTORE_TEST_NAME, write_manifest
from pgdba.backup.tools import (
    PgTools,
    find_pg_restore,
    find_pg_tools,
    nearest_pg_restore,
    pg_dump_major,
    tool_version,
)
from pgdba.cli import main
from pgdba.errors import NotAvailable


def _only(bin_dir: Path) -> dict[str, str]:
    return {"PGDBA_PG_BIN": str(bin_dir), "PATH": ""}


def _scratch_databases(db) -> set[str]:  # type: ignore[no-untyped-def]
    with psycopg.connect(db.cluster.dsn(), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'pgdba_restore_test_%'")
        return {str(r[0]) for r in rows.fetchall()}


def test_pg_dump_major_is_read_from_the_version_line_the_manifest_records():
    assert pg_dump_major("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)") == 15
    assert pg_dump_major("pg_dump (PostgreSQL) 18.6") == 18
    assert pg_dump_major("pg_dump (PostgreSQL) 19devel") == 19
    assert pg_dump_major("") is None


@pytest.mark.catalog
def test_the_pg_restore_of_the_archive_pg_dump_major_is_chosen(server_major):
    installed = find_pg_tools(server_major)
    chosen = find_pg_restore(installed.major, _only(installed.bin_dir))
    assert (chosen.bin_dir, chosen.major) == (installed.bin_dir, installed.major)
    assert tool_version(Path(chosen.pg_restore)) == (chosen.major, chosen.version)
    assert chosen.version.startswith("pg_restore (PostgreSQL)")


@pytest.mark.catalog
def test_a_newer_pg_restore_reads_an_archive_of_an_older_pg_dump(server_major):
    installed = find_pg_tools(server_major)
    assert find_pg_restore(installed.major - 2, _only(installed.bin_dir)).major == installed.major


@pytest.mark.catalog
def test_an_archive_of_a_newer_pg_dump_than_any_installed_is_refused_naming_the_version(server_major):
    installed = find_pg_tools(server_major)
    newer = installed.major + 1
    with pytest.raises(NotAvailable) as error:
        find_pg_restore(newer, _only(installed.bin_dir))
    message = str(error.value)
    assert "\n" not in message
    assert f"written by pg_dump {newer} and needs pg_restore {newer} or newer" in message
    assert f"{installed.bin_dir}/pg_restore is {installed.major}" in message
    assert f"postgresql-client-{newer}" in message


def test_a_directory_without_pg_restore_offers_none(tmp_path):
    with pytest.raises(NotAvailable, match="no pg_restore found"):
        find_pg_restore(15, _only(tmp_path))


def test_the_pg_restore_nearest_to_the_archive_major_is_preferred_over_the_newest():
    found = [PgTools(Path(f"/opt/pg{m}/bin"), m, f"pg_restore (PostgreSQL) {m}.1") for m in (18, 14, 16)]
    assert nearest_pg_restore(found, 16).major == 16  # type: ignore[union-attr]
    assert nearest_pg_restore(found, 15).major == 16  # type: ignore[union-attr]
    assert nearest_pg_restore(found, 17).major == 18  # type: ignore[union-attr]
    assert nearest_pg_restore(found, 13).major == 14  # type: ignore[union-attr]
    assert nearest_pg_restore(found, 19) is None


@pytest.mark.catalog
def test_restore_test_of_an_archive_from_a_newer_pg_dump_is_refused_before_anything_runs(
    db, file_storage, backup_dir, server_major, monkeypatch, capsys
):
    db.execute("CREATE TABLE note (id int PRIMARY KEY); INSERT INTO note SELECT generate_series(1, 10)")
    installed = find_pg_tools(server_major)
    manifest = run_backup(db.target, file_storage, include_globals=False)
    newer = installed.major + 1
    manifest.pg_dump_version = f"pg_dump (PostgreSQL) {newer}.2"  # as a newer pg_dump records itself
    write_manifest(file_storage, manifest)
    info = find_backup(file_storage, manifest.backup_id, None)
    before = _scratch_databases(db)

    with pytest.raises(NotAvailable, match=f"needs pg_restore {newer} or newer"):
        restore_test(file_storage, info, db.target, environ=_only(installed.bin_dir))
    assert _scratch_databases(db) == before

    monkeypatch.setenv("PGDBA_PG_BIN", str(installed.bin_dir))
    code = main(["restore-test", "--dsn", db.dsn, "--storage", str(backup_dir)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and f"pg_restore {newer} or newer" in err and "Traceback" not in err
    assert not file_storage.exists(info.key(RESTORE_TEST_NAME))  # nothing recorded: the backup is not judged
    assert _scratch_databases(db) == before
