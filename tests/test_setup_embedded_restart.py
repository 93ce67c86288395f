"""`pgdba setup pg-stat-statements --apply` restarts an embedded cluster of pgdba's wherever its data root is,
and never a server pgdba did not start."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.setup import embedded_cluster_root
from pgdba.target import resolve_target
from tests.clusters import own_cluster


def _postmaster_start(dsn: str) -> object:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
        assert row is not None
        return row[0]


def _preload_auto_explain_only(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'auto_explain'")


@pytest.fixture
def cluster_in_own_dir() -> Iterator[EmbeddedCluster]:
    """pgdba's embedded cluster under a data root of its own (`pgdba embedded start --dir DIR`), without
    pg_stat_statements preloaded."""
    with own_cluster("setup-own-dir") as cluster:
        _preload_auto_explain_only(cluster.dsn())
        cluster.restart()
        yield cluster


@pytest.fixture
def foreign_cluster_dsn() -> Iterator[str]:
    """A server pgdba did not start: a data directory without pgdba's settings file, started with pg_ctl."""
    with own_cluster("setup-foreign") as cluster:
        port = cluster.port
        cluster.stop()
        conf = cluster.data_dir / "postgresql.conf"
        settings = (cluster.data_dir / "pgdba.conf").read_text()
        conf.write_text(conf.read_text().replace("include = 'pgdba.conf'", settings))
        (cluster.data_dir / "pgdba.conf").unlink()
        pg_ctl = [
            str(cluster.bin_dir / "pg_ctl"),
            "-D",
            str(cluster.data_dir),
            "-l",
            str(cluster.log_file),
            "-w",
        ]
        cluster._run([*pg_ctl, "start"])
        dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres?passfile={cluster.passfile}"
        try:
            _preload_auto_explain_only(dsn)
            cluster._run([*pg_ctl, "-m", "fast", "restart"])
            yield dsn
        finally:
            cluster._run([*pg_ctl, "-m", "fast", "stop"])


def test_an_embedded_cluster_outside_the_default_root_is_recognised(
    cluster_in_own_dir: EmbeddedCluster,
) -> None:
    root = embedded_cluster_root(resolve_target(cluster_in_own_dir.dsn(), {}))

    assert root == cluster_in_own_dir.data_root
    assert root is not None and Path(root).parent == Path("/tmp")


def test_cli_apply_restarts_the_embedded_cluster_of_a_custom_dir_and_exits_0(
    cluster_in_own_dir: EmbeddedCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    started = _postmaster_start(cluster_in_own_dir.dsn())

    code = main(
        ["setup", "pg-stat-statements", "--dsn", cluster_in_own_dir.dsn(), "--apply", "--format", "json"]
    )

    status = json.loads(capsys.readouterr().out)
    assert code == 0, status
    assert status["ready"] is True and status["restarted"] is True and status["missing"] == []
    assert not any("never restarts" in note for note in status["notes"])
    assert _postmaster_start(cluster_in_own_dir.dsn()) != started


def test_a_server_pgdba_did_not_start_is_not_recognised_nor_restarted(
    foreign_cluster_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert embedded_cluster_root(resolve_target(foreign_cluster_dsn, {})) is None
    started = _postmaster_start(foreign_cluster_dsn)

    code = main(["setup", "pg-stat-statements", "--dsn", foreign_cluster_dsn, "--apply", "--format", "json"])

    status = json.loads(capsys.readouterr().out)
    assert code == 1
    assert status["restarted"] is False and [s["code"] for s in status["missing"]] == ["restart_pending"]
    assert status["restart_required"] is True and status["applied"] == [
        "ALTER SYSTEM SET shared_preload_libraries = 'auto_explain', 'pg_stat_statements';",
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;",
    ]
    assert any("never restarts a server it did not start" in note for note in status["notes"])
    assert _postmaster_start(foreign_cluster_dsn) == started


def test_table_output_says_a_restart_is_needed_before_apply(
    cluster_in_own_dir: EmbeddedCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["setup", "pg-stat-statements", "--dsn", cluster_in_own_dir.dsn()]) == 1
    table = capsys.readouterr().out
    assert "restart" in table.lower() and "takes effect only after PostgreSQL restarts" in table

    assert (
        main(["setup", "pg-stat-statements", "--dsn", cluster_in_own_dir.dsn(), "--format", "markdown"]) == 1
    )
    markdown = capsys.readouterr().out
    assert "takes effect only after PostgreSQL restarts" in markdown
