"""pg_dump discovery: the server's major, else the nearest newer one, or a clear refusal."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from pgdba.backup.storage import FileStorage, S3Storage, open_storage
from pgdba.backup.tools import PgTools, choose_pg_dump, find_pg_tools, tool_version
from pgdba.cli import main
from pgdba.errors import InputError, NotAvailable


@pytest.mark.catalog
def test_pg_dump_of_the_server_major_is_found(server_major):
    tools = find_pg_tools(server_major)
    assert tools.major >= server_major
    assert tool_version(Path(tools.pg_restore)) is not None


@pytest.mark.catalog
def test_older_pg_dump_than_the_server_is_refused_with_a_clear_message(server_major):
    bin_dir = find_pg_tools(server_major).bin_dir
    newer_server = tool_version(bin_dir / "pg_dump")[0] + 1  # type: ignore[index]
    with pytest.raises(NotAvailable) as error:
        find_pg_tools(newer_server, {"PGDBA_PG_BIN": str(bin_dir), "PATH": ""})
    message = str(error.value)
    assert f"needs pg_dump {newer_server} or newer" in message
    assert f"{bin_dir}/pg_dump is {newer_server - 1}" in message
    assert f"postgresql-client-{newer_server}" in message


def _installed(*majors: int) -> list[PgTools]:
    return [PgTools(Path(f"/opt/pg{m}/bin"), m, f"pg_dump (PostgreSQL) {m}.1") for m in majors]


def test_the_pg_dump_of_the_server_major_is_preferred_over_a_newer_one():
    # pg_dump 18's archive needs pg_restore 18, which sends SET transaction_timeout: a PostgreSQL 15
    # scratch server rejects it, so a 15 server's backups taken with pg_dump 18 never pass a restore test
    assert choose_pg_dump(_installed(18, 15, 17), 15).major == 15
    assert choose_pg_dump(_installed(18, 14, 17), 15).major == 17
    assert choose_pg_dump(_installed(18), 16).major == 18


def test_only_older_pg_dumps_are_refused_naming_each_one_seen():
    with pytest.raises(NotAvailable) as error:
        choose_pg_dump(_installed(14, 13), 15)
    message = str(error.value)
    assert "\n" not in message
    assert "needs pg_dump 15 or newer (/opt/pg14/bin/pg_dump is 14; /opt/pg13/bin/pg_dump is 13)" in message
    with pytest.raises(NotAvailable, match=r"needs pg_dump 15 or newer \(no pg_dump found\)"):
        choose_pg_dump([], 15)


def test_backup_run_without_a_usable_pg_dump_is_one_line_and_exit_2(db, backup_dir, monkeypatch, capsys):
    empty = tempfile.mkdtemp(prefix="pgdba-no-pg-")
    monkeypatch.setenv("PGDBA_PG_BIN", empty)
    code = main(["backup", "run", "--dsn", db.dsn, "--storage", str(backup_dir)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "no pg_dump found" in err and "Traceback" not in err
    assert not list(backup_dir.rglob("*"))
    Path(empty).rmdir()


def test_storage_urls_are_checked(tmp_path, monkeypatch):
    monkeypatch.delenv("PGDBA_BACKUP_STORAGE", raising=False)
    assert isinstance(open_storage(f"file://{tmp_path}"), FileStorage)
    assert isinstance(open_storage(str(tmp_path)), FileStorage)
    s3 = open_storage("s3://bucket/some/prefix/", region="us-east-1")
    assert isinstance(s3, S3Storage) and (s3.bucket, s3.prefix) == ("bucket", "some/prefix")
    for bad, message in (
        (None, "no backup storage given"),
        ("file://relative/dir", "three slashes"),
        ("s3:///nobucket", "has no bucket"),
        ("gs://bucket", "unsupported --storage scheme"),
    ):
        with pytest.raises(InputError, match=message):
            open_storage(bad)
    monkeypatch.setenv("PGDBA_BACKUP_STORAGE", f"file://{tmp_path}")
    assert open_storage(None).url == f"file://{tmp_path}"
