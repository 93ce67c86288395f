"""Constants the application really sends, from pg_qualstats, where it is installed in the target database.

pg_stat_statements keeps `WHERE status = $1`; pg_qualstats keeps, per query and per predicate, the constants
it saw (bound parameters included) and how often. Where the advisor and `--verify` bind a `$n` compared with
a column by `=`, `<`, `<=`, `>` or `>=`, the constant this query sent most often wins over a value sampled
from pg_stats: an application polling `status = 'pending'` on a column that is 99 % 'done' is then costed
for 'pending'. Without a figure for the query, the constant sent most often for that column and operator
by any query is used.

A `$n` equality on a low-cardinality column that (nearly) always receives the same constant also yields
partial candidates, as a constant written in several queries does: `state = $2`, sent `'new'` every
time, can be served by an index `WHERE state = 'new'`. PostgreSQL uses such an index for a prepared
statement through its custom plans, which it keeps choosing when they are that much cheaper than the
generic one. (pg_qualstats 2.0.4 records no comparison of a boolean column with a parameter, so
`is_read = $2` stays without one.)

A server log gives the same for the statements it holds (`DETAIL:  parameters: $1 = 'pending'` after a
statement run over the extended protocol): add_sent_constants counts those values as pg_qualstats' are,
for the query that sent them (known by its text: constants_key) and for its column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pglast
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pgdba.advisor.catalog import TableInfo
from pgdba.advisor.parse_tree import constant_text as parsed_constant_text
from pgdba.advisor.query_columns import QueryColumns, Role
from pgdba.advisor.workload import WorkloadQuery

# The operators whose constants bind one `$n` on their own (IN lists and arrays are left to pg_stats).
OBSERVED_OPERATORS = frozenset({"=", "<", "<=", ">", ">="})
# LIKE / ILIKE patterns, by pg_operator's name → the name pgdba.advisor.query_columns gives the use: what
# the application sends for `title LIKE $1` says whether it is a prefix (a btree serves it) or a contains
# search (only a trigram index does)
PATTERN_OPERATORS = {"~~": "LIKE", "~~*": "ILIKE"}

EXTENSION_SQL = """
SELECT n.nspname
  FROM pg_extension e
  JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'pg_qualstats'
"""

CONSTANTS_SQL = """
SELECT q.queryid::text AS queryid,
       n.nspname AS schema,
       c.relname AS table,
       a.attname AS column,
       o.oprname AS operator,
       q.constvalue AS constant,
       sum(q.occurences)::float8 AS seen
  FROM {function}() q
  JOIN pg_class c ON c.oid = q.lrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = q.lrelid AND a.attnum = q.lattnum
  JOIN pg_operator o ON o.oid = q.opno
 WHERE q.constvalue IS NOT NULL
   AND q.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND o.oprname = ANY(%(operators)s)
 GROUP BY 1, 2, 3, 4, 5, 6
"""

ColumnKey = tuple[str, str, str, str]  # schema, table, column, operator
# A query's parameter counts as fixed when one constant makes up this share of at least this many sends.
FIXED_SHARE = 0.9
FIXED_MIN_SEEN = 5


@dataclass
class ObservedConstants:
    """Per query (its constants_key): the constant it sent most often for a column and operator. Per column
    and operator: how often each constant was sent, by all queries together."""

    per_query: dict[tuple[str, ColumnKey], tuple[float, str]] = field(default_factory=dict)
    query_totals: dict[tuple[str, ColumnKey], float] = field(default_factory=dict)
    tallies: dict[ColumnKey, dict[str, float]] = field(default_factory=dict)
    # LIKE / ILIKE only: every pattern a query sent, and how often
    query_patterns: dict[tuple[str, ColumnKey], dict[str, float]] = field(default_factory=dict)
    # a logged query's own: `$n` → the value it was sent most often (first sent on a tie), whatever the
    # parameter is compared with (`status = CAST($1::text AS "Status")`, a LIMIT, a function's argument)
    sent: dict[str, dict[int, str]] = field(default_factory=dict)

    def add(self, queryid: str | None, key: ColumnKey, value: str, seen: float) -> None:
        if queryid is not None:
            if seen > self.per_query.get((queryid, key), (0.0, ""))[0]:
                self.per_query[(queryid, key)] = (seen, value)
            self.query_totals[(queryid, key)] = self.query_totals.get((queryid, key), 0.0) + seen
            if key[3] in PATTERN_OPERATORS.values():
                patterns = self.query_patterns.setdefault((queryid, key), {})
                patterns[value] = patterns.get(value, 0.0) + seen
        tally = self.tallies.setdefault(key, {})
        tally[value] = tally.get(value, 0.0) + seen

    def patterns(self, queryid: str | None, key: ColumnKey) -> dict[str, float]:
        """The LIKE / ILIKE patterns this query sent for the column (key's operator "LIKE" or "ILIKE"),
        with how often; empty when pg_qualstats saw none."""
        return dict(self.query_patterns.get((queryid, key), {})) if queryid is not None else {}

    def value(self, queryid: str | None, key: ColumnKey) -> str | None:
        """The constant to bind: this query's most frequent one, else the column's (ties: lowest text)."""
        if queryid is not None and (queryid, key) in self.per_query:
            return self.per_query[(queryid, key)][1]
        tally = self.tallies.get(key)
        if not tally:
            return None
        return min(tally, key=lambda v: (-tally[v], v))

    def fixed(self, queryid: str, key: ColumnKey) -> str | None:
        """The constant this query sends (nearly) every time for that column and operator, if there is one."""
        seen, value = self.per_query.get((queryid, key), (0.0, ""))
        total = self.query_totals.get((queryid, key), 0.0)
        if total >= FIXED_MIN_SEEN and seen >= FIXED_SHARE * total:
            return value
        return None

    def sent_values(self, queryid: str | None) -> dict[int, str]:
        """The values a log says this query (its constants_key) was run with, by parameter number."""
        return dict(self.sent.get(queryid, {})) if queryid is not None else {}

    def __len__(self) -> int:
        return sum(len(t) for t in self.tallies.values())


def constants_key(queryid: str | None, text: str) -> str:
    """What ObservedConstants knows a query's own constants by: its pg_stat_statements id (pg_qualstats'),
    else, for a query from a log, its text."""
    return queryid if queryid is not None else f"text:{text}"


def add_sent_constants(
    observed: ObservedConstants | None,
    queries: Sequence[WorkloadQuery],
    columns: Sequence[QueryColumns],
    tables: Mapping[str, TableInfo],
) -> ObservedConstants | None:
    """pg_qualstats' constants (`observed`, None where it is not installed) with the values a server log
    says each query was run with (WorkloadQuery.sent): each query's own (ObservedConstants.sent), and for
    each `$n` compared with a column as pg_qualstats records (OBSERVED_OPERATORS, LIKE / ILIKE; not through
    a function) the column's too; None when neither has any."""
    operators = OBSERVED_OPERATORS | set(PATTERN_OPERATORS.values())
    sent = [(query, used) for query, used in zip(queries, columns, strict=True) if query.sent]
    if not sent:
        return observed
    found = observed if observed is not None else ObservedConstants()
    for query, used in sent:
        query_key = constants_key(query.queryid, query.sql)
        found.sent[query_key] = {
            number: max(values, key=lambda value: values[value]) for number, values in query.sent.items()
        }
        for number, values in query.sent.items():
            column, operator = used.parameters.get(number, (None, ""))
            table = tables.get(column.relation) if column is not None else None
            if column is None or table is None or column.function or operator not in operators:
                continue
            key = (table.schema, table.name, column.column, operator)
            for value, times in values.items():
                found.add(query_key, key, value, float(times))
    return found


def load_observed_constants(conn: psycopg.Connection) -> ObservedConstants | None:
    """pg_qualstats' constants for this database; None when the extension is not installed here or its
    figures cannot be read (then pg_stats samples are used)."""
    row = conn.execute(EXTENSION_SQL).fetchone()
    if row is None:
        return None
    query = sql.SQL(CONSTANTS_SQL).format(function=sql.Identifier(row[0], "pg_qualstats"))
    try:
        # in its own (sub)transaction: a failure (not preloaded, no privilege) must not abort the caller's
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            operators = sorted(OBSERVED_OPERATORS | set(PATTERN_OPERATORS))
            rows = cur.execute(query, {"operators": operators}).fetchall()
    except psycopg.Error:
        return None
    observed = ObservedConstants()
    for r in rows:
        value = constant_text(r["constant"])
        if value is not None:
            operator = PATTERN_OPERATORS.get(str(r["operator"]), str(r["operator"]))
            key = (r["schema"], r["table"], r["column"], operator)
            observed.add(r["queryid"], key, value, float(r["seen"]))
    return observed


def constant_text(constant: str) -> str | None:
    """The value of a constant as pg_qualstats prints it (`'pending'::text`, `5::numeric`, `true`) in the
    text form pg_stats uses; None for anything but a plain (possibly cast) constant."""
    try:
        statements = pglast.parse_sql(f"SELECT {constant}")
    except pglast.parser.ParseError:
        return None
    if len(statements) != 1:
        return None
    target = statements[0].stmt.targetList  # type: ignore[union-attr]
    if not target or len(target) != 1:
        return None
    return parsed_constant_text(target[0].val)


def query_fixed_equalities(
    observed: ObservedConstants, query: WorkloadQuery, used: QueryColumns, tables: Mapping[str, TableInfo]
) -> list[tuple[str, str, str]]:
    """(schema.table, column, constant) for each `column = $n` in a conjunctive filter of the query that
    it sends one constant (nearly) every time: partial-index predicates, as recurring literal constants
    are."""
    filtered = {
        u.column for u in used.uses if u.role is Role.EQUALITY and u.operator == "=" and u.conjunctive
    }
    found = []
    for column, operator in used.parameters.values():
        table = tables.get(column.relation)
        if operator != "=" or column not in filtered or table is None or column.function:
            continue
        value = observed.fixed(
            constants_key(query.queryid, query.sql), (table.schema, table.name, column.column, "=")
        )
        if value is not None:
            found.append((table.qualified_name, column.column, value))
    return found
