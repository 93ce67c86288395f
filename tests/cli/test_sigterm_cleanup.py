"""SIGTERM (what `timeout`, systemd and cron killers send) stops a command as Ctrl-C does: its `finally`
blocks run, so `advise indexes --verify` drops its scratch database, and pgdba exits 143 with one line.
`pgdba serve` still shuts down on it, and only the entry point installs the handler."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pgdba.cli import main
from pgdba.cli.termination import SigtermHandler, Terminated
from tests.api.conftest import free_port, wait_until_serving
from tests.conftest import TestDatabase

# big enough that the copy into the scratch database and the measurements there take seconds
SCHEMA = """
CREATE TABLE users (id int PRIMARY KEY, org_id int NOT NULL, created_at timestamptz NOT NULL, email text);
INSERT INTO users
SELECT g, g % 200, timestamptz '2024-01-01' + g * interval '1 minute', 'u' || g
  FROM generate_series(1, 1000000) g;
ANALYZE users;
"""
QUERIES = (
    "SELECT * FROM users WHERE org_id = $1 AND created_at > $2;\nSELECT id FROM users WHERE email = 'u5';\n"
)
SCRATCH_SESSIONS_SQL = "SELECT DISTINCT datname FROM pg_stat_activity WHERE datname LIKE 'pgdba_verify_%'"
SCRATCH_DATABASES_SQL = "SELECT datname FROM pg_database WHERE datname LIKE 'pgdba_verify_%'"


def _scratch_in_use(admin: psycopg.Connection, command: subprocess.Popen[str], before: set[str]) -> str:
    """The scratch database pgdba copies into, once a session of it is connected there."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if command.poll() is not None:
            raise AssertionError(f"advise --verify ended before its scratch copy: {command.communicate()[1]}")
        names = {str(row[0]) for row in admin.execute(SCRATCH_SESSIONS_SQL).fetchall()} - before
        if names:
            return names.pop()
    raise AssertionError("advise --verify never connected to a scratch database")


def _databases(admin: psycopg.Connection) -> set[str]:
    return {str(row[0]) for row in admin.execute(SCRATCH_DATABASES_SQL).fetchall()}


def _drop(admin: psycopg.Connection, names: set[str]) -> None:
    """Databases a failing run left behind, which other tests would count."""
    for name in names:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.hypopg
@pytest.mark.parametrize(
    "signum, code, line", [(signal.SIGTERM, 143, "pgdba: terminated"), (signal.SIGHUP, 129, "pgdba: hung up")]
)
def test_sigterm_or_sighup_during_verify_drops_the_scratch_database_and_exits_128_plus_it(
    db: TestDatabase, tmp_path: Path, signum: signal.Signals, code: int, line: str
) -> None:
    db.execute(SCHEMA)
    queries = tmp_path / "workload.sql"
    queries.write_text(QUERIES)
    argv = ["advise", "indexes", "--dsn", db.dsn, "--queries", str(queries), "--verify", "--format", "json"]
    with psycopg.connect(db.cluster.dsn(), autocommit=True) as admin:
        before = _databases(admin)
        command = subprocess.Popen(
            [sys.executable, "-m", "pgdba", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            scratch = _scratch_in_use(admin, command, before)
            command.send_signal(signum)
            out, err = command.communicate(timeout=60)
            left = _databases(admin) - before
        finally:
            if command.poll() is None:
                command.kill()
                command.wait()
            _drop(admin, _databases(admin) - before)
    assert scratch not in left and not left
    assert command.returncode == code, err
    assert err.splitlines()[-1:] == [line]
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_serve_shuts_down_gracefully_on_sigterm_and_on_sighup(
    db: TestDatabase, tmp_path: Path, signum: signal.Signals
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as stderr:  # a file, not a pipe: a full pipe would block the server
        server = subprocess.Popen(
            [sys.executable, "-m", "pgdba", "serve", "--dsn", db.dsn, "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            wait_until_serving(f"http://127.0.0.1:{port}", server, log)
            server.send_signal(signum)
            code = server.wait(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    # uvicorn shuts down gracefully (on a hang-up too, sent on as SIGTERM), then passes SIGTERM on to
    # pgdba's handler
    assert code == 143
    assert log.read_text().splitlines() == ["pgdba: terminated"]


def test_only_the_entry_point_handles_sigterm_and_puts_the_previous_handler_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    default, default_hup = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    imported = subprocess.run(
        [sys.executable, "-c", "import signal, pgdba, pgdba.cli; print(signal.getsignal(signal.SIGTERM))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == str(signal.Handlers.SIG_DFL)
    assert main(["version"], unwind_on_sigterm=True) == 0
    assert main(["version"]) == 0
    assert signal.getsignal(signal.SIGTERM) is default and signal.getsignal(signal.SIGHUP) is default_hup
    assert capsys.readouterr().err == ""


def test_a_second_sigterm_does_not_cut_the_cleanup_of_the_first_short() -> None:
    handler = SigtermHandler()
    with pytest.raises(Terminated):
        handler(signal.SIGTERM, None)
    handler(signal.SIGTERM, None)  # `timeout` signals the process, then its group: the cleanup goes on
    assert handler.received
