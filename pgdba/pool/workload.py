"""What one request of a load test does: run statements from a file, or a supplied callable."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import pglast
import psycopg

from pgdba.errors import InputError
from pgdba.pool.plain_reads import check_plain_reads
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
    # each request in a READ ONLY transaction of its own (see as_plain_reads)
    read_only: bool = False

    def as_plain_reads(self) -> StatementWorkload:
        """This workload for a run that must not write: refused (InputError) unless every statement is a
        plain read, and each request then runs in a READ ONLY transaction pgdba opens."""
        check_plain_reads(self.statements, self.name)
        return replace(self, read_only=True)

    def run(self, conn: psycopg.Connection[Any], request_index: int) -> None:
        statement = self.statements[request_index % len(self.statements)].encode()
        if self.read_only:
            _run_read_only(conn, statement)
        else:
            with conn.cursor() as cur:
                cur.execute(statement)
                _fetch_rows(cur)


def _run_read_only(conn: psycopg.Connection[Any], statement: bytes) -> None:
    """The statement in a READ ONLY transaction of its own: the server refuses any write, even by a function
    that switched the session's read-only default off in an earlier request. Sent in a pipeline, that is
    through the extended protocol, where the server refuses a text holding more than one statement (a
    server whose standard_conforming_strings is off splits some texts otherwise than pglast does)."""
    conn.read_only = True
    with conn.transaction(), conn.cursor() as cur:
        with conn.pipeline():
            cur.execute(statement)
        _fetch_rows(cur)


def _fetch_rows(cur: psycopg.Cursor[Any]) -> None:
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
