"""The embedded cluster on every major: start, idempotent start, stop, stale pid file, port taken.

One extra cluster per run (initdb costs seconds); each test first brings it to the state it needs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.errors import EmbeddedClusterError
from pgdba.server import load_server_facts
from pgdba.setup import pg_stat_statements_status
from pgdba.target import resolve_target

pytestmark = pytest.mark.catalog


@pytest.fixture(scope="module")
def cluster(pg_cluster: EmbeddedCluster) -> Iterator[EmbeddedCluster]:
    root = Path(tempfile.mkdtemp(prefix="pgdba-matrix-embedded-"))
    os.chmod(root, 0o755)
    # the same build as the session cluster, so PGDBA_PG_BIN selects what this module tests
    embedded = EmbeddedCluster(root / "cluster", bin_dir=pg_cluster.bin_dir)
    try:
        yield embedded
    finally:
        embedded.destroy()
        os.rmdir(root)


def _server_major(cluster: EmbeddedCluster) -> int:
    with psycopg.connect(cluster.dsn(), connect_timeout=5) as conn:
        return conn.info.server_version // 10000


def test_first_start_creates_a_cluster_of_the_selected_build(
    cluster: EmbeddedCluster, server_major: int
) -> None:
    status = cluster.start()
    assert status.running and status.pid is not None
    assert status.version == str(server_major)
    assert _server_major(cluster) == server_major
    assert (cluster.passfile.stat().st_mode & 0o777) == 0o600
    assert "passfile=" in (status.dsn or "") and ":@" not in (status.dsn or "")


def test_start_when_running_changes_nothing(cluster: EmbeddedCluster) -> None:
    first = cluster.start()
    again = cluster.start()
    assert again.running
    assert (again.pid, again.port) == (first.pid, first.port)


def test_embedded_cluster_preloads_query_statistics(cluster: EmbeddedCluster) -> None:
    cluster.start()
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        facts = load_server_facts(conn)
    assert facts.pg_stat_statements_ready
    assert ("hypopg" in facts.preload_libraries) == cluster.hypopg_available()
    assert facts.setting("track_io_timing") == "on"


def test_stop_stops_and_a_second_stop_is_harmless(cluster: EmbeddedCluster) -> None:
    cluster.start()
    stopped = cluster.stop()
    assert not stopped.running and stopped.pid is None
    assert not (cluster.data_dir / "postmaster.pid").exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(cluster.dsn(), connect_timeout=2)
    assert not cluster.stop().running


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("stale", ["dead-process", "unrelated-process"])
def test_start_clears_a_stale_pid_file(cluster: EmbeddedCluster, server_major: int, stale: str) -> None:
    cluster.stop()
    pid = _dead_pid() if stale == "dead-process" else os.getpid()
    pidfile = cluster.data_dir / "postmaster.pid"
    pidfile.write_text(f"{pid}\n{cluster.data_dir}\n")
    assert not cluster.status().running
    status = cluster.start()
    assert status.running and status.pid != pid
    assert _server_major(cluster) == server_major


def test_port_taken_by_another_process_is_a_clear_error(cluster: EmbeddedCluster) -> None:
    cluster.stop()
    port = cluster.port
    assert port is not None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        # the stopped server's connections may linger in TIME_WAIT on this port
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(EmbeddedClusterError, match=f"port {port} on 127.0.0.1 is taken"):
            cluster.start()
    assert not cluster.status().running
    assert cluster.start().port == port


def test_start_ignores_connections_lingering_on_the_port(cluster: EmbeddedCluster) -> None:
    cluster.stop()
    port = cluster.port
    assert port is not None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the listening side closes first, as a stopping server does: TIME_WAIT
            assert client.recv(1) == b""
    assert cluster.start().running


def test_restart_keeps_port_and_data(cluster: EmbeddedCluster) -> None:
    cluster.start()
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS kept")
        conn.execute("CREATE TABLE kept AS SELECT 7 AS n")
    before = cluster.status()
    after = cluster.restart()
    assert after.running and after.pid != before.pid and after.port == before.port
    with psycopg.connect(cluster.dsn()) as conn:
        assert conn.execute("SELECT n FROM kept").fetchone() == (7,)


def test_status_command_reports_the_version_as_json(
    cluster: EmbeddedCluster, server_major: int, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.start()
    code = main(["embedded", "status", "--dir", str(cluster.data_root), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["running"] and report["version"] == str(server_major)


def test_library_not_preloaded_is_found_for_superuser_and_plain_role(cluster: EmbeddedCluster) -> None:
    cluster.start()
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("DROP ROLE IF EXISTS matrix_plain")
        conn.execute("CREATE ROLE matrix_plain LOGIN PASSWORD 'Matrix-Plain-1'")
        conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'auto_explain'")
    cluster.restart()
    try:
        superuser = pg_stat_statements_status(resolve_target(cluster.dsn()))
        plain_dsn = f"postgresql://matrix_plain:Matrix-Plain-1@127.0.0.1:{cluster.port}/postgres"
        with resolve_target(plain_dsn).connect() as conn:
            plain = load_server_facts(conn)
    finally:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM RESET shared_preload_libraries")
            conn.execute("DROP ROLE matrix_plain")
        cluster.restart()
    assert [s.code for s in superuser.steps] == ["library_not_preloaded"]
    assert superuser.restart_required
    assert not plain.preload_libraries_visible
    assert not plain.pg_stat_statements_preloaded


def test_a_preloaded_library_that_is_not_installed_is_named_before_starting(cluster: EmbeddedCluster) -> None:
    cluster.start()
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(
            "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', 'pgdba_removed_library'"
        )
    cluster.stop()
    auto_conf = cluster.data_dir / "postgresql.auto.conf"
    try:
        with pytest.raises(
            EmbeddedClusterError, match="preloads pgdba_removed_library, not installed"
        ) as err:
            cluster.start()
        assert str(auto_conf) in str(err.value)
        assert not cluster.status().running
    finally:
        # the server cannot start to RESET it: remove the line as the message says
        lines = auto_conf.read_text().splitlines(keepends=True)
        auto_conf.write_text("".join(line for line in lines if "shared_preload_libraries" not in line))
    assert cluster.start().running


def test_a_new_cluster_on_an_unusable_port_leaves_nothing_behind(
    cluster: EmbeddedCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "never-created"
    fresh = EmbeddedCluster(root, bin_dir=cluster.bin_dir)
    with pytest.raises(EmbeddedClusterError, match="port 80: use 1024–65535"):
        fresh.start(80)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        with pytest.raises(EmbeddedClusterError, match=f"port {taken} on 127.0.0.1 is taken"):
            fresh.start(taken)
    assert not root.exists()  # no initdb ran
    code = main(["embedded", "status", "--dir", str(root)])
    out = capsys.readouterr().out
    assert code == 1 and "no cluster here yet" in out and not root.exists()


def test_a_relative_data_root_is_made_absolute_and_an_empty_one_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = EmbeddedCluster("rel")
    # initdb runs in another directory, and the DSN's passfile must not depend on where pgdba was started
    assert relative.data_root == tmp_path / "rel" and relative.passfile.is_absolute()
    with pytest.raises(EmbeddedClusterError, match="an empty data root"):
        EmbeddedCluster("")
    assert main(["embedded", "start", "--dir", ""]) == 2
    assert "an empty data root" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
