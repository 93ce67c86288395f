"""Statements from a PostgreSQL server log, in any of its three formats: stderr (log_line_prefix lines, a
statement's continuation lines starting with a tab), csvlog and jsonlog (15+; what managed services and
containers ship most). Each `statement:` / `execute <name>:` message (log_statement) is one statement run
once; one that `duration: … ms` heads (log_min_duration_statement) weighs that time. A csvlog or jsonlog
line names its database (the statements of other databases are left out) and the role that ran it; so does
a stderr line whose log_line_prefix writes them (`%u@%d`, `user=%u,db=%d`). A statement run over the
extended protocol (every ORM's, `… = $1`) is followed by `DETAIL:  parameters: $1 = 'pending'`: the values
the application sent, kept with it (LoggedStatement.parameters).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain

from pgdba.errors import InputError

# the messages that carry a statement's text, after an optional `duration: … ms  `; `execute <name>:` is a
# prepared statement run over the extended protocol (its parse and bind steps are logged apart and left out)
_MARKERS = ("statement: ", "execute <unnamed>: ", "execute ")
# where a stderr line's message starts, after log_line_prefix: `… [42] LOG:  ` (Debian's `%m [%p] %q%u@%d `),
# `…:[42]:LOG:  ` (Amazon RDS's `%t:%r:%u@%d:[%p]:`), `… UTC-65f0a1b2.4d2-LOG:  ` (Azure's `%t-%c-`)
_AFTER_PREFIX = r"(?:^|(?<=[\s:\]-]))"
_STDERR_MESSAGE = re.compile(_AFTER_PREFIX + r"(?P<severity>LOG|DETAIL):  ")  # a LOG and the DETAIL after it
_STDERR_STATEMENT = re.compile(_AFTER_PREFIX + r"LOG:  (?:statement|duration): ", re.MULTILINE)
# the role and database in a log_line_prefix: `%u@%d` (Debian's, RDS's), or `user=%u` and `db=%d` (pgBadger's
# `user=%u,db=%d,app=%a,client=%h `, Cloud SQL's `db=%d,user=%u `)
_NAME = r"[A-Za-z_][\w$-]*"
_PREFIX_USER_AT_DATABASE = re.compile(rf"(?:^|[\s:\]])(?P<user>{_NAME})@(?P<database>{_NAME})(?=[\s:\[]|$)")
_PREFIX_USER = re.compile(rf"(?:^|[\s,:\]])user=(?P<user>{_NAME})(?=[\s,:]|$)")
_PREFIX_DATABASE = re.compile(rf"(?:^|[\s,:\]])db=(?P<database>{_NAME})(?=[\s,:]|$)")


# the values a statement's DETAIL gives its parameters (`$1 = 'a''b', $2 = NULL`: a value quoted as a literal)
_PARAMETERS = "parameters: "
_PARAMETER = re.compile(r"\$(?P<number>\d+) = (?:NULL|'(?P<value>(?:[^']|'')*)')(?:, |$)", re.DOTALL)
# what ends a value the server cut short (log_parameter_max_length): not the value sent
_CUT_SHORT = "..."

# csvlog's columns (the same first fifteen since PostgreSQL 9.0)
_CSV_USER, _CSV_DATABASE, _CSV_SEVERITY, _CSV_MESSAGE, _CSV_DETAIL = 1, 2, 11, 13, 14
_CSV_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


@dataclass(frozen=True)
class LoggedStatement:
    sql: str
    duration_ms: float
    database: str | None  # None: the format does not say (stderr without %d in its prefix)
    user: str | None = None  # the role that ran it, where the log says (csvlog, jsonlog, a stderr prefix)
    # the values it was run with (`$n` → value as text), from its DETAIL; NULLs and values the server cut
    # short left out
    parameters: dict[int, str] = field(default_factory=dict)


def log_format(lines: Iterable[str]) -> str | None:
    """The server log format a file of these lines reads as: "jsonlog", "csvlog" or "stderr"; None for a
    SQL file. Lines are read until that is known: the first non-blank one tells a jsonlog or csvlog, the
    first statement's a stderr log (a SQL file is read to its end)."""
    remaining = iter(lines)
    first = next((line for line in remaining if line.strip()), "")
    if first.lstrip().startswith("{"):
        try:
            record = json.loads(first)
        except ValueError:
            return None
        return "jsonlog" if isinstance(record, dict) and "message" in record else None
    row = next(csv.reader(io.StringIO(first)), [])
    if len(row) > _CSV_MESSAGE and _CSV_TIMESTAMP.match(row[0]) and row[_CSV_SEVERITY].isupper():
        return "csvlog"
    if any(_STDERR_STATEMENT.search(line) for line in chain([first], remaining)):
        return "stderr"
    return None


def logged_statements(lines: Iterable[str], fmt: str, where: str) -> Iterator[LoggedStatement]:
    """The statements of a server log of format `fmt` (log_format), as its lines are read (a day's log
    may not fit in memory); `where` names the file in errors."""
    if fmt == "jsonlog":
        return _from_jsonlog(lines, where)
    if fmt == "csvlog":
        return _from_csvlog(lines, where)
    return _from_stderr(lines)


def parameter_values(detail: str) -> dict[int, str]:
    """`$n` → value of a statement's `parameters: $1 = '5', $2 = NULL` DETAIL (none for any other DETAIL,
    or one that does not read so to its end); NULLs and values cut short (`'abc...'`) are left out."""
    if not detail.startswith(_PARAMETERS):
        return {}
    values: dict[int, str] = {}
    at = len(_PARAMETERS)
    while at < len(detail):
        match = _PARAMETER.match(detail, at)
        if match is None:
            return {}
        value = match["value"]
        if value is not None and not value.endswith(_CUT_SHORT):
            values[int(match["number"])] = value.replace("''", "'")
        at = match.end()
    return values


def _statement(
    message: str, database: str | None, user: str | None = None, detail: str = ""
) -> LoggedStatement | None:
    """The statement a LOG message carries (with the parameters its DETAIL gives), or None when it carries
    none."""
    duration = 0.0
    if message.startswith("duration: "):
        number, _, message = message[len("duration: ") :].partition(" ms")
        try:
            duration = float(number)
        except ValueError:
            duration = 0.0
        message = message.strip()
    for marker in _MARKERS:
        if message.startswith(marker):
            body = message[len(marker) :]
            if marker == "execute ":
                body = body.split(": ", 1)[-1]
            # only an execute (the extended protocol) is run with parameters
            parameters = parameter_values(detail) if marker.startswith("execute") else {}
            return LoggedStatement(body.strip().rstrip(";"), duration, database, user, parameters)
    return None


def _from_stderr(lines: Iterable[str]) -> Iterator[LoggedStatement]:
    """A stderr log's statements; their database and role where log_line_prefix writes them
    (_database_and_user). The server writes a message's lines together (its DETAIL right after it, each
    further line of either starting with a tab), so a DETAIL belongs to the LOG message before it."""
    previous: tuple[str, str, str] | None = None
    for message in chain(_stderr_messages(lines), [("", "", "")]):
        if previous is not None and previous[0] == "LOG":
            detail = message[1] if message[0] == "DETAIL" else ""
            statement = _statement(previous[1], *_database_and_user(previous[2]), detail)
            if statement is not None:
                yield statement
        previous = message


def _stderr_messages(lines: Iterable[str]) -> Iterator[tuple[str, str, str]]:
    """(severity: "LOG", "DETAIL" or "" for any other line, the message with its further lines, the
    prefix of its first line) of each message of a stderr log."""
    current: tuple[str, list[str], str] | None = None
    for raw in lines:
        line = raw.rstrip("\r\n")
        if line.startswith("\t") and current is not None:
            current[1].append(line[1:])
            continue
        if current is not None:
            yield current[0], "\n".join(current[1]), current[2]
        at = _STDERR_MESSAGE.search(line)
        current = (at["severity"], [line[at.end() :]], line[: at.start()]) if at else ("", [], "")
    if current is not None:
        yield current[0], "\n".join(current[1]), current[2]


def _database_and_user(prefix: str) -> tuple[str | None, str | None]:
    """(database, role) a stderr line's log_line_prefix names, each None where it names none."""
    both = _PREFIX_USER_AT_DATABASE.search(prefix)
    if both is not None:
        return both["database"], both["user"]
    database, user = _PREFIX_DATABASE.search(prefix), _PREFIX_USER.search(prefix)
    return (database["database"] if database else None), (user["user"] if user else None)


def _from_jsonlog(lines: Iterable[str], where: str) -> Iterator[LoggedStatement]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise InputError(f"{where}: line {number} is not a jsonlog record (JSON)") from None
        if not isinstance(record, dict) or record.get("error_severity") != "LOG":
            continue
        database, user = record.get("dbname"), record.get("user")
        statement = _statement(
            str(record.get("message", "")),
            str(database) if database else None,
            str(user) if user else None,
            str(record.get("detail", "")),
        )
        if statement is not None:
            yield statement


def _from_csvlog(lines: Iterable[str], where: str) -> Iterator[LoggedStatement]:
    rows = csv.reader(lines)  # a quoted field may span lines
    while True:
        try:
            row = next(rows, None)
        except csv.Error as exc:
            raise InputError(f"{where}: not a csvlog file: {exc} (line {rows.line_num})") from None
        if row is None:
            return
        if len(row) <= _CSV_MESSAGE or row[_CSV_SEVERITY] != "LOG":
            continue
        detail = row[_CSV_DETAIL] if len(row) > _CSV_DETAIL else ""
        statement = _statement(row[_CSV_MESSAGE], row[_CSV_DATABASE] or None, row[_CSV_USER] or None, detail)
        if statement is not None:
            yield statement
