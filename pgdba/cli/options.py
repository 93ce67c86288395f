"""Options every command shares, and the small glue that turns them into library arguments."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from pgdba.errors import InputError
from pgdba.findings import Severity
from pgdba.history.store import HistoryStore, open_store
from pgdba.render import FORMATS
from pgdba.target import (
    DEFAULT_LOCK_TIMEOUT_MS,
    DEFAULT_STATEMENT_TIMEOUT_MS,
    MAX_TIMEOUT_MS,
    Target,
    resolve_target,
)

DsnOption = Annotated[
    str | None,
    typer.Option(
        "--dsn",
        help="Connection string; else PGDBA_DSN, DATABASE_URL, then PGHOST/PGDATABASE/…",
        show_default=False,
    ),
]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="table, json or markdown")]
FailOnOption = Annotated[
    str, typer.Option("--fail-on", help="exit 1 when a finding is at least this severe: warning or critical")
]
StatementTimeoutOption = Annotated[
    int,
    typer.Option(
        "--statement-timeout",
        help="statement_timeout for pgdba's session, in ms (0 = none)",
        min=0,
        max=MAX_TIMEOUT_MS,
    ),
]
LockTimeoutOption = Annotated[
    int,
    typer.Option("--lock-timeout", help="lock_timeout for pgdba's session, in ms", min=0, max=MAX_TIMEOUT_MS),
]
ApplyOption = Annotated[
    bool, typer.Option("--apply", help="Actually change the database (otherwise read-only).")
]


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InputError(f"unknown --format {fmt!r}: use {', '.join(FORMATS)}")
    return fmt


def check_fail_on(fail_on: str) -> Severity:
    try:
        severity = Severity.parse(fail_on)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if severity is Severity.INFO:
        raise InputError("--fail-on takes warning or critical")
    return severity


def target_from(
    dsn: str | None,
    statement_timeout: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    lock_timeout: int = DEFAULT_LOCK_TIMEOUT_MS,
) -> Target:
    return resolve_target(dsn, statement_timeout_ms=statement_timeout, lock_timeout_ms=lock_timeout)


StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store", help="History store: a SQLite file (default in the user data dir, or PGDBA_HISTORY)"
    ),
]


def finite(
    min: float | None = None, max: float | None = None, *, min_open: bool = False
) -> Callable[[str], float]:
    """parser for a float option that refuses nan and ±inf (click's FLOAT takes them) and values outside
    [min, max] (min excluded with min_open): `typer.Option(parser=finite(min=0))`."""

    def parse(text: str) -> float:
        try:
            number = float(text)
        except ValueError:
            raise typer.BadParameter(f"{text!r} is not a number") from None
        if not math.isfinite(number):
            raise typer.BadParameter(f"{text!r} is not a finite number")
        if min is not None and (number <= min if min_open else number < min):
            raise typer.BadParameter(f"{text} should be {'>' if min_open else '≥'} {min:g}")
        if max is not None and number > max:
            raise typer.BadParameter(f"{text} should be ≤ {max:g}")
        return number

    return parse


@contextmanager
def store_if_openable(store: str | None) -> Iterator[tuple[HistoryStore | None, str | None]]:
    """(the history store, None); a store the user named (--store or PGDBA_HISTORY) must open. When the
    default one cannot be made here (a read-only home): (None, why), and the command works without history."""
    try:
        history = open_store(store)
    except InputError as exc:
        if store or os.environ.get("PGDBA_HISTORY"):
            raise
        yield None, str(exc)
        return
    with history:
        yield history, None
