"""pgdba between a client and a real PgBouncer: its session settings (statement_timeout, lock_timeout, the
read-only guard) go to the server as startup options, which PgBouncer refuses, or, told to ignore them
(`ignore_startup_parameters = options`), drops. pgdba must never work on without them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.errors import ConnectionFailed
from pgdba.pool import PoolSettings, create_pool
from pgdba.target import resolve_target
from tests.api.conftest import free_port

PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
)
pytestmark = pytest.mark.skipif(
    PGBOUNCER is None, reason="pgbouncer (Debian package pgbouncer) is not installed"
)

CLIENT_PASSWORD = "Hunter2pooler"  # in the client's DSN only: PgBouncer (auth_type any) does not check it


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Bounded readiness poll: PgBouncer accepts TCP connections once it has read its configuration."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"pgbouncer exited {process.returncode}: {log.read_text(errors='replace')}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"pgbouncer did not listen on {port}: {log.read_text(errors='replace')}")


@pytest.fixture
def pgbouncer(pg_cluster: EmbeddedCluster) -> Iterator[Callable[[str], str]]:
    """Start a PgBouncer in transaction mode in front of the test cluster with extra settings; its DSN."""
    home = Path(tempfile.mkdtemp(prefix="pgdba-pgbouncer-"))
    os.chmod(home, 0o755)
    run_as = pg_cluster.run_as  # PgBouncer, like PostgreSQL, refuses to run as root
    server_password = pg_cluster.passfile.read_text().strip().rsplit(":", 1)[1]
    started: list[subprocess.Popen[bytes]] = []

    def start(extra: str) -> str:
        port = free_port()
        config, log = home / f"pgbouncer-{port}.ini", home / f"pgbouncer-{port}.log"
        config.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={pg_cluster.port} user=postgres password={server_password}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            f"auth_type = any\npool_mode = transaction\nlogfile = {log}\n{extra}\n"
        )
        os.chmod(config, 0o600)
        if run_as:
            os.chown(home, run_as.pw_uid, run_as.pw_gid)
            os.chown(config, run_as.pw_uid, run_as.pw_gid)
        ids = {"user": run_as.pw_uid, "group": run_as.pw_gid, "extra_groups": []} if run_as else {}
        assert PGBOUNCER is not None
        process = subprocess.Popen([PGBOUNCER, "-q", str(config)], **ids)  # type: ignore[call-overload]
        started.append(process)
        _wait_until_listening(port, process, log)
        return f"postgresql://postgres:{CLIENT_PASSWORD}@127.0.0.1:{port}/postgres?connect_timeout=10"

    try:
        yield start
    finally:
        for process in started:
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def test_a_pooler_refusing_the_startup_options_is_named(
    pgbouncer: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = pgbouncer("")
    code = main(["check", "--dsn", dsn])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(
        "pgdba: error: cannot connect to postgresql://postgres:***@"
    )
    assert "unsupported startup parameter: options" in err
    assert "PgBouncer" in err and "point pgdba at PostgreSQL itself" in err
    assert CLIENT_PASSWORD not in err


def test_a_prisma_url_through_pgbouncer_is_told_to_use_the_direct_address(
    pgbouncer: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Prisma's DATABASE_URL behind PgBouncer says `pgbouncer=true`: the advice names the address that
    reaches PostgreSQL itself, Prisma's directUrl."""
    url = pgbouncer("") + "&pgbouncer=true&connection_limit=1"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PGDBA_DSN", raising=False)
        patch.setenv("DATABASE_URL", url)
        code = main(["check"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "unsupported startup parameter: options" in err
    assert "point pgdba at PostgreSQL itself (this URL says pgbouncer=true: give pgdba the address" in err
    assert "its directUrl)" in err and CLIENT_PASSWORD not in err


def test_a_pooler_dropping_the_startup_options_is_refused(
    pgbouncer: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """With the options ignored the server runs the session without timeouts and writable: the check-up
    used to run there as if they held."""
    dsn = pgbouncer("ignore_startup_parameters = options")
    with psycopg.connect(dsn, autocommit=True) as plain:  # the pooler works; the server default is no timeout
        assert plain.execute("SHOW statement_timeout").fetchone() == ("0",)
    code = main(["check", "--dsn", dsn])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("pgdba: error: cannot use postgresql://postgres:***@")
    assert (
        "did not apply pgdba's session settings (statement_timeout is 0, not 30000; lock_timeout is 0, "
        "not 500; default_transaction_read_only is off, not on)"
    ) in err
    assert "PgBouncer" in err and "point pgdba at PostgreSQL itself" in err
    assert CLIENT_PASSWORD not in err


def test_a_session_that_may_write_is_refused_too(pgbouncer: Callable[[str], str]) -> None:
    """--apply sessions want default_transaction_read_only off, the server's default: the timeouts still
    show that the options were dropped."""
    target = resolve_target(pgbouncer("ignore_startup_parameters = options"), statement_timeout_ms=5000)
    with pytest.raises(ConnectionFailed) as refused:
        target.connect(apply=True)
    assert "(statement_timeout is 0, not 5000; lock_timeout is 0, not 2000)" in str(refused.value)


def test_a_direct_session_runs_with_the_settings_checked(pg_cluster: EmbeddedCluster) -> None:
    target = resolve_target(pg_cluster.dsn(), statement_timeout_ms=4321, lock_timeout_ms=321)
    with target.connect(autocommit=False) as conn:
        assert (
            conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        )  # the check left no transaction
        row = conn.execute(
            "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), "
            "current_setting('transaction_read_only')"
        ).fetchone()
    assert row == ("4321ms", "321ms", "on")


def test_an_application_pool_names_the_pooler_that_refuses_its_options(
    pgbouncer: Callable[[str], str],
) -> None:
    """pgdba.pool sets its sessions' statement_timeout and read-only guard the same way."""
    target = resolve_target(pgbouncer(""))
    with pytest.raises(ConnectionFailed) as refused:
        create_pool(target, PoolSettings(min_size=1, max_size=1, connect_timeout_s=2.0))
    message = str(refused.value)
    assert "within 2 s: FATAL: unsupported startup parameter: options: a connection pooler" in message
    assert message.endswith("pass PoolSettings(startup_options=False) and set statement_timeout on the role")
    assert CLIENT_PASSWORD not in message


def test_an_application_pool_goes_through_the_pooler_without_startup_options(
    pgbouncer: Callable[[str], str],
) -> None:
    """Behind a transaction-pooling PgBouncer the pool sends no session setting: the role's hold. It must
    say so, not claim a read-only pool it cannot have."""
    target = resolve_target(pgbouncer(""))
    settings = PoolSettings(
        min_size=2,
        max_size=2,
        connect_timeout_s=5.0,
        application_name="edu-behind-pgbouncer",
        startup_options=False,
    )
    with create_pool(target, settings, apply=True) as pool, pool.connection() as conn:
        row = conn.execute("SELECT current_setting('application_name'), current_setting('statement_timeout')")
        assert row.fetchone() == ("edu-behind-pgbouncer", "0")
    with pytest.raises(ValueError, match="a read-only pool needs its startup options"):
        create_pool(target, settings, apply=False)
    with pytest.raises(ValueError, match="extra_settings are sent as startup options"):
        PoolSettings(startup_options=False, extra_settings={"work_mem": "64MB"})


def test_a_guard_setting_given_in_other_units_is_not_mistaken_for_a_dropped_one(
    pg_cluster: EmbeddedCluster,
) -> None:
    target = replace(resolve_target(pg_cluster.dsn()), extra_settings={"statement_timeout": "5s"})
    with target.connect() as conn:
        assert conn.execute("SELECT current_setting('statement_timeout')").fetchone() == ("5s",)
