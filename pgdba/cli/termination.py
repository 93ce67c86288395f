"""SIGTERM (what `timeout`, systemd and cron killers send) and SIGHUP (a closed terminal or SSH session) stop
a command the way Ctrl-C does.

Only the console entry point installs the handler (`pgdba`, `python -m pgdba`): importing pgdba as a
library leaves the process's signal handling alone.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from typer.core import TyperGroup

# the signals that unwind, and the line pgdba ends with on each (its exit code is 128 + the signal's number)
UNWINDING_SIGNALS: dict[signal.Signals, str] = {signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}
TERMINATED_EXIT = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM or SIGHUP. A KeyboardInterrupt, so all that unwinds on Ctrl-C
    unwinds on it too: psycopg cancels the running query, Typer stops the command, `finally` blocks drop
    scratch databases."""


class Interrupted(Exception):
    """A Ctrl-C carried past Typer, which turns a KeyboardInterrupt into a silent exit 130: the CLI says
    "pgdba: interrupted" for it. Not a KeyboardInterrupt, so Typer lets it through."""


class InterruptReportingGroup(TyperGroup):
    """pgdba's top-level command group: a Ctrl-C (KeyboardInterrupt) that unwound the command leaves it as
    Interrupted. Terminated (SIGTERM, SIGHUP) goes on as before: main() names the signal."""

    def invoke(self, ctx: Any) -> Any:  # Any: Typer's Context class lives in its private _click module
        try:
            return super().invoke(ctx)
        except Terminated:
            raise
        except KeyboardInterrupt as exc:
            raise Interrupted from exc


class SigtermHandler:
    """Raises Terminated on the first unwinding signal; `received` (that signal, None before) tells the CLI
    why it stopped (Typer returns 130 for any KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            # `timeout` signals the process and then its process group: a second raise would cut the cleanup
            # of the first one short
            return
        self.received = signal.Signals(signum)
        raise Terminated

    @property
    def exit_code(self) -> int:
        return 128 + (self.received or signal.SIGTERM)

    @property
    def message(self) -> str:
        return UNWINDING_SIGNALS[self.received or signal.SIGTERM]


@contextmanager
def sigterm_unwinds() -> Iterator[SigtermHandler]:
    """SIGTERM and SIGHUP raise Terminated while the block runs; the previous handlers are back afterwards."""
    handler = SigtermHandler()
    previous = {signum: signal.signal(signum, handler) for signum in UNWINDING_SIGNALS}
    try:
        yield handler
    finally:
        for signum, before in previous.items():
            # None: a handler not installed from Python, which cannot be put back; the default is the closest
            signal.signal(signum, signal.SIG_DFL if before is None else before)


@contextmanager
def hangup_as_termination() -> Iterator[None]:
    """SIGHUP sent on as SIGTERM while the block runs: a server that shuts down gracefully on SIGTERM
    (uvicorn handles SIGINT and SIGTERM only) does so on a hang-up too, instead of being cut off mid-request
    with a traceback."""

    def terminate(signum: int, frame: FrameType | None) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGHUP, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, signal.SIG_DFL if previous is None else previous)
