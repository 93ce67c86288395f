"""Large objects' contents: digested on the server at backup time (a bounded sample), digested again in the
restored copy, compared by oid."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import conninfo, sql

from pgdba.backup import BackupFailed, find_backup, restore_test, run_backup
from pgdba.backup.catalog import count_large_objects, large_object_digests
from pgdba.backup.tools import find_pg_tools
from pgdba.target import Target
from tests.backup.older_manifests import as_written_before
from tests.backup.pg_dump_variants import pg_dump_output_altered

ATTACHMENTS_SQL = """
CREATE TABLE attachment (id int PRIMARY KEY, blob oid NOT NULL);
INSERT INTO attachment SELECT g, lo_from_bytea(0, convert_to(repeat('page ' || g, 100), 'UTF8'))
  FROM generate_series(1, %(count)s) AS g;
"""

# 2.5 MiB: three of the digest's 1 MiB chunks
SCAN_SQL = """
INSERT INTO attachment
SELECT 1000, lo_from_bytea(0, convert_to(repeat(md5('scan'), 81920), 'UTF8'))
"""


def _attachments(db, count: int = 3):  # type: ignore[no-untyped-def]
    db.execute(ATTACHMENTS_SQL.replace("%(count)s", str(count)))
    return db


@pytest.fixture
def lo_db(db):  # type: ignore[no-untyped-def]
    return _attachments(db)


def _blob(db, attachment_id: int) -> int:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        row = conn.execute("SELECT blob FROM attachment WHERE id = %s", (attachment_id,)).fetchone()
    assert row is not None
    return int(row[0])


def _check(result, name):  # type: ignore[no-untyped-def]
    return next(c for c in result.checks if c.name == name)


@pytest.mark.catalog
@pytest.mark.parametrize("exact", [True, False])
def test_restore_test_fails_when_a_large_objects_contents_differ_in_the_archive(
    lo_db, file_storage, server_major, tmp_path, exact
):
    # the archive is damaged before pgdba hashes it: its sha256 matches the manifest, pg_restore restores
    # it without an error, the count of large objects is right; only attachment 2's contents are wrong
    tools = pg_dump_output_altered(find_pg_tools(server_major), tmp_path / "bin", b"page 2", b"PAGE 2")
    manifest = run_backup(
        lo_db.target, file_storage, exact=exact, compress=0, include_globals=False, tools=tools
    )
    info = find_backup(file_storage, manifest.backup_id, None)

    result = restore_test(file_storage, info, lo_db.target)

    assert not result.passed
    failing = {c.name: c.detail for c in result.checks if c.status == "fail"}
    oid = _blob(lo_db, 2)
    assert failing == {
        "large_objects.content": (
            f"contents differ from the source: oid {oid}: other contents, the source's 600 bytes; "
            "2 large object(s) identical to the source (1200 bytes)"
        )
    }
    assert _check(result, "archive.sha256").status == "pass"
    assert _check(result, "large_objects").status == "pass"
    assert result.to_dict()["large_object_content"]["differ"] == [
        f"oid {oid}: other contents, the source's 600 bytes"
    ]


@pytest.mark.catalog
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_whole_database_dump_carries_every_large_object_and_the_restore_test_compares_them(
    lo_db, file_storage, jobs
):
    lo_db.execute(SCAN_SQL)
    manifest = run_backup(lo_db.target, file_storage, jobs=jobs, include_globals=False)
    digests = manifest.large_object_digests
    assert digests is not None and digests.total == 4 and digests.not_covered == {}
    recorded = {d.oid: d for d in digests.objects}
    first = recorded[_blob(lo_db, 1)]
    # one chunk: the md5 of the content's md5
    content = ("page 1" * 100).encode()
    assert (first.size, first.md5) == (
        600,
        hashlib.md5(hashlib.md5(content).hexdigest().encode()).hexdigest(),
    )
    assert recorded[_blob(lo_db, 1000)].size == 32 * 81920
    info = find_backup(file_storage, manifest.backup_id, None)

    result = restore_test(file_storage, info, lo_db.target)

    assert result.passed, result.to_dict()
    check = _check(result, "large_objects.content")
    assert check.status == "pass"
    assert check.detail == f"4 large object(s) identical to the source ({3 * 600 + 32 * 81920} bytes)"


@pytest.mark.catalog
def test_a_larger_large_object_in_the_copy_is_a_failure_read_no_further_than_the_sources_size(
    lo_db, file_storage
):
    """An object longer in the copy than at backup time (here: a newer archive checked against the digests
    of an earlier backup, after the source appended to it) fails by its size; its contents are not read."""
    manifest = run_backup(lo_db.target, file_storage, exact=True, include_globals=False)
    oid = _blob(lo_db, 3)
    lo_db.execute(f"SELECT lo_put({oid}, 600, 'appended')")  # the source moves on after the backup
    second = run_backup(lo_db.target, file_storage, exact=True, include_globals=False)
    newer = find_backup(file_storage, second.backup_id, None)
    assert newer.manifest is not None and manifest.large_object_digests is not None
    newer.manifest.large_object_digests = manifest.large_object_digests  # what the first backup recorded

    result = restore_test(file_storage, newer, lo_db.target)

    check = _check(result, "large_objects.content")
    assert check.status == "fail"
    assert check.detail.startswith(
        f"contents differ from the source: oid {oid}: 608 bytes, the source's 600 bytes"
    )


@pytest.mark.catalog
def test_large_object_digests_stay_within_the_object_and_byte_limits_and_say_what_they_left_out(
    db, file_storage
):
    lo_db = _attachments(db, 10)
    manifest = run_backup(
        lo_db.target,
        file_storage,
        include_globals=False,
        large_object_digest_objects=4,
        large_object_digest_bytes=1300,
    )
    digests = manifest.large_object_digests
    assert digests is not None
    oids = [_blob(lo_db, g) for g in range(1, 11)]
    # every third oid (spread over the range), then the byte budget stops after two 600-byte objects
    assert [d.oid for d in digests.objects] == [oids[0], oids[3]]
    assert digests.not_covered == {"over_object_limit": 6, "over_byte_limit": 2}
    info = find_backup(file_storage, manifest.backup_id, None)

    result = restore_test(file_storage, info, lo_db.target)

    assert result.passed, result.to_dict()
    check = _check(result, "large_objects.content")
    assert check.status == "pass"
    assert check.detail == (
        "2 large object(s) identical to the source (1200 bytes); not compared, of the source's 10: "
        "6 past the 4-object limit, 2 past the 1300-byte limit"
    )


@pytest.mark.catalog
def test_no_large_object_digested_when_the_limit_is_zero_is_a_warning(lo_db, file_storage):
    manifest = run_backup(lo_db.target, file_storage, include_globals=False, large_object_digest_objects=0)
    info = find_backup(file_storage, manifest.backup_id, None)

    result = restore_test(file_storage, info, lo_db.target)

    assert result.passed, result.to_dict()
    check = _check(result, "large_objects.content")
    assert check.status == "warn"
    assert check.detail == (
        "0 large object(s) identical to the source (0 bytes); not compared, of the source's 3: "
        "3 past the 0-object limit"
    )


@pytest.mark.catalog
def test_a_large_object_changed_while_pg_dump_ran_is_read_again_and_no_failure(lo_db, file_storage):
    oid = _blob(lo_db, 1)
    changed: list[bool] = []

    def change_during_the_dump(_done: int) -> None:
        if not changed:
            with psycopg.connect(lo_db.dsn, autocommit=True) as conn:
                conn.execute(f"SELECT lo_put({oid}, 0, 'PAGE')")
            changed.append(True)

    manifest = run_backup(lo_db.target, file_storage, include_globals=False, progress=change_during_the_dump)
    digests = manifest.large_object_digests
    assert changed and digests is not None and digests.read_at_dump_end
    recorded = {d.oid: d for d in digests.objects}
    assert recorded[oid].dump_end_size == 600 and recorded[oid].dump_end_md5 != recorded[oid].md5
    assert recorded[_blob(lo_db, 2)].dump_end_md5 is None  # unchanged
    info = find_backup(file_storage, manifest.backup_id, None)

    result = restore_test(file_storage, info, lo_db.target)

    assert result.passed, result.to_dict()
    assert _check(result, "large_objects.content").status == "pass"

    # had pg_dump's snapshot caught a third version, the copy would match neither reading: a warning only
    assert info.manifest is not None and info.manifest.large_object_digests is not None
    first = next(d for d in info.manifest.large_object_digests.objects if d.oid == oid)
    first.md5 = "0" * 32
    uncertain = restore_test(file_storage, info, lo_db.target)
    check = _check(uncertain, "large_objects.content")
    assert (
        check.status == "warn"
        and "changed while the dump ran" in check.detail
        and f"oid {oid}" in check.detail
    )


@pytest.mark.catalog
def test_large_objects_missing_from_the_archive_are_named_by_oid(lo_db, file_storage, server_major, tmp_path):
    from tests.backup.pg_dump_variants import pg_dump_with_options

    tools = pg_dump_with_options(find_pg_tools(server_major), tmp_path / "bin", "--no-blobs")
    manifest = run_backup(lo_db.target, file_storage, exact=True, include_globals=False, tools=tools)
    info = find_backup(file_storage, manifest.backup_id, None)

    result = restore_test(file_storage, info, lo_db.target)

    oids = ", ".join(f"oid {_blob(lo_db, g)}" for g in (1, 2, 3))
    check = _check(result, "large_objects.content")
    assert check.status == "fail"
    assert (
        check.detail == f"missing after restore: {oids}; 0 large object(s) identical to the source (0 bytes)"
    )


@pytest.mark.catalog
@pytest.mark.parametrize(
    "fields",
    [
        ("sequences", "large_objects", "large_objects_at_dump_end", "large_object_digests"),
        ("large_object_digests",),
    ],
    ids=["before-restore-facts", "before-digests"],
)
def test_a_manifest_without_large_object_digests_still_restore_tests_with_a_note(
    lo_db, file_storage, backup_dir, fields
):
    manifest = run_backup(lo_db.target, file_storage, include_globals=False)
    as_written_before(backup_dir, manifest, fields)
    info = find_backup(file_storage, manifest.backup_id, None)
    assert info.manifest is not None and info.manifest.large_object_digests is None

    result = restore_test(file_storage, info, lo_db.target)

    assert result.passed, result.to_dict()
    check = _check(result, "large_objects.content")
    assert check.status == "warn" and "older pgdba" in check.detail
    assert result.to_dict()["large_object_content"] is None


@pytest.fixture
def lo_reader(lo_db) -> Iterator[Target]:  # type: ignore[no-untyped-def]
    """A LOGIN role that may read the table and attachment 1's large object only."""
    name = f"lo_reader_{uuid.uuid4().hex[:8]}"
    role = sql.Identifier(name)
    lo_db.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'reader'").format(role).as_string())
    lo_db.execute(sql.SQL("GRANT SELECT ON attachment TO {}").format(role).as_string())
    lo_db.execute(
        sql.SQL("GRANT SELECT ON LARGE OBJECT {} TO {}")
        .format(sql.Literal(_blob(lo_db, 1)), role)
        .as_string()
    )
    yield Target(conninfo.make_conninfo(lo_db.dsn, user=name, password="reader", passfile=""))
    with psycopg.connect(lo_db.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(role))
        conn.execute(sql.SQL("DROP ROLE {}").format(role))


@pytest.mark.catalog
def test_large_objects_the_role_may_not_read_are_noted_not_a_failure(lo_db, lo_reader, file_storage):
    # pg_dump itself stops at the first large object the role may not read; the digests before it do not
    with pytest.raises(BackupFailed, match="could not open large object"):
        run_backup(lo_reader, file_storage, include_globals=False)
    with lo_reader.connect(autocommit=False) as conn:  # as in --exact's snapshot transaction
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        digests = large_object_digests(conn, count_large_objects(conn), 1000, 1 << 20)
        assert count_large_objects(conn) == 3  # the refusals did not abort the transaction
    unreadable = [_blob(lo_db, 2), _blob(lo_db, 3)]
    assert [d.oid for d in digests.objects] == [_blob(lo_db, 1)]
    assert digests.not_covered == {"unreadable": 2} and digests.unreadable_oids == unreadable
    # a backup whose digests were taken by such a role (pg_dump run as a superuser, or without blobs)
    manifest = run_backup(lo_db.target, file_storage, exact=True, include_globals=False)
    info = find_backup(file_storage, manifest.backup_id, None)
    assert info.manifest is not None
    info.manifest.large_object_digests = digests

    result = restore_test(file_storage, info, lo_db.target)

    assert result.passed, result.to_dict()
    check = _check(result, "large_objects.content")
    assert check.status == "pass"
    assert check.detail == (
        "1 large object(s) identical to the source (600 bytes); not compared, of the source's 3: "
        "2 not readable by the backup role (it needs SELECT on them, superuser or lo_compat_privileges) "
        f"(oid {unreadable[0]}, oid {unreadable[1]})"
    )
