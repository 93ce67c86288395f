"""Large objects (pg_largeobject_metadata): counted at backup time, counted again in the restored copy."""

from __future__ import annotations

import psycopg
import pytest

from pgdba.backup import find_backup, restore_test, run_backup
from pgdba.backup.tools import find_pg_tools
from tests.backup.older_manifests import as_written_before
from tests.backup.pg_dump_variants import pg_dump_with_options

LARGE_OBJECTS_SQL = """
CREATE TABLE attachment (id int PRIMARY KEY, blob oid NOT NULL);
INSERT INTO attachment SELECT g, lo_from_bytea(0, convert_to(repeat('page ' || g, 100), 'UTF8'))
  FROM generate_series(1, 3) AS g;
"""


@pytest.fixture
def lo_db(db):  # type: ignore[no-untyped-def]
    db.execute(LARGE_OBJECTS_SQL)
    return db


def _check(result, name):  # type: ignore[no-untyped-def]
    return next(c for c in result.checks if c.name == name)


@pytest.mark.catalog
@pytest.mark.parametrize("exact", [True, False])
def test_backup_counts_large_objects_and_the_restore_test_finds_them(lo_db, file_storage, exact):
    manifest = run_backup(lo_db.target, file_storage, exact=exact, include_globals=False)
    info = find_backup(file_storage, manifest.backup_id, None)
    assert info.manifest is not None and info.manifest.large_objects == 3
    assert info.manifest.large_objects_at_dump_end == (None if exact else 3)

    result = restore_test(file_storage, info, lo_db.target)

    assert result.passed, result.to_dict()
    check = _check(result, "large_objects")
    assert check.status == "pass" and check.detail.startswith("3 large object(s)")


@pytest.mark.catalog
def test_restore_test_fails_when_large_objects_are_missing_from_the_archive(
    lo_db, file_storage, server_major, tmp_path
):
    # pg_dump leaves large objects out with --no-blobs (and with --schema/--table): the rows still
    # point at them, so every table check passes
    tools = pg_dump_with_options(find_pg_tools(server_major), tmp_path / "bin", "--no-blobs")
    manifest = run_backup(lo_db.target, file_storage, exact=True, include_globals=False, tools=tools)
    info = find_backup(file_storage, manifest.backup_id, None)

    result = restore_test(file_storage, info, lo_db.target)

    assert not result.passed
    failing = {c.name: c.detail for c in result.checks if c.status == "fail"}
    assert (
        failing.pop("large_objects") == "0 large object(s) restored, the source had 3 in the dump's snapshot"
    )
    assert failing.keys() == {"large_objects.content"}  # naming the missing oids


@pytest.mark.catalog
def test_large_objects_created_while_pg_dump_ran_are_no_failure_without_exact(lo_db, file_storage):
    """Without --exact the counts are taken before and after the dump, outside pg_dump's snapshot."""
    created: list[int] = []

    def create_during_the_dump(_done: int) -> None:
        if not created:
            with psycopg.connect(lo_db.dsn, autocommit=True) as conn:
                row = conn.execute("SELECT lo_from_bytea(0, 'late')").fetchone()
                created.append(int(row[0]))  # type: ignore[index]

    manifest = run_backup(lo_db.target, file_storage, include_globals=False, progress=create_during_the_dump)
    assert created and (manifest.large_objects, manifest.large_objects_at_dump_end) == (3, 4)
    info = find_backup(file_storage, manifest.backup_id, None)

    result = restore_test(file_storage, info, lo_db.target)

    assert result.passed, result.to_dict()
    check = _check(result, "large_objects")
    assert check.status == "pass" and "3 to 4 while the dump ran" in check.detail

    assert info.manifest is not None
    info.manifest.large_objects = info.manifest.large_objects_at_dump_end = 5  # unchanged, and more
    missing = restore_test(file_storage, info, lo_db.target)
    assert _check(missing, "large_objects").status == "fail"
    assert _check(missing, "large_objects").detail == (
        "3 large object(s) restored, the source had 5 before and after the dump"
    )


@pytest.mark.catalog
def test_a_manifest_from_before_large_objects_were_counted_skips_the_check_with_a_note(
    lo_db, file_storage, backup_dir
):
    manifest = run_backup(lo_db.target, file_storage, include_globals=False)
    as_written_before(backup_dir, manifest)
    info = find_backup(file_storage, manifest.backup_id, None)

    result = restore_test(file_storage, info, lo_db.target)

    assert result.passed, result.to_dict()
    check = _check(result, "large_objects")
    assert check.status == "warn" and "older pgdba" in check.detail
