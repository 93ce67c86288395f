"""`pgdba setup pg-stat-statements --apply` on a server that does not preload the library."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.setup import apply_pg_stat_statements_setup, pg_stat_statements_status
from pgdba.target import resolve_target


@pytest.fixture
def unprepared_cluster() -> Iterator[EmbeddedCluster]:
    """A cluster preloading only auto_explain: pg_stat_statements is neither loaded nor created."""
    root = Path(tempfile.mkdtemp(prefix="pgdba-test-setup-"))
    os.chmod(root, 0o755)
    cluster = EmbeddedCluster(root, settings={"max_connections": "20"})
    cluster.start()
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'auto_explain'")
    cluster.restart()
    try:
        yield cluster
    finally:
        cluster.destroy()


def _postmaster_start(dsn: str) -> object:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
        assert row is not None
        return row[0]


def test_apply_keeps_existing_preloads_and_never_restarts_a_server_it_did_not_start(
    unprepared_cluster: EmbeddedCluster,
) -> None:
    target = resolve_target(unprepared_cluster.dsn(), {})
    status = pg_stat_statements_status(target)
    codes = [step.code for step in status.steps]
    assert codes == ["library_not_preloaded", "extension_not_created"]
    assert (
        status.steps[0].sql
        == "ALTER SYSTEM SET shared_preload_libraries = 'auto_explain', 'pg_stat_statements';"
    )
    started = _postmaster_start(unprepared_cluster.dsn())

    applied = apply_pg_stat_statements_setup(target, may_restart=False)

    assert applied.restart_required and not applied.restarted
    assert any("restart PostgreSQL" in note for note in applied.notes)
    assert _postmaster_start(unprepared_cluster.dsn()) == started
    with psycopg.connect(unprepared_cluster.dsn()) as conn:
        pending = conn.execute(
            "SELECT setting FROM pg_file_settings WHERE name = 'shared_preload_libraries'"
            " ORDER BY seqno DESC LIMIT 1"
        ).fetchone()
        created = conn.execute(
            "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
        ).fetchone()
    assert pending == ("auto_explain, pg_stat_statements",)
    assert created == (1,)
    unprepared_cluster.restart()
    assert pg_stat_statements_status(target).ready


def test_cli_without_apply_reports_and_exits_1(
    unprepared_cluster: EmbeddedCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["setup", "pg-stat-statements", "--dsn", unprepared_cluster.dsn(), "--format", "json"]) == 1
    out = capsys.readouterr().out
    assert '"ready": false' in out and "library_not_preloaded" in out
    with psycopg.connect(unprepared_cluster.dsn()) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
        ).fetchone()
    assert row == (0,)


def test_a_role_that_cannot_read_the_preload_list_gets_no_statement_that_would_overwrite_it(
    unprepared_cluster: EmbeddedCluster,
) -> None:
    with psycopg.connect(unprepared_cluster.dsn(), autocommit=True) as conn:
        conn.execute("CREATE ROLE setup_plain LOGIN PASSWORD 'Setup-Plain-1'")
    plain = resolve_target(
        f"postgresql://setup_plain:Setup-Plain-1@127.0.0.1:{unprepared_cluster.port}/postgres", {}
    )
    step = next(s for s in pg_stat_statements_status(plain).steps if s.code == "library_not_preloaded")
    assert step.sql is None and not step.can_apply
    assert "cannot read shared_preload_libraries" in step.fix
