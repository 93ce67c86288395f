"""Statement checks over pg_stat_statements counters (cumulative or a delta between snapshots).

Every function takes the application's statements (a StatementSet: top-level DML on user tables, not pgdba's
or a monitor's catalog queries, not DDL) and returns Findings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass

from pgdba.advisor.query_columns import QueryColumns, Role, columns_by_role
from pgdba.checks.statement_recommendations import (
    is_application_query,
    is_single_table_key_lookup,
    statement_kind,
)
from pgdba.errors import InputError
from pgdba.findings import Finding, Severity
from pgdba.statement_text import shortened
from pgdba.statement_tree import called_functions, is_application_text
from pgdba.stats.foreign_keys import ForeignKey
from pgdba.stats.statements import (
    HiddenStatements,
    StatementKey,
    StatementStats,
    merged_statements,
    statement_keys,
)

QUERY_WIDTH = 120


@dataclass(frozen=True)
class ParsedStatement:
    """A statement with the columns its parse tree uses."""

    stats: StatementStats
    columns: QueryColumns

    @property
    def label(self) -> str:
        return shortened(self.stats.query, QUERY_WIDTH)


# a word, quoted or not, at the end of the text before an opening parenthesis: a function call's name ends so
_NAME_AT_END = re.compile(r'(?:"((?:[^"]|"")+)"|([\w$]+))\s*$')


def _names_before_parentheses(text: str) -> set[str]:
    """The words (lowercased) that an opening parenthesis follows: the names a call may end with. Found
    from each parenthesis backwards: a pattern tried at every position took 0.9 s over 5,000 ORM texts."""
    names: set[str] = set()
    at = text.find("(")
    while at != -1:
        found = _NAME_AT_END.search(text, max(0, at - 130), at)
        if found is not None:
            names.add((found.group(1) or found.group(2)).replace('""', '"').lower())
        at = text.find("(", at + 1)
    return names


class StatementSet:
    """Statements with their parse trees computed on demand and cached.

    Parsing is the expensive part of the query checks (about 1 ms a statement); every check first filters on
    its numbers and parses only the statements that pass, so 5,000 statements cost a handful of parses. Whether
    a statement is the application's at all is told without the Python parse tree (is_application)."""

    def __init__(
        self,
        statements: Iterable[StatementStats],
        read_as: Mapping[tuple[int, int, int, bool], str] | None = None,
        functions: Set[str] = frozenset(),
    ) -> None:
        """`read_as`: the text to parse for a statement instead of its own (its role's row-security policies
        in its tables' place: pgdba.advisor.row_security); what is shown stays the recorded text.
        `functions`: the database's own functions (pgdba.stats.functions): a statement that reads no table
        but calls one is the application's too (function_calls), though no query check parses it."""
        self._read_as = read_as or {}
        self._functions = functions
        self._function_calls: dict[tuple[int, int, int, bool], list[str]] | None = None
        # one row however many roles ran a statement, or parameter types it was sent with
        merged = merged_statements(s for s in statements if s.toplevel)
        self.stats = sorted((m for m, _ in merged), key=lambda s: s.total_ms, reverse=True)
        self._rows = {m.key: rows for m, rows in merged}
        self._parsed: dict[tuple[int, int, int, bool], ParsedStatement | None] = {}
        self._application: dict[tuple[int, int, int, bool], bool] = {}
        self._lists: dict[float, dict[str, list[ParsedStatement]]] = {}

    def parsed(self, stmt: StatementStats) -> ParsedStatement | None:
        """The statement with its columns, or None when it is not application DML on user tables."""
        if stmt.key not in self._parsed:
            self._parsed[stmt.key] = _parse(stmt, self._read_as.get(stmt.key, stmt.query))
        return self._parsed[stmt.key]

    def is_application(self, stmt: StatementStats) -> bool:
        """Whether the statement is the application's: DML on user tables, or a call of the database's own
        functions that reads no table (function_calls)."""
        return self.reads_tables(stmt) or stmt.key in self.function_calls()

    def reads_tables(self, stmt: StatementStats) -> bool:
        """Whether the statement is application DML on user tables (see _parse): from its parse tree when it
        was parsed, else from the parser's JSON tree (pgdba.statement_tree, ten times cheaper)."""
        if stmt.key in self._parsed:
            return self._parsed[stmt.key] is not None
        if stmt.key not in self._application:
            self._application[stmt.key] = is_application_text(stmt.query)
        return self._application[stmt.key]

    def function_calls(self) -> dict[tuple[int, int, int, bool], list[str]]:
        """The statements that read no table but call the database's own functions (`SELECT
        customer_total($1)`, an RPC `SELECT * FROM api.search($1)`), each with the ones it calls."""
        if self._function_calls is None:
            self._function_calls = {}
            if self._functions:
                # a cheap look at the text first: most statements name no user function at all
                bare = {name.rsplit(".", 1)[-1].lower() for name in self._functions}
                for stmt in self.stats:
                    if bare.isdisjoint(_names_before_parentheses(stmt.query)) or self.reads_tables(stmt):
                        continue
                    called = [name for name in called_functions(stmt.query) if name in self._functions]
                    if called:
                        self._function_calls[stmt.key] = called
        return self._function_calls

    def top(self, limit: int, key: Callable[[StatementStats], float]) -> list[StatementStats]:
        """The `limit` application statements with the largest `key` (total or mean time)."""
        chosen: list[StatementStats] = []
        for stmt in sorted(self.stats, key=key, reverse=True):
            if len(chosen) == limit:
                break
            if self.is_application(stmt):
                chosen.append(stmt)
        return chosen

    def rows_of(self, stmt: StatementStats) -> list[StatementStats]:
        """The pg_stat_statements rows one of `stats` merges (see merged_statements)."""
        return self._rows[stmt.key]

    def select(self, keep: Callable[[StatementStats], bool]) -> list[ParsedStatement]:
        """Application statements whose numbers pass `keep` (checked before parsing)."""
        chosen = (self.parsed(s) for s in self.stats if keep(s))
        return [p for p in chosen if p is not None]

    def weigh(self, hidden: HiddenStatements) -> HiddenStatements:
        """Other roles' statements this role may not read, measured against the application statements it
        reads: their time, the busiest first, summed until it matches the hidden time (only the statements
        that takes are parsed; whether the hidden ones hold most of the time is all that is asked)."""
        total = 0.0
        for stmt in self.stats:  # (busiest first)
            if total >= hidden.total_ms:
                break
            if self.is_application(stmt):
                total += stmt.total_ms
        return hidden.beside(total)

    def list_queries(self, min_rows_per_call: float) -> dict[str, list[ParsedStatement]]:
        """SELECTs returning ≥ `min_rows_per_call` rows per call, by the bare name of each table they read
        (computed once: every N+1 candidate asks)."""
        if min_rows_per_call not in self._lists:
            by_table: dict[str, list[ParsedStatement]] = {}
            for p in self.select(lambda s: s.rows_per_call >= min_rows_per_call):
                if statement_kind(p.columns) == "select":
                    for relation in {_bare(rel) for rel in p.columns.tables}:
                        by_table.setdefault(relation, []).append(p)
            self._lists[min_rows_per_call] = by_table
        return self._lists[min_rows_per_call]


def _parse(stmt: StatementStats, text: str) -> ParsedStatement | None:
    try:
        columns = columns_by_role(text)
    except InputError:
        return None
    if not is_application_query(columns):
        return None
    return ParsedStatement(stmt, columns)


def statement_metrics(stmt: StatementStats) -> dict[str, object]:
    ratio = stmt.cache_hit_ratio
    return {
        "queryid": str(stmt.queryid),
        "calls": stmt.calls,
        "mean_ms": round(stmt.mean_ms, 2),
        "total_ms": round(stmt.total_ms, 1),
        "rows_per_call": round(stmt.rows_per_call, 2),
        "cache_hit_pct": None if ratio is None else round(ratio, 1),
    }


@dataclass(frozen=True)
class SlowRule:
    """PgHero's rule (≥ `min_calls` calls and ≥ `min_mean_ms` mean) is an info; a mean at or over the
    user's `threshold_ms` over ≥ `threshold_min_calls` calls (a one-off migration is not a slow query) is a
    warning; over `critical_mean_ms` with `min_calls` calls, critical."""

    min_calls: int = 100
    min_mean_ms: float = 20.0
    threshold_ms: float = 100.0
    threshold_min_calls: int = 5
    critical_mean_ms: float = 1000.0

    def severity(self, s: StatementStats) -> Severity | None:
        if s.mean_ms >= self.critical_mean_ms and s.calls >= self.min_calls:
            return Severity.CRITICAL
        if s.mean_ms >= self.threshold_ms and s.calls >= self.threshold_min_calls:
            return Severity.WARNING
        if s.calls >= self.min_calls and s.mean_ms >= self.min_mean_ms:
            return Severity.INFO
        return None


def functions_called(called: Iterable[list[str]]) -> str:
    """`f(), api.g()`: the functions of each statement's list, each once."""
    return ", ".join(dict.fromkeys(f"{name}()" for names in called for name in names))


INSIDE_FUNCTIONS_ADVICE = (
    "pg_stat_statements.track = all records the statements they run (toplevel = false; `pgdba advise "
    "indexes` advises on them), auto_explain.log_nested_statements = on logs their plans"
)


def slow_queries(
    statements: StatementSet,
    *,
    min_calls: int = 100,
    min_mean_ms: float = 20.0,
    threshold_ms: float = 100.0,
    threshold_min_calls: int = 5,
    critical_mean_ms: float = 1000.0,
) -> list[Finding]:
    """Slow statements by SlowRule; a statement that reads no table but calls the database's own functions
    (StatementSet.function_calls) is a slow function call, pointing inside them."""
    found = []
    rule = SlowRule(min_calls, min_mean_ms, threshold_ms, threshold_min_calls, critical_mean_ms)
    for p in statements.select(lambda s: rule.severity(s) is not None):
        s = p.stats
        severity = rule.severity(s)
        if severity is None:
            continue
        found.append(
            Finding(
                "query.slow",
                severity,
                f"Slow query: mean {s.mean_ms:,.1f} ms over {s.calls:,} calls",
                p.label,
                {**statement_metrics(s), "threshold_ms": threshold_ms},
                "EXPLAIN (ANALYZE, BUFFERS) it; `pgdba advise indexes` proposes indexes for the workload",
            )
        )
    # a statement that reads no table but calls the database's own functions, by the same rule
    called = statements.function_calls()
    for s in statements.stats:
        severity = rule.severity(s) if s.key in called else None
        if severity is not None:
            found.append(
                Finding(
                    "query.slow",
                    severity,
                    f"Slow function call: mean {s.mean_ms:,.1f} ms over {s.calls:,} calls",
                    shortened(s.query, QUERY_WIDTH),
                    {**statement_metrics(s), "threshold_ms": threshold_ms},
                    f"The time is spent inside {functions_called([called[s.key]])}: {INSIDE_FUNCTIONS_ADVICE}",
                )
            )
    return found


def low_cache_hit_queries(
    statements: StatementSet,
    *,
    min_ratio: float = 90.0,
    min_blocks: int = 1000,
    critical_below: float = 50.0,
) -> list[Finding]:
    """Shared-buffer hit ratio under `min_ratio` % once at least `min_blocks` blocks were touched."""
    found = []
    for p in statements.select(
        lambda s: (
            s.shared_blks_hit + s.shared_blks_read >= min_blocks
            and s.cache_hit_ratio is not None
            and s.cache_hit_ratio < min_ratio  # 0 % (every block read) is the worst case, not "no data"
        )
    ):
        s = p.stats
        ratio = s.cache_hit_ratio or 0.0
        found.append(
            Finding(
                "query.low_cache_hit",
                Severity.WARNING if ratio >= critical_below else Severity.CRITICAL,
                f"Low cache hit ratio: {ratio:.0f}% (target ≥ {min_ratio:g}%)",
                p.label,
                {**statement_metrics(s), "blocks_read": s.shared_blks_read},
                "The query reads from disk: an index that narrows the rows read, or more shared_buffers",
            )
        )
    return found


def unstable_plan_queries(
    statements: StatementSet,
    *,
    max_variation: float = 1.0,
    min_calls: int = 20,
    min_mean_ms: float = 1.0,
) -> list[Finding]:
    """Execution time varies widely (stddev / mean ≥ `max_variation`): plan flips, skew or cold cache."""
    found = []
    for p in statements.select(
        lambda s: (
            s.calls >= min_calls and s.mean_ms >= min_mean_ms and s.stddev_ms / s.mean_ms >= max_variation
        )
    ):
        s = p.stats
        variation = s.stddev_ms / s.mean_ms
        found.append(
            Finding(
                "query.unstable_plan",
                Severity.INFO,
                f"Unstable execution time: stddev {s.stddev_ms:,.1f} ms vs mean {s.mean_ms:,.1f} ms",
                p.label,
                {
                    **statement_metrics(s),
                    "stddev_ms": round(s.stddev_ms, 2),
                    "variation": round(variation, 2),
                },
                "Compare plans for different parameters (auto_explain); refresh statistics with ANALYZE",
            )
        )
    return found


def temp_spill_queries(
    statements: StatementSet,
    *,
    min_temp_blocks_per_call: float = 128.0,
    min_calls: int = 10,
) -> list[Finding]:
    """Queries writing temp files (sorts and hashes bigger than work_mem), ≥ `min_temp_blocks_per_call`
    blocks (8 kB) per call on average."""
    found = []
    for p in statements.select(
        lambda s: s.calls >= min_calls and s.temp_blks_written / s.calls >= min_temp_blocks_per_call
    ):
        s = p.stats
        per_call_kb = s.temp_blks_written * 8 / s.calls
        found.append(
            Finding(
                "query.temp_spill",
                Severity.WARNING,
                f"Spills to temp files: {per_call_kb:,.0f} kB per call",
                p.label,
                {**statement_metrics(s), "temp_blks_written": s.temp_blks_written},
                "Raise work_mem for this workload (SET work_mem in the session) or index the ORDER BY",
            )
        )
    return found


def _lookup_column(columns: QueryColumns) -> tuple[str, str] | None:
    """(relation, column) of a single-table equality lookup on one column: a SELECT (an UPDATE or DELETE by
    key repeated per row is a loop of writes, which eager loading does not replace)."""
    if statement_kind(columns) != "select" or not is_single_table_key_lookup(columns):
        return None
    equal = [u.column for u in columns.uses if u.role is Role.EQUALITY]
    if len({c.column for c in equal}) != 1:
        return None
    return equal[0].relation, equal[0].column


def _bare(relation: str) -> str:
    return relation.rsplit(".", 1)[-1]


def list_queries_behind(
    lookup: ParsedStatement,
    statements: StatementSet,
    fks: Sequence[ForeignKey] | None,
    *,
    min_outer_rows_per_call: float = 5.0,
    max_lookups_per_listed_row: float = 2.0,
) -> list[ParsedStatement]:
    """The list queries a one-row key lookup is repeated for, or [] when it is no such lookup or its calls
    do not track their rows: SELECTs returning ≥ `min_outer_rows_per_call` rows per call from the looked-up
    table or a table related to the looked-up column by a foreign key (any table when `fks` is None), which
    together returned at least 1 / `max_lookups_per_listed_row` rows per lookup. A hot lookup made once per
    request, with far more calls than any list ever returned rows, is no N+1."""
    found = _lookup_column(lookup.columns)
    if found is None:
        return []
    table, column = _bare(found[0]), found[1]
    related = {table} | {
        fk.ref_table if fk.table == table else fk.table
        for fk in fks or ()
        if (fk.table == table and column in fk.columns)
        or (fk.ref_table == table and column in fk.ref_columns)
    }
    lists = statements.list_queries(min_outer_rows_per_call)
    candidates = {
        o.stats.key: o for relation in (lists if fks is None else related) for o in lists.get(relation, ())
    }
    outers = [o for key, o in candidates.items() if key != lookup.stats.key]
    listed_rows = sum(o.stats.rows for o in outers)
    if not outers or lookup.stats.calls > max_lookups_per_listed_row * listed_rows:
        return []
    return outers


def n_plus_one_queries(
    statements: StatementSet,
    fks: Sequence[ForeignKey],
    *,
    min_calls: int = 500,
    max_rows_per_call: float = 1.5,
    max_mean_ms: float = 5.0,
    min_outer_rows_per_call: float = 5.0,
    max_lookups_per_listed_row: float = 2.0,
) -> list[Finding]:
    """An N+1: a SELECT by one key on one table, called ≥ `min_calls` times at ~1 row and ≤ `max_mean_ms`,
    AND list queries returning ≥ `min_outer_rows_per_call` rows per call from that table or one related to
    the looked-up column by a foreign key (lessons.course_id → courses.id: one lookup per listed row), whose
    rows add up to at least 1 / `max_lookups_per_listed_row` per lookup call (see list_queries_behind)."""
    found = []
    inners = statements.select(
        lambda s: s.calls >= min_calls and s.rows_per_call <= max_rows_per_call and s.mean_ms <= max_mean_ms
    )
    for inner in inners:
        s = inner.stats
        outers = list_queries_behind(
            inner,
            statements,
            fks,
            min_outer_rows_per_call=min_outer_rows_per_call,
            max_lookups_per_listed_row=max_lookups_per_listed_row,
        )
        lookup = _lookup_column(inner.columns)
        if not outers or lookup is None:
            continue
        table, column = _bare(lookup[0]), lookup[1]
        outer = max(outers, key=lambda o: o.stats.rows)
        found.append(
            Finding(
                "query.n_plus_one",
                Severity.WARNING,
                f"N+1: {s.calls:,} one-row lookups of {table}.{column}, one per row of a list query",
                inner.label,
                {
                    **statement_metrics(s),
                    "lookup": f"{table}.{column}",
                    "outer_queryid": str(outer.stats.queryid),
                    "outer_query": outer.label,
                    "outer_rows": outer.stats.rows,
                    "outer_calls": outer.stats.calls,
                },
                "Fetch the related rows in one query (WHERE key = ANY($1), a JOIN, or the ORM's "
                "include/eager loading) instead of one query per listed row",
            )
        )
    return found


def query_regressions(
    current: StatementSet,
    previous: Iterable[StatementStats],
    *,
    min_ratio: float = 2.0,
    min_mean_ms: float = 10.0,
    min_calls: int = 20,
) -> list[Finding]:
    """Statements whose mean time in this window is ≥ `min_ratio` × their mean in the previous one.

    `current` are the deltas since the last snapshot; `previous` the deltas of the window before it (or
    its cumulative counters)."""
    before: dict[StatementKey, StatementStats] = {}  # like `current`: one row per statement
    for merged, rows in merged_statements(previous):
        before.update((key, merged) for row in rows for key in statement_keys(row))
    found = []

    def earlier(s: StatementStats) -> StatementStats | None:
        return next((before[key] for key in statement_keys(s) if key in before), None)

    def regressed(s: StatementStats) -> bool:
        old = earlier(s)
        if old is None or old.calls < min_calls or s.calls < min_calls or s.mean_ms < min_mean_ms:
            return False
        return old.mean_ms > 0 and s.mean_ms / old.mean_ms >= min_ratio

    for p in current.select(regressed):
        s = p.stats
        old = earlier(s)
        if old is None:  # (regressed(s) found it)
            continue
        found.append(
            Finding(
                "query.regression",
                Severity.WARNING,
                f"Slower than before: mean {old.mean_ms:,.1f} ms → {s.mean_ms:,.1f} ms",
                p.label,
                {
                    **statement_metrics(s),
                    "previous_mean_ms": round(old.mean_ms, 2),
                    "ratio": round(s.mean_ms / old.mean_ms, 2),
                },
                "Look for a plan change (dropped index, stale statistics, data growth) since the last snapshot",
            )
        )
    return found
