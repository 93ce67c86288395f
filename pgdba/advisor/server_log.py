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
from dataclasses import dataclass, field

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


def log_format(text: str) -> str | None:
    """The server log format `text` reads as: "jsonlog", "csvlog" or "stderr"; None for a SQL file."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first.lstrip().startswith("{"):
        try:
            record = json.loads(first)
        except ValueError:
            return None
        return "jsonlog" if isinstance(record, dict) and "message" in record else None
    row = next(csv.reader(io.StringIO(first)), [])
    if len(row) > _CSV_MESSAGE and _CSV_TIMESTAMP.match(row[0]) and row[_CSV_SEVERITY].isupper():
        return "csvlog"
    if _STDERR_STATEMENT.search(text):
        return "stderr"
    return None


def logged_statements(text: str, fmt: str, where: str) -> list[LoggedStatement]:
    """The statements of a server log of format `fmt` (log_format); `where` names the file in errors."""
    if fmt == "jsonlog":
        return _from_jsonlog(text, where)
    if fmt == "csvlog":
        return _from_csvlog(text, where)
    return _from_stderr(text)


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


def _from_stderr(text: str) -> list[LoggedStatement]:
    """A stderr log's statements; their database and role where log_line_prefix writes them
    (_database_and_user). The server writes a message's lines together (its DETAIL right after it, each
    further line of either starting with a tab), so a DETAIL belongs to the LOG message before it."""
    messages: list[tuple[str, list[str], str]] = []  # (severity, lines, the prefix of its first line)
    for line in text.splitlines():
        if line.startswith("\t") and messages:
            messages[-1][1].append(line[1:])
            continue
        at = _STDERR_MESSAGE.search(line)
        if at is not None:
            messages.append((at["severity"], [line[at.end() :]], line[: at.start()]))
        elif messages:
            messages.append(("", [], ""))  # any other line ends the message before it
    found: list[LoggedStatement] = []
    for n, (severity, lines, prefix) in enumerate(messages):
        if severity != "LOG":
            continue
        following = messages[n + 1] if n + 1 < len(messages) else None
        detail = "\n".join(following[1]) if following is not None and following[0] == "DETAIL" else ""
        statement = _statement("\n".join(lines), *_database_and_user(prefix), detail)
        if statement is not None:
            found.append(statement)
    return found


def _database_and_user(prefix: str) -> tuple[str | None, str | None]:
    """(database, role) a stderr line's log_line_prefix names, each None where it names none."""
    both = _PREFIX_USER_AT_DATABASE.search(prefix)
    if both is not None:
        return both["database"], both["user"]
    database, user = _PREFIX_DATABASE.search(prefix), _PREFIX_USER.search(prefix)
    return (database["database"] if database else None), (user["user"] if user else None)


def _from_jsonlog(text: str, where: str) -> list[LoggedStatement]:
    found: list[LoggedStatement] = []
    for number, line in enumerate(text.splitlines(), 1):
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
            found.append(statement)
    return found


def _from_csvlog(text: str, where: str) -> list[LoggedStatement]:
    found: list[LoggedStatement] = []
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise InputError(f"{where}: not a csvlog file: {exc}") from None
    for row in rows:
        if len(row) <= _CSV_MESSAGE or row[_CSV_SEVERITY] != "LOG":
            continue
        detail = row[_CSV_DETAIL] if len(row) > _CSV_DETAIL else ""
        statement = _statement(row[_CSV_MESSAGE], row[_CSV_DATABASE] or None, row[_CSV_USER] or None, detail)
        if statement is not None:
            found.append(statement)
    return found
