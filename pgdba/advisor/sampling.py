"""Constants for a normalised query's `$n` parameters, sampled from pg_stats.

pg_stat_statements keeps `WHERE status = $1`, not the value. A generic plan prices such a query for an
average value; where that misleads (a skewed column, a one-sided range the planner prices at a default
third of the rows, a parameter whose type it cannot infer) the advisor and `--verify` bind values taken from
the column's statistics instead:

- `=` / `IN` / `= ANY` (an array of that one value): the value a row picked at random most likely holds:
  the most common value covering the middle row when the common values cover half of the rows, else the
  histogram's median (further `IN` parameters take the next common values or histogram buckets);
- `<`, `<=`: the histogram bound a tenth of the way up (about 10 % of the rows qualify); `>`, `>=`: a tenth
  of the way down; both bounds of one column's range (`BETWEEN`, `>= $a AND < $b`): the histogram bounds
  around the median, a tenth of the histogram apart;
- a column inside `lower()` / `upper()`: its sample, lowered or uppercased;
- `LIKE`: the typical value's first half (at least three characters) followed by `%`, the shape of a
  search-as-you-type filter; when that start matches only the histogram bound it was cut from, its last
  character moved one up, so that it matches no bound (like_pattern: PostgreSQL estimates a pattern by the
  share of bounds it matches, and a selective prefix cut from a bound would always match one, a hundred
  times the share a typed prefix of a unique column gets);
- a search a trigram index serves (query_columns.SearchUse): `ILIKE $n` the middle part of the typical
  value between `%`s (`%<middle>%`, the shape of a "contains" search), `~` / `~*` that part as a regular
  expression, and a `$n` inside a concatenation (`'%' || $n || '%'`) the part alone; an ambiguous `LIKE $n`
  keeps the prefix above (the btree's reading);
- `LIMIT $n`: 10, `OFFSET $n`: 0.

Where pg_qualstats is installed in the target database, a `$n` compared by `=`, `<`, `<=`, `>` or `>=`
takes the constant the application sent most often instead (pgdba.advisor.observed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import pglast
import psycopg
from pglast import ast
from psycopg import sql
from psycopg.rows import dict_row

from pgdba.advisor.candidates import Candidate
from pgdba.advisor.catalog import TableInfo
from pgdba.advisor.observed import OBSERVED_OPERATORS, PATTERN_OPERATORS, ObservedConstants, constants_key
from pgdba.advisor.parse_tree import walk
from pgdba.advisor.query_columns import KEY_FUNCTIONS, ClockOffset, QueryColumns, TableColumn
from pgdba.advisor.selection import PREFILTER_BATCH
from pgdba.advisor.whatif import WhatIfSession
from pgdba.advisor.workload import WorkloadQuery, parameter_count

STATS_SQL = """
SELECT most_common_vals::text::text[] AS common,
       most_common_freqs AS frequencies,
       histogram_bounds::text::text[] AS histogram
  FROM pg_stats
 WHERE schemaname = %(schema)s
   AND tablename = %(table)s
   AND attname = %(column)s
"""

LIMIT_SAMPLE = "10"
# a sampled `LIKE $n` pattern keeps at least this many leading characters of a typical value
LIKE_MIN_PREFIX = 3
OFFSET_SAMPLE = "0"


@dataclass(frozen=True)
class ColumnSample:
    """What pg_stats says about one column's values."""

    common: tuple[str, ...] = ()
    frequencies: tuple[float, ...] = ()
    histogram: tuple[str, ...] = ()

    def typical(self, rank: int = 0) -> str | None:
        """The value a row picked at random most likely holds (`rank` > 0: further distinct values)."""
        covered = 0.0
        middle: int | None = None
        for index, frequency in enumerate(self.frequencies):
            covered += frequency
            if covered >= 0.5:
                middle = index
                break
        if middle is not None and self.common:
            return self.common[(middle + rank) % len(self.common)]
        if self.histogram:
            step = max(len(self.histogram) // 10, 1)
            return self.histogram[(len(self.histogram) // 2 + rank * step) % len(self.histogram)]
        return self.common[rank % len(self.common)] if self.common else None

    def bound(self, operator: str) -> str | None:
        """A range bound about a tenth of the rows pass (`<`, `<=`, `>`, `>=`)."""
        values = self.histogram  # in value order (the common values are in frequency order)
        if not values:
            return None
        tenth = len(values) // 10
        return values[tenth] if operator in ("<", "<=") else values[-1 - tenth]

    def sample(self, operator: str, rank: int = 0) -> str | None:
        if operator in ("=", "IN"):
            return self.typical(rank)
        if operator == "= ANY":  # an array of the typical value
            value = self.typical(rank)
            return None if value is None else '{"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"}'
        if operator in ("<", "<=", ">", ">="):
            return self.bound(operator)
        if operator == "LIKE":
            return self.like_pattern(rank)
        if operator in SEARCH_SAMPLES:
            value = self.typical(rank)
            return None if value is None else SEARCH_SAMPLES[operator](middle_part(value))
        return None

    def like_pattern(self, rank: int = 0) -> str | None:
        """A search-as-you-type pattern: the start of the typical value, then `%`.

        PostgreSQL estimates a pattern over the histogram by the share of its bounds the pattern matches
        (at least 1 in 10 000). A typed prefix of a unique column (an email) matches one row, so almost
        never a bound: the estimate is that floor. A prefix cut from a bound always matches that bound, and
        gets 1 % with a 100-bound histogram: LIMIT 20 then looks as if it stops after a few pages, and no
        index seems worth building. So a start that matches only the bound it was cut from (selective) is
        moved inside its bucket (the last character one up) while that matches no bound. A start several
        bounds share (`Nick` of `Nick12345`) is broad, and the share of bounds it matches is the right
        estimate: it is kept, as is a common value's (PostgreSQL counts those exactly)."""
        value = self.typical(rank)
        if value is None:
            return None
        prefix = value[: max(LIKE_MIN_PREFIX, len(value) // 2)]
        matched = sum(1 for bound in self.histogram if bound.startswith(prefix))
        if prefix and value not in self.common and matched == 1:  # selective: only its own bound matches
            moved = prefix[:-1] + chr(ord(prefix[-1]) + 1) if ord(prefix[-1]) < 0x10FFFF else ""
            if moved.isprintable() and not any(bound.startswith(moved) for bound in self.histogram):
                prefix = moved
        return like_start(prefix)


def middle_part(value: str) -> str:
    """The middle half of a value (at least LIKE_MIN_PREFIX characters): what a "contains" search types."""
    length = max(LIKE_MIN_PREFIX, len(value) // 2)
    start = max((len(value) - length) // 2, 0)
    return value[start : start + length]


def like_escaped(text: str) -> str:
    """Text matched literally inside a LIKE pattern: its wildcards and backslashes escaped."""
    return re.sub(r"([\\%_])", r"\\\1", text)


def regex_escaped(text: str) -> str:
    """Text matched literally by a POSIX regular expression: its special characters escaped."""
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", text)


# a search's parameter (query_columns.SearchUse, by its operator) → its value from a middle part
SEARCH_SAMPLES: dict[str, Callable[[str], str]] = {
    "ILIKE": lambda part: f"%{like_escaped(part)}%",
    "~": regex_escaped,
    "~*": regex_escaped,
    "LIKE part": like_escaped,
    "ILIKE part": like_escaped,
    "~ part": regex_escaped,
    "~* part": regex_escaped,
}


def _observed_value(
    observed: ObservedConstants | None,
    queryid: str | None,
    table: TableInfo | None,
    column: TableColumn,
    operator: str,
) -> str | None:
    """The constant pg_qualstats saw this query send for `column operator $n` (for `=` and ranges, else
    the column's commonest from any query), its commonest LIKE / ILIKE pattern (this query's only: another
    query's may be a prefix where this one searches); None when there is none or the column is compared
    through a function (pg_qualstats records `lower(col) = $1` as no constant of col)."""
    if observed is None or table is None or column.function:
        return None
    key = (table.schema, table.name, column.column, operator)
    if operator in OBSERVED_OPERATORS:
        return observed.value(queryid, key)
    if operator in PATTERN_OPERATORS.values():
        patterns = observed.patterns(queryid, key)
        return min(patterns, key=lambda p: (-patterns[p], p)) if patterns else None
    return None


def like_start(prefix: str) -> str:
    """A LIKE pattern for the values that start with `prefix`: its wildcards escaped, then `%`."""
    return like_escaped(prefix) + "%"


@dataclass(frozen=True)
class BoundQuery:
    """A normalised query with a sampled value for each `$n` (in order)."""

    sql: str
    values: tuple[str, ...]
    written: str = ""  # the query as the workload wrote it, when `sql` differs (views replaced)
    # the parameters (numbers) bound to constants pg_qualstats saw the application send: real application
    # data, so never printed
    observed: tuple[int, ...] = ()

    def printable_values(self) -> list[str]:
        """The values, with the observed ones masked."""
        return ["(observed)" if n in self.observed else v for n, v in enumerate(self.values, start=1)]


class StatsReader:
    """pg_stats rows of the columns parameters are compared with, each read once; and the constants
    pg_qualstats saw, when the caller loaded them."""

    def __init__(self, conn: psycopg.Connection, observed: ObservedConstants | None = None) -> None:
        self.conn = conn
        self.observed = observed
        self._samples: dict[tuple[str, str, str], ColumnSample | None] = {}

    def column(self, table: TableInfo, column: str) -> ColumnSample | None:
        key = (table.schema, table.name, column)
        if key not in self._samples:
            params = {"schema": table.schema, "table": table.name, "column": column}
            with self.conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(STATS_SQL, params).fetchone()
            self._samples[key] = (
                None
                if row is None
                else ColumnSample(
                    tuple(row["common"] or ()),
                    tuple(float(f) for f in row["frequencies"] or ()),
                    tuple(row["histogram"] or ()),
                )
            )
        return self._samples[key]

    def sample_of(self, tables: Mapping[str, TableInfo], column: TableColumn) -> ColumnSample | None:
        """The pg_stats sample of a query's column, None when its table is not among `tables`."""
        table = tables.get(column.relation)
        return self.column(table, column.column) if table is not None else None

    def clock_offset(self, offset: ClockOffset, value: str) -> str | None:
        """The interval `$n` that puts `clock - $n` (or `clock + $n`) at `value`, a sample of the column the
        clock is compared with; None when it is not a point in time."""
        clock = sql.SQL(offset.clock)  # one of query_columns' fixed clock spellings
        template = (
            "{}::timestamptz - %s::timestamptz" if offset.sign == "-" else "%s::timestamptz - {}::timestamptz"
        )
        statement = sql.SQL("SELECT ({})::text").format(sql.SQL(template).format(clock))
        try:
            with self.conn.transaction():  # a savepoint in a caller's transaction
                row = self.conn.execute(statement, (value,)).fetchone()
        except psycopg.Error:
            return None
        return None if row is None or row[0] is None else str(row[0])


def bind_parameters(
    reader: StatsReader,
    text: str,
    columns: QueryColumns,
    tables: Mapping[str, TableInfo],
    *,
    written: str = "",
    queryid: str | None = None,
) -> BoundQuery | None:
    """A value for every `$n` of `text` (those a log says the query was run with, else observed by
    pg_qualstats, else sampled from pg_stats), or None when one cannot be chosen. `queryid`: the query's
    observed.constants_key, for its own constants."""
    count = parameter_count(text)
    if count == 0:
        return BoundQuery(text, (), written)
    logged = reader.observed.sent_values(queryid) if reader.observed is not None else {}
    logged = {number: value for number, value in logged.items() if number <= count}
    values: dict[int, str] = {**limit_parameters(text), **logged}
    observed: set[int] = set(logged)
    ranks: dict[TableColumn, int] = {}
    for number in sorted(columns.parameters):
        if number in values:
            continue
        column, operator = columns.parameters[number]
        table = tables.get(column.relation)
        seen = _observed_value(reader.observed, queryid, table, column, operator)
        if seen is not None:
            values[number] = seen
            observed.add(number)
            continue
        sample = reader.sample_of(tables, column)
        if sample is None:
            continue
        rank = ranks.get(column, 0) if operator == "IN" else 0
        ranks[column] = rank + 1
        value = sample.sample(operator, rank)
        if value is not None:
            # `lower(email) = $1` compares with the lowered value
            values[number] = KEY_FUNCTIONS[column.function](value) if column.function else value
    for number, offset in sorted(columns.clock_offsets.items()):  # `at > now() - $n`
        if number in values or offset.column.function:
            continue
        sample = reader.sample_of(tables, offset.column)
        point = sample.sample(offset.operator) if sample is not None else None
        value = reader.clock_offset(offset, point) if point is not None else None
        if value is not None:
            values[number] = value
    for number, column in sorted(columns.assigned.items()):  # `SET status = $n`: what a row holds
        if number in values:
            continue
        sample = reader.sample_of(tables, column)
        value = sample.typical() if sample is not None else None
        if value is not None:
            values[number] = value
    for column, low, high in _range_pairs(columns):
        if low in values and high in values and not {low, high} & observed:
            around = _around_median(reader, tables, column)
            if around is not None:
                values[low], values[high] = around
    if any(n not in values for n in range(1, count + 1)):
        return None
    return BoundQuery(text, tuple(values[n] for n in range(1, count + 1)), written, tuple(sorted(observed)))


def _range_pairs(columns: QueryColumns) -> list[tuple[TableColumn, int, int]]:
    """The lower and upper bound parameters of one column's range: `BETWEEN $a AND $b`, and the half-open
    `col >= $a AND col < $b` of a date range, in either order. Sampled alone, each bound lets a tenth of
    the rows through from its own end (the lower one at the 90th percentile, the upper one at the 10th):
    together an empty range, which the planner prices at one row and partition pruning at nothing. The
    k-th lower bound of a column pairs with its k-th upper bound."""
    lower: dict[TableColumn, list[int]] = {}
    upper: dict[TableColumn, list[int]] = {}
    for number, (column, operator) in sorted(columns.parameters.items()):
        if operator in (">", ">="):
            lower.setdefault(column, []).append(number)
        elif operator in ("<", "<="):
            upper.setdefault(column, []).append(number)
    return [
        (column, low, high)
        for column, lows in lower.items()
        for low, high in zip(lows, upper.get(column, []), strict=False)
    ]


def _around_median(
    reader: StatsReader, tables: Mapping[str, TableInfo], column: TableColumn
) -> tuple[str, str] | None:
    """Histogram bounds around the median, a tenth of the histogram apart (about a tenth of the rows), through
    the column's key function (`date(at)`); farther apart while that makes them one value (a week of rows
    whose bounds a tenth apart fall on one day), else None."""
    sample = reader.sample_of(tables, column)
    if sample is None or len(sample.histogram) < 3:
        return None
    function = KEY_FUNCTIONS[column.function] if column.function else str
    histogram, middle = sample.histogram, len(sample.histogram) // 2
    for half in range(max(len(histogram) // 20, 1), middle + 1):
        low, high = (
            function(histogram[middle - half]),
            function(histogram[min(middle + half, len(histogram) - 1)]),
        )
        if low != high:
            return low, high
    return None


def limit_parameters(text: str) -> dict[int, str]:
    """`LIMIT $n` gets 10 and `OFFSET $n` gets 0; the LIMIT of a subquery used as a value (`= (SELECT id …
    LIMIT $n)`) gets 1: it is there to return one row, and 10 would fail with "more than one row returned by
    a subquery used as an expression"."""
    nodes = list(walk(pglast.parse_sql(text)))
    scalar = {
        id(node.subselect)
        for node in nodes
        if isinstance(node, ast.SubLink) and node.subLinkType == pglast.enums.SubLinkType.EXPR_SUBLINK
    }
    found: dict[int, str] = {}
    for node in nodes:
        if isinstance(node, ast.SelectStmt):
            if isinstance(node.limitCount, ast.ParamRef) and node.limitCount.number:
                found[node.limitCount.number] = "1" if id(node) in scalar else LIMIT_SAMPLE
            if isinstance(node.limitOffset, ast.ParamRef) and node.limitOffset.number:
                found[node.limitOffset.number] = OFFSET_SAMPLE
    return found


# costing with samples ---------------------------------------------------------------------------------
# A generic plan misleads when its cost differs from the plan with sampled constants by more than this
# factor, with no index or with all of the query's candidates.
MISLEADING_RATIO = 2.0


def bind_for_costing(
    session: WhatIfSession,
    reader: StatsReader,
    query: WorkloadQuery,
    columns: QueryColumns,
    tables: Mapping[str, TableInfo],
) -> BoundQuery | None:
    """The query bound to constants for its `$n` (observed or sampled), if there are some for each and the
    planner takes the query with them as literals."""
    bound = bind_parameters(
        reader, query.sql, columns, tables, queryid=constants_key(query.queryid, query.sql)
    )
    if bound is None or not bound.values:
        return None
    try:
        session.explain(bound.sql, len(bound.values), bound.values)
    except psycopg.Error:
        return None
    return bound


def generic_misleads(
    session: WhatIfSession, query: WorkloadQuery, bound: BoundQuery, candidates: Iterable[Candidate]
) -> bool:
    """Does the generic plan's cost differ from the sampled plan's by more than MISLEADING_RATIO, with no
    index or with all of the query's candidates (at most one prefilter batch of them)?"""
    for config in (frozenset(), frozenset(sorted(candidates)[:PREFILTER_BATCH])):
        generic = session.plan_cost(query.sql, query.param_count, config)
        sampled = session.plan_cost(bound.sql, len(bound.values), config, bound.values)
        low, high = sorted((max(generic, 1e-6), max(sampled, 1e-6)))
        if high / low > MISLEADING_RATIO:
            return True
    return False
