"""pg_dump discovery: the server's major or newer, or a clear refusal."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from pgdba.backup.tools import find_pg_tools, tool_version
from pgdba.cli import main
from pgdba.errors import NotAvailable


def test_pg_dump_of_the_server_major_is_found(server_major):
    tools = find_pg_tools(server_major)
    assert tools.major >= server_major
    assert tool_version(Path(tools.pg_restore)) is not None


def test_older_pg_dump_than_the_server_is_refused_with_a_clear_message(server_major):
    bin_dir = find_pg_tools(server_major).bin_dir
    newer_server = tool_version(bin_dir / "pg_dump")[0] + 1  # type: ignore[index]
    with pytest.raises(NotAvailable) as error:
        find_pg_tools(newer_server, {"PGDBA_PG_BIN": str(bin_dir), "PATH": ""})
    message = str(error.value)
    assert f"needs pg_dump {newer_server} or newer" in message
    assert f"{bin_dir}/pg_dump is {newer_server - 1}" in message
    assert f"postgresql-client-{newer_server}" in message


def test_backup_run_without_a_usable_pg_dump_is_one_line_and_exit_2(db, backup_dir, monkeypatch, capsys):
    empty = tempfile.mkdtemp(prefix="pgdba-no-pg-")
    monkeypatch.setenv("PGDBA_PG_BIN", empty)
    code = main(["backup", "run", "--dsn", db.dsn, "--storage", str(backup_dir)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "no pg_dump found" in err and "Traceback" not in err
    assert not list(backup_dir.rglob("*"))
    Path(empty).rmdir()
