"""What one request of a load test does: run statements from a file, or a supplied callable."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pglast
import psycopg

from pgdba.errors import InputError
from pgdba.text_files import read_text_file


class Workload(Protocol):
    """One request of a load test, run on a connection the test lends it."""

    @property
    def name(self) -> str: ...

    def run(self, conn: psycopg.Connection[Any], request_index: int) -> None: ...


@dataclass(frozen=True)
class StatementWorkload:
    """Request i runs statement i mod n: a round-robin over the given statements."""

    statements: Sequence[str]
    name: str = "statements"

    def run(self, conn: psycopg.Connection[Any], request_index: int) -> None:
        with conn.cursor() as cur:
            cur.execute(self.statements[request_index % len(self.statements)].encode())
            if cur.description is not None:
                cur.fetchall()


@dataclass(frozen=True)
class CallableWorkload:
    """A request is a call of `request(conn, i)` (how the demo's queries plug in)."""

    request: Callable[[psycopg.Connection[Any], int], object]
    name: str = "callable"

    def run(self, conn: psycopg.Connection[Any], request_index: int) -> None:
        self.request(conn, request_index)


def statements_from_file(path: Path) -> StatementWorkload:
    """The statements of a SQL file, split by PostgreSQL's own parser."""
    text = read_text_file(path, "--query file")
    try:
        statements = [s.strip() for s in pglast.split(text) if s.strip()]
    except pglast.parser.ParseError as exc:
        raise InputError(f"--query file {path} is not valid SQL: {exc}") from None
    if not statements:
        raise InputError(f"--query file {path} holds no SQL statement")
    return StatementWorkload(tuple(statements), name=path.name)
