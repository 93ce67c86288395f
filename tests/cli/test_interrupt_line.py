"""Ctrl-C (SIGINT) stops a command with one line, "pgdba: interrupted", and exit 130: Typer turns a
KeyboardInterrupt into a silent exit 130, which left the user with no word of why pgdba stopped."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

# pgdba as a terminal's foreground job runs it, SIGINT at Python's default handler. A process started in the
# background of a shell without job control (`make test &`, as a CI script may run it) inherits SIGINT
# ignored, and so would pgdba, as every program does: Ctrl-C cannot reach such a process.
AS_IN_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'pgdba'; runpy.run_module('pgdba', run_name='__main__', alter_sys=True)"
)


def test_ctrl_c_while_connecting_says_interrupted_and_exits_130() -> None:
    # a server that accepts the connection and never answers: pgdba waits in connect until interrupted
    with socket.create_server(("127.0.0.1", 0)) as silent:
        silent.settimeout(120)
        port = silent.getsockname()[1]
        dsn = f"host=127.0.0.1 port={port} dbname=app user=app password=S3cretPw connect_timeout=120"
        command = subprocess.Popen(
            [sys.executable, "-c", AS_IN_A_TERMINAL, "check", "--dsn", dsn],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            connection, _ = silent.accept()  # pgdba is now in connect
            with connection:
                command.send_signal(signal.SIGINT)
                out, err = command.communicate(timeout=60)
        finally:
            if command.poll() is None:
                command.kill()
                command.wait()
    assert command.returncode == 130, err
    assert err.splitlines() == ["pgdba: interrupted"]
    assert out == "" and "S3cretPw" not in err
