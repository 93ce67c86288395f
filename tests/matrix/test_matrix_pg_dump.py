"""The pg_dump version rule against real servers of every major: Debian's pg_dump 15 dumps 14 and 15,
and is refused (clearly, before running) for 16, 17 and 18, which it really cannot dump."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pgdba.backup.tools import find_pg_tools
from pgdba.cli import main
from pgdba.errors import NotAvailable
from tests.conftest import TestDatabase

pytestmark = pytest.mark.catalog

DEBIAN_15 = Path("/usr/lib/postgresql/15/bin")


def _pg_dump_15(db: TestDatabase) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DEBIAN_15 / "pg_dump"), "--schema-only", "--dbname", db.dsn],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.pg("<= 15")
def test_an_older_or_equal_server_is_dumped_with_pg_dump_15(db: TestDatabase, server_major: int) -> None:
    db.execute("CREATE TABLE dumped_here (id int)")
    tools = find_pg_tools(server_major, {"PGDBA_PG_BIN": str(DEBIAN_15), "PATH": ""})
    assert (tools.bin_dir, tools.major) == (DEBIAN_15, 15)
    result = _pg_dump_15(db)
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE public.dumped_here" in result.stdout


@pytest.mark.pg(">= 16")
def test_a_newer_server_refuses_pg_dump_15_before_running_it(db: TestDatabase, server_major: int) -> None:
    with pytest.raises(NotAvailable, match=f"needs pg_dump {server_major} or newer"):
        find_pg_tools(server_major, {"PGDBA_PG_BIN": str(DEBIAN_15), "PATH": ""})
    # the rule is real: run anyway, pg_dump 15 aborts on this server
    result = _pg_dump_15(db)
    assert result.returncode != 0
    assert "server version mismatch" in result.stderr


@pytest.mark.pg(">= 16")
def test_backup_run_with_pg_dump_15_on_a_newer_server_is_one_line_and_exit_2(
    db: TestDatabase,
    server_major: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PGDBA_PG_BIN", str(DEBIAN_15))
    code = main(["backup", "run", "--dsn", db.dsn, "--storage", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert f"needs pg_dump {server_major} or newer" in err
    assert not list(tmp_path.rglob("*"))


def test_the_build_under_test_dumps_its_own_server(db: TestDatabase, server_major: int) -> None:
    db.execute("CREATE TABLE dumped_by_own_build (id int)")
    tools = find_pg_tools(server_major)
    assert tools.major == server_major
    result = subprocess.run(
        [tools.pg_dump, "--schema-only", "--dbname", db.dsn],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE public.dumped_by_own_build" in result.stdout
