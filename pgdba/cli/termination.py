"""SIGTERM (what `timeout`, systemd and cron killers send) stops a command the way Ctrl-C does.

Only the console entry point installs the handler (`pgdba`, `python -m pgdba`): importing pgdba as a
library leaves the process's signal handling alone.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

TERMINATED_EXIT = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM. A KeyboardInterrupt, so all that unwinds on Ctrl-C unwinds on it
    too: psycopg cancels the running query, Typer stops the command, `finally` blocks drop scratch databases."""


class SigtermHandler:
    """Raises Terminated on the first SIGTERM; `received` tells the CLI why it stopped (Typer returns 130
    for any KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.received = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.received:
            # `timeout` signals the process and then its process group: a second raise would cut the cleanup
            # of the first one short
            return
        self.received = True
        raise Terminated


@contextmanager
def sigterm_unwinds() -> Iterator[SigtermHandler]:
    """SIGTERM raises Terminated while the block runs; the previous handler is back afterwards."""
    handler = SigtermHandler()
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield handler
    finally:
        # None: a handler not installed from Python, which cannot be put back; the default is the closest
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
