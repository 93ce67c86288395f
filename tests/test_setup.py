"""`pgdba setup pg-stat-statements --apply` on a server that does not preload the library."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.setup import apply_pg_stat_statements_setup, pg_stat_statements_status
from pgdba.target import resolve_target
from tests.clusters import own_cluster
from tests.conftest import TestDatabase


@pytest.fixture
def unprepared_cluster() -> Iterator[EmbeddedCluster]:
    """A cluster preloading only auto_explain: pg_stat_statements is neither loaded nor created."""
    with own_cluster("test-setup") as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'auto_explain'")
        cluster.restart()
        yield cluster


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

    assert applied.applied == [
        "ALTER SYSTEM SET shared_preload_libraries = 'auto_explain', 'pg_stat_statements';",
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;",
    ]
    assert not applied.ready and [step.code for step in applied.steps] == ["restart_pending"]
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


def test_apply_with_a_restart_it_may_do_reports_ready_after_it(unprepared_cluster: EmbeddedCluster) -> None:
    target = resolve_target(unprepared_cluster.dsn(), {})
    started = _postmaster_start(unprepared_cluster.dsn())

    status = apply_pg_stat_statements_setup(target, may_restart=True, restart=unprepared_cluster.restart)

    assert status.restarted and _postmaster_start(unprepared_cluster.dsn()) != started
    assert status.ready and status.steps == [] and not status.restart_required
    assert len(status.applied) == 2


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
    unknown = pg_stat_statements_status(plain).steps[0]
    assert unknown.code == "library_preload_unknown"
    assert unknown.sql is None and not unknown.can_apply and "a superuser must check" in unknown.fix
    with psycopg.connect(unprepared_cluster.dsn(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
    # with the extension created, its view not answering proves the library is not loaded
    step = pg_stat_statements_status(plain).steps[0]
    assert step.code == "library_not_preloaded"
    assert step.sql is None and not step.can_apply
    assert "cannot read shared_preload_libraries" in step.fix


@pytest.fixture
def plain_role(db: TestDatabase) -> Iterator[str]:
    """The DSN of a login role with no privileges on the test database (it cannot read the preload list)."""
    name = f"setup_{uuid.uuid4().hex[:8]}"
    db.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'Setup-Plain-1'")
    yield f"postgresql://{name}:Setup-Plain-1@127.0.0.1:{db.cluster.port}/{db.name}"
    db.execute(f"DROP OWNED BY {name}")
    db.execute(f"DROP ROLE {name}")


def test_cli_apply_reports_the_state_after_the_fix_and_exits_0(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("DROP EXTENSION pg_stat_statements")
    code = main(["setup", "pg-stat-statements", "--dsn", db.dsn, "--apply", "--format", "json"])
    status = json.loads(capsys.readouterr().out)
    assert code == 0
    assert status["ready"] is True and status["missing"] == []
    assert status["applied"] == ["CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"]


def test_cli_apply_table_output_says_what_it_applied(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("DROP EXTENSION pg_stat_statements")
    code = main(["setup", "pg-stat-statements", "--dsn", db.dsn, "--apply"])
    out = capsys.readouterr().out
    assert code == 0
    assert "pg_stat_statements is ready" in out and "not ready" not in out
    assert "applied: CREATE EXTENSION IF NOT EXISTS pg_stat_statements;" in out


def test_a_role_that_cannot_read_the_preload_list_is_told_it_is_unknown_not_missing(
    db: TestDatabase, plain_role: str
) -> None:
    db.execute("DROP EXTENSION pg_stat_statements")  # the library is preloaded; the view cannot prove it
    codes = [step.code for step in pg_stat_statements_status(resolve_target(plain_role, {})).steps]
    assert codes == ["library_preload_unknown", "extension_not_created", "no_privilege"]


def test_cli_apply_that_can_fix_nothing_exits_1(
    db: TestDatabase, plain_role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("DROP EXTENSION pg_stat_statements")
    code = main(["setup", "pg-stat-statements", "--dsn", plain_role, "--apply", "--format", "json"])
    status = json.loads(capsys.readouterr().out)
    assert code == 1
    assert status["ready"] is False and status["applied"] == []
    assert [step["code"] for step in status["missing"]] == [
        "library_preload_unknown",
        "extension_not_created",
        "no_privilege",
    ]
