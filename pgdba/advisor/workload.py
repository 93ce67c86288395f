"""The workload to advise on: from pg_stat_statements (weighted by calls and time) or from a file of queries.

Only statements an index can speed up are kept (SELECT, UPDATE, DELETE, INSERT … SELECT); catalog queries,
pgdba's own and HypoPG's are left out. Queries with the same pglast fingerprint are merged.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import chain
from pathlib import Path

import pglast
import psycopg
from pglast import ast
from psycopg import sql

from pgdba.advisor.catalog import load_tables, resolve_relations
from pgdba.advisor.parse_tree import walk
from pgdba.advisor.server_log import LoggedStatement, log_format, logged_statements
from pgdba.errors import InputError, NotAvailable
from pgdba.server import ServerFacts
from pgdba.statement_tree import CATALOG_SCHEMAS, statement_node
from pgdba.stats.statement_texts import rows_with_texts
from pgdba.text_files import byte_lines, lenient_lines, utf8_text

DEFAULT_MIN_CALLS = 2
DEFAULT_MIN_MEAN_MS = 0.0
DEFAULT_TOP = 100


@dataclass
class WorkloadQuery:
    """One normalised query and how much it weighs: calls and total execution time."""

    sql: str
    calls: int = 1
    total_ms: float = 0.0
    queryid: str | None = None
    # the role that ran it (the busiest one, pg_stat_statements' userid); for a query from a file, the one
    # --as-role names, else None
    role: str | None = None
    # recorded only as run inside a function (pg_stat_statements.track = all, toplevel false): it may name
    # the function's parameters and variables (pgdba.advisor.routine_variables)
    nested: bool = False
    # the values a server log says it was run with: `$n` → value as text → times (server_log's DETAIL
    # parameters); pgdba.advisor.observed reads them as pg_qualstats' constants
    sent: dict[int, dict[str, int]] = field(default_factory=dict)

    def add_sent(self, number: int, value: str, times: int = 1) -> None:
        """Count `value` sent `times` more times for `$number`."""
        tally = self.sent.setdefault(number, {})
        tally[value] = tally.get(value, 0) + times

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0

    @functools.cached_property
    def param_count(self) -> int:
        return parameter_count(self.sql)


def parameter_count(text: str) -> int:
    """Highest `$n` in a statement (0 when it has literal values only)."""
    numbers = [node.number or 0 for node in walk(pglast.parse_sql(text)) if isinstance(node, ast.ParamRef)]
    return max(numbers, default=0)


# the fields that may follow `interval $n` (`interval '1' day` is recorded `interval $1 day`)
_INTERVAL_FIELDS = frozenset({"YEAR_P", "MONTH_P", "DAY_P", "HOUR_P", "MINUTE_P", "SECOND_P", "TO"})
_SECOND_PRECISION = ("ASCII_40", "ICONST", "ASCII_41")  # `second(3)`


def cast_typed_parameters(text: str) -> str:
    """The statement with each `type $n` written `CAST($n AS type)`. pg_stat_statements records a typed
    literal (`now() - interval '7 days'`, `date '2026-01-01'`) as `interval $2`, which pglast reads but
    PostgreSQL refuses (`syntax error at or near "$2"`): such a query could be neither costed nor measured.
    Text pglast cannot parse is returned as it is."""
    try:
        tree = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return text
    casts = sorted(
        (node.typeName.location, node.arg.location)
        for node in walk(tree)
        if isinstance(node, ast.TypeCast)
        and isinstance(node.arg, ast.ParamRef)
        and node.typeName is not None
        and node.typeName.location is not None
        and node.arg.location is not None
        and node.typeName.location < node.arg.location  # `type $n`, not `$n::type` nor CAST($n AS type)
    )
    if not casts:
        return text
    tokens = list(pglast.parser.scan(text))  # character offsets, as the tree's; `end` inclusive
    at = {token.start: n for n, token in enumerate(tokens)}
    pieces: list[str] = []
    last = 0
    for type_start, param_start in casts:
        param = at[param_start]
        following = param + 1
        while following < len(tokens) and tokens[following].name in _INTERVAL_FIELDS:
            following += 1
            if (
                tokens[following - 1].name == "SECOND_P"
                and tuple(t.name for t in tokens[following : following + 3]) == _SECOND_PRECISION
            ):
                following += 3
        param_end = tokens[param].end + 1
        end = tokens[following - 1].end + 1
        type_name = " ".join([text[type_start:param_start].strip(), text[param_end:end].strip()]).strip()
        pieces += [text[last:type_start], f"CAST({text[param_start:param_end]} AS {type_name})"]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def is_advisable(text: str) -> bool:
    """A single SELECT / UPDATE / DELETE / INSERT … SELECT on user tables."""
    try:
        statements = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return False
    if len(statements) != 1:
        return False
    stmt = statements[0].stmt
    if isinstance(stmt, ast.InsertStmt):
        if stmt.selectStmt is None or getattr(stmt.selectStmt, "valuesLists", None):
            return False
    elif not isinstance(stmt, ast.SelectStmt | ast.UpdateStmt | ast.DeleteStmt):
        return False
    relations = _range_vars(stmt)
    if not relations:
        return False
    for schema, name in relations:
        if schema in CATALOG_SCHEMAS or (schema is None and name.startswith("pg_")):
            return False
        if name.startswith("hypopg"):
            return False
    return True


def _range_vars(stmt: object) -> list[tuple[str | None, str]]:
    return [
        (node.schemaname, str(node.relname))
        for node in walk(stmt, skip=(ast.RangeFunction,))
        if isinstance(node, ast.RangeVar)
    ]


def merge_by_fingerprint(queries: Iterable[WorkloadQuery]) -> list[WorkloadQuery]:
    """One entry per query shape (pglast fingerprint), calls and time summed; text pglast cannot parse is
    left out."""
    merged: dict[str, WorkloadQuery] = {}
    for query in queries:
        try:
            key = pglast.parser.fingerprint(query.sql)
        except pglast.parser.ParseError:
            continue
        if key in merged:
            merged[key].calls += query.calls
            merged[key].total_ms += query.total_ms
            merged[key].nested = merged[key].nested and query.nested
            for number, values in query.sent.items():
                for value, times in values.items():
                    merged[key].add_sent(number, value, times)
        else:
            merged[key] = replace(query, sent={number: dict(values) for number, values in query.sent.items()})
    return list(merged.values())


ROLE_EXISTS_SQL = "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)"


def roles_known_here(conn: psycopg.Connection, workload: Iterable[WorkloadQuery]) -> list[WorkloadQuery]:
    """A log's queries keep the role that ran them (csvlog, jsonlog) where this server has that role; a log
    from another server may name roles this one lacks, whose queries are read as written."""
    queries = list(workload)
    roles = sorted({q.role for q in queries if q.role is not None})
    if not roles:
        return queries
    rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (roles,)).fetchall()
    here = {str(row[0]) for row in rows}
    return [q if q.role is None or q.role in here else replace(q, role=None) for q in queries]


def run_as(conn: psycopg.Connection, workload: Iterable[WorkloadQuery], role: str) -> list[WorkloadQuery]:
    """A file's queries as `role` runs them (row-level security filters its reads), once it is a role here."""
    row = conn.execute(ROLE_EXISTS_SQL, (role,)).fetchone()
    if not (row and row[0]):
        raise InputError(f"--as-role {role!r}: no role of that name on this server")
    return [replace(query, role=role) for query in workload]


def queries_from_file(path: Path, database: str | None = None) -> list[WorkloadQuery]:
    """Queries from a SQL file (statements separated by `;`) or a PostgreSQL server log: stderr, csvlog or
    jsonlog (pgdba.advisor.server_log; a `duration:` is used as the time), read line by line. Where the log
    names each statement's database (csvlog, jsonlog, a stderr prefix with `%d`), only `database`'s are
    kept when given; where it names the role, that is the query's (WorkloadQuery.role; see
    roles_known_here); where it gives the values a statement was run with, they are its `sent` ones."""
    with byte_lines(path, "--queries file") as file:
        read: list[bytes] = []  # the lines log_format read, read once (the file may be a pipe)
        fmt = log_format(lenient_lines(_kept(file, read)))
        if fmt is not None:
            logged = logged_statements(lenient_lines(chain(read, file)), fmt, str(path))
            queries = _from_log(logged, database, f"{path}: ", fmt)
        else:
            text = utf8_text(b"".join(read) + file.read(), path, "--queries file")
            try:
                statements = [s.strip() for s in pglast.split(without_psql_commands(text))]
            except pglast.parser.ParseError as exc:
                raise InputError(f"{path}: cannot parse: {exc}") from None
            queries = [WorkloadQuery(cast_typed_parameters(explained_statement(s))) for s in statements if s]
    # merged first: a log runs the same statements over and over, and a fingerprint costs a tenth of the
    # parse tree is_advisable builds
    kept = [q for q in merge_by_fingerprint(queries) if is_advisable(q.sql)]
    if not kept:
        raise InputError(f"{path}: no SELECT / UPDATE / DELETE statement on user tables found")
    return kept


def _kept(lines: Iterable[bytes], read: list[bytes]) -> Iterator[bytes]:
    """`lines`, each also appended to `read` as it is taken."""
    for line in lines:
        read.append(line)
        yield line


def _from_log(
    logged: Iterable[LoggedStatement], database: str | None, where: str, fmt: str
) -> list[WorkloadQuery]:
    """One query per statement text and role of `database` (all of them without one) a log holds, its runs
    counted, their durations and the values they were sent summed, in the order first run. A log holding
    statements of other databases only is an InputError naming them."""
    queries: dict[tuple[str, str | None], WorkloadQuery] = {}
    others: set[str] = set()
    count = 0
    for statement in logged:
        count += 1
        if database is not None and statement.database not in (None, database):
            others.add(str(statement.database))
            continue
        key = (statement.sql, statement.user)
        query = queries.setdefault(key, WorkloadQuery(statement.sql, 0, role=statement.user))
        query.calls += 1
        query.total_ms += statement.duration_ms
        for number, value in statement.parameters.items():
            query.add_sent(number, value)
    if count and not queries:
        named = sorted(others)
        raise InputError(
            f"{where}no statement of database {database!r} in this {fmt} file; its {count} are of "
            f"{', '.join(named[:3])}{' …' if len(named) > 3 else ''}"
        )
    return list(queries.values())


# a psql meta-command (`\timing on`, `\x`, `\c db`): a line of its own starting with a backslash
_PSQL_COMMAND = re.compile(r"^[ \t]*\\.*$", re.MULTILINE)
_EXPLAIN_KEYWORDS = frozenset({"ANALYZE", "ANALYSE", "VERBOSE"})


def without_psql_commands(text: str) -> str:
    r"""A psql script as SQL: its meta-command lines (`\timing`, `\x`) blanked, which PostgreSQL's parser
    refuses (a file of slow queries pasted from a psql session)."""
    return _PSQL_COMMAND.sub("", text)


def explained_statement(text: str) -> str:
    """The statement an `EXPLAIN [ANALYZE] [VERBOSE] [(options)] …` plans (a file of slow queries as a DBA
    keeps them, each under its EXPLAIN ANALYZE); `text` itself when it is no EXPLAIN."""
    try:
        tokens = list(pglast.parser.scan(text))
    except pglast.parser.ParseError:
        return text
    if not tokens or tokens[0].name != "EXPLAIN":
        return text
    at, depth = 1, 0
    while at < len(tokens):
        name = tokens[at].name
        if name == "ASCII_40":  # `(`
            depth += 1
        elif name == "ASCII_41":  # `)`
            depth -= 1
        elif depth == 0 and name not in _EXPLAIN_KEYWORDS:
            return text[tokens[at].start :]
        at += 1
    return text


# One row per statement text, its rows summed before the thresholds: pg_stat_statements keeps a row per role
# and per set of parameter types a driver sent (psycopg 3 sends 5 as smallint, 40 000 as integer), each
# of which alone may stay under --min-calls. The queryid is the busiest row's.
STATEMENTS_SQL = """
SELECT (array_agg(s.queryid::text ORDER BY s.{total} DESC))[1] AS queryid,
       (array_agg(pg_get_userbyid(s.userid) ORDER BY s.{total} DESC))[1] AS role,
       s.query,
       sum(s.calls) AS calls,
       sum(s.{total}) AS total_ms,
       bool_and(NOT {toplevel}) AS nested
  FROM {source} s
 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND s.query NOT ILIKE '%%hypopg%%'
 GROUP BY s.query
HAVING sum(s.calls) >= %(min_calls)s
   AND sum(s.{total}) / greatest(sum(s.calls), 1) >= %(min_mean_ms)s
 ORDER BY sum(s.{total}) DESC
 LIMIT %(scan_limit)s
"""


def queries_from_statements(
    conn: psycopg.Connection,
    facts: ServerFacts,
    *,
    min_calls: int = DEFAULT_MIN_CALLS,
    min_mean_ms: float = DEFAULT_MIN_MEAN_MS,
    top: int = DEFAULT_TOP,
) -> list[WorkloadQuery]:
    """The top queries by total execution time from pg_stat_statements (this database only)."""
    if not facts.pg_stat_statements_ready:
        raise NotAvailable(
            "pg_stat_statements is not enabled here: add it to shared_preload_libraries and CREATE EXTENSION "
            "pg_stat_statements (pgdba setup pg-stat-statements --apply), or pass --queries FILE"
        )
    columns = facts.statement_columns
    params = {"min_calls": min_calls, "min_mean_ms": min_mean_ms, "scan_limit": top * 5}
    rows, unreadable = rows_with_texts(
        conn,
        facts,
        STATEMENTS_SQL,
        params,
        total=sql.Identifier(columns.total_exec_time),
        toplevel=sql.SQL("s.toplevel") if columns.has_toplevel else sql.SQL("true"),
    )
    if unreadable:
        raise NotAvailable(f"{unreadable}; or pass --queries FILE")
    queries = [
        WorkloadQuery(
            cast_typed_parameters(row["query"]),
            int(row["calls"]),
            float(row["total_ms"]),
            row["queryid"],
            row["role"],
            bool(row["nested"]),
        )
        for row in rows
        if row["query"] and is_advisable(row["query"])
    ]
    return sorted(merge_by_fingerprint(queries), key=lambda q: -q.total_ms)[:top]


WRITES_SQL = """
SELECT s.query,
       s.rows
  FROM {source} s
 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND s.rows > 0
"""

HOT_SHARE_SQL = """
SELECT n_tup_hot_upd::float8 / greatest(n_tup_upd, 1)
  FROM pg_stat_user_tables
 WHERE relid = to_regclass(%(name)s)
"""


def table_writes_from_statements(conn: psycopg.Connection, facts: ServerFacts) -> dict[str, float]:
    """Index entries written per table (`schema.table`) in the pg_stat_statements window: rows inserted,
    plus rows updated times the table's share of non-HOT updates (a HOT update adds no index entry).

    Same window as the calls of the read queries, unlike pg_stat_user_tables (since its own reset,
    including bulk loads)."""
    rows, unreadable = rows_with_texts(conn, facts, WRITES_SQL, {})
    if unreadable:
        raise NotAvailable(unreadable)
    by_name: dict[str, float] = {}
    updates: set[str] = set()
    for text, count in ((row["query"], row["rows"]) for row in rows):
        # most rows are reads: told apart without building their parse trees (an ORM's SELECT: 1 ms each)
        if statement_node(text or "") not in ("InsertStmt", "UpdateStmt"):
            continue
        try:
            statements = pglast.parse_sql(text)
        except pglast.parser.ParseError:
            continue
        if len(statements) != 1:
            continue
        stmt = statements[0].stmt
        if not isinstance(stmt, ast.InsertStmt | ast.UpdateStmt) or stmt.relation is None:
            continue
        relation = stmt.relation
        name = f"{relation.schemaname}.{relation.relname}" if relation.schemaname else str(relation.relname)
        by_name[name] = by_name.get(name, 0.0) + float(count)
        if isinstance(stmt, ast.UpdateStmt):
            updates.add(name)
    oids = resolve_relations(conn, by_name)
    tables = load_tables(conn, oids.values())
    writes: dict[str, float] = {}
    for name, count in by_name.items():
        table = tables.get(oids.get(name, -1))
        if table is None:
            continue
        if name in updates:
            with conn.cursor() as cur:
                row = cur.execute(HOT_SHARE_SQL, {"name": table.qualified_name}).fetchone()
            count *= 1.0 - float(row[0] if row and row[0] is not None else 0.0)
        writes[table.qualified_name] = writes.get(table.qualified_name, 0.0) + count
    return writes
