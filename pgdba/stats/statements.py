"""Statement statistics from pg_stat_statements, with the column names of the server's major version."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pgdba.errors import NotAvailable
from pgdba.server import ServerFacts
from pgdba.statement_text import WITHHELD, normalised
from pgdba.stats.statement_texts import rows_with_texts, without_texts

ENABLE_HINT = (
    "pg_stat_statements is not available: run `pgdba setup pg-stat-statements` to see what is missing "
    "(shared_preload_libraries, CREATE EXTENSION) and `--apply` to fix it"
)


@dataclass(frozen=True)
class StatementStats:
    """Cumulative counters of one normalised statement (or their difference between two snapshots)."""

    queryid: int
    dbid: int
    userid: int
    toplevel: bool
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    stddev_ms: float
    min_ms: float
    max_ms: float
    rows: int
    shared_blks_hit: int
    shared_blks_read: int
    temp_blks_written: int
    blk_read_ms: float

    @property
    def key(self) -> tuple[int, int, int, bool]:
        return (self.queryid, self.dbid, self.userid, self.toplevel)

    @property
    def cache_hit_ratio(self) -> float | None:
        """Shared-buffer hit percentage, or None when the statement touched no blocks."""
        touched = self.shared_blks_hit + self.shared_blks_read
        return None if touched == 0 else 100.0 * self.shared_blks_hit / touched

    @property
    def rows_per_call(self) -> float:
        return self.rows / self.calls if self.calls else 0.0

    @property
    def sum_of_squares_ms(self) -> float:
        """Σx² of execution times, recovered from mean and population stddev (what the view reports)."""
        return (self.stddev_ms**2 + self.mean_ms**2) * self.calls

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# pgdba turns pg_stat_statements tracking off in its own sessions (pgdba.target.untrack_own_statements), but a
# role that may not set pg_stat_statements.track is still tracked. The statements of pgdba that read or write
# user tables, so pass the "application DML" filter, or are slow enough to look like the application's, name
# one of these identifiers: the backup's checksum (alias pgdba_row), the advisor's prepared statements
# (pgdba_verify, pgdba_whatif) and scratch databases (pgdba_verify_…), the restore test's scratch databases
# (pgdba_restore_test_…) and the history store's tables (pgdba.snapshot, pgdba.record). Identifiers survive
# pg_stat_statements' normalisation (only constants become $n); a comment marker would not do: the text kept
# is the first one seen for a queryid, comments included, so it would hide an application statement pgdba
# happened to run first. pgdba's catalog queries and utility statements stay in the view, and the readers of
# application statements (pgdba.checks.queries) leave them out.
OWN_STATEMENT_PATTERN = r"\mpgdba_(row|verify|whatif|restore_test_)|\mpgdba\.(snapshot|record)\M"

STATEMENTS_SQL = """
SELECT s.queryid,
       s.dbid,
       s.userid,
       {toplevel} AS toplevel,
       s.query,
       s.calls,
       s.{total} AS total_ms,
       s.{mean} AS mean_ms,
       s.{stddev} AS stddev_ms,
       s.{min} AS min_ms,
       s.{max} AS max_ms,
       s.rows,
       s.shared_blks_hit,
       s.shared_blks_read,
       s.temp_blks_written,
       s.{blk_read} AS blk_read_ms
  FROM {source} AS s
 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND s.queryid IS NOT NULL
   AND s.calls > 0
   AND coalesce(s.query, '') !~ %(own_statement)s
 ORDER BY s.{total} DESC
 LIMIT %(limit)s
"""


def statement_stats(
    conn: psycopg.Connection, facts: ServerFacts, *, limit: int = 5000
) -> list[StatementStats]:
    """The current database's statements, by total time, at most `limit` of them; never pgdba's own (see
    OWN_STATEMENT_PATTERN)."""
    if not facts.pg_stat_statements_ready:
        raise NotAvailable(ENABLE_HINT)
    cols = facts.statement_columns
    rows, unreadable = rows_with_texts(
        conn,
        facts,
        STATEMENTS_SQL,
        {"limit": limit, "own_statement": OWN_STATEMENT_PATTERN},
        toplevel=sql.SQL("s.toplevel") if cols.has_toplevel else sql.SQL("true"),
        total=sql.Identifier(cols.total_exec_time),
        mean=sql.Identifier(cols.mean_exec_time),
        stddev=sql.Identifier(cols.stddev_exec_time),
        min=sql.Identifier(cols.min_exec_time),
        max=sql.Identifier(cols.max_exec_time),
        blk_read=sql.Identifier(cols.blk_read_time),
    )
    # a utility statement keeps its literals in pg_stat_statements (ALTER ROLE … PASSWORD '…'): never
    # let them reach output, reports or the history store
    return [
        StatementStats(
            **{
                **_zero_nulls(row),
                "query": unreadable_text(unreadable) if unreadable else normalised(row["query"] or ""),
            }
        )
        for row in rows
    ]


# This database's statements whose queryid and text pg_stat_statements withholds from this role (another
# role's, read by a role without pg_read_all_stats). Their counters are readable; `showtext => false` reads
# no text at all, so no text can fail to convert.
HIDDEN_STATEMENTS_SQL = """
SELECT count(*) AS statements,
       coalesce(sum(s.calls), 0) AS calls,
       coalesce(sum(s.{total}), 0) AS total_ms
  FROM {without_texts} AS s
 WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND s.queryid IS NULL
   AND s.calls > 0
"""

# above this share of the statement time hidden from this role, the query checks and the advisor would judge
# too little of the workload: they say so rather than "no slow query"
MOST_HIDDEN_SHARE = 0.5


@dataclass(frozen=True)
class HiddenStatements:
    """Statements of other roles pg_stat_statements counts but shows this role without queryid or text.

    They are measured against the time of the application statements this role reads (`visible_total_ms`,
    set by the reader that selected them: its own catalog queries, pgdba's among them, would water the share
    down). A reader may stop adding once the readable side holds as much time as the hidden one: the share
    is exact when most of the time is hidden, and known to be at most half otherwise."""

    statements: int
    calls: int
    total_ms: float
    visible_total_ms: float = 0.0

    @property
    def share(self) -> float:
        """Their share of the statement time (0 to 1)."""
        whole = self.total_ms + self.visible_total_ms
        return (
            self.total_ms / whole if whole > 0 else 0.0
        )  # (no time either side: nothing hidden that counts)

    @property
    def most(self) -> bool:
        return self.share > MOST_HIDDEN_SHARE

    def beside(self, visible_total_ms: float) -> HiddenStatements:
        """The same, measured against this much time of readable application statements."""
        return replace(self, visible_total_ms=visible_total_ms)

    def reason(self) -> str:
        one = self.statements == 1
        share = f"{self.share * 100:.0f} % of" if self.most else "at most half of"
        return (
            f"{self.statements:,} statement{'' if one else 's'} of other roles ({self.calls:,} "
            f"call{'' if self.calls == 1 else 's'}, {share} the statement time) "
            f"{'is' if one else 'are'} hidden from this role: grant it pg_read_all_stats (or pg_monitor) to "
            f"read {'it' if one else 'them'}"
        )


def hidden_statements(conn: psycopg.Connection, facts: ServerFacts) -> HiddenStatements | None:
    """The statements of other roles this role may not read, or None when it reads every one."""
    if not facts.pg_stat_statements_ready:
        return None
    query = sql.SQL(HIDDEN_STATEMENTS_SQL).format(
        total=sql.Identifier(facts.statement_columns.total_exec_time), without_texts=without_texts(facts)
    )
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query).fetchone()
    if row is None or not row["statements"]:
        return None
    return HiddenStatements(int(row["statements"]), int(row["calls"]), float(row["total_ms"]))


UNREADABLE_PREFIX = "(statement text unreadable: "


def unreadable_text(reason: str) -> str:
    """What stands for a statement's text when pg_stat_statements hands out none (see statement_texts)."""
    return f"{UNREADABLE_PREFIX}{reason})"


def unreadable_reason(statements: Iterable[StatementStats]) -> str | None:
    """Why these statements came without their texts, or None when they have them."""
    for stmt in statements:
        if stmt.query.startswith(UNREADABLE_PREFIX):
            return stmt.query.removeprefix(UNREADABLE_PREFIX).removesuffix(")")
    return None


def _zero_nulls(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (0 if v is None else v) for k, v in row.items()}


def statement_deltas(
    current: Iterable[StatementStats], previous: Iterable[StatementStats]
) -> list[StatementStats]:
    """What happened between two snapshots. A statement whose counters went down was reset (or evicted):
    its current counters are the delta, never a negative number."""
    before = {s.key: s for s in previous}
    deltas: list[StatementStats] = []
    for cur in current:
        prev = before.get(cur.key)
        if prev is None or cur.calls < prev.calls or cur.total_ms < prev.total_ms:
            deltas.append(cur)
            continue
        calls = cur.calls - prev.calls
        if calls == 0:
            continue
        total = cur.total_ms - prev.total_ms
        mean = total / calls
        sum_sq = max(cur.sum_of_squares_ms - prev.sum_of_squares_ms, 0.0)
        stddev = math.sqrt(max(sum_sq / calls - mean**2, 0.0))
        deltas.append(
            replace(
                cur,
                calls=calls,
                total_ms=total,
                mean_ms=mean,
                stddev_ms=stddev,
                rows=max(cur.rows - prev.rows, 0),
                shared_blks_hit=max(cur.shared_blks_hit - prev.shared_blks_hit, 0),
                shared_blks_read=max(cur.shared_blks_read - prev.shared_blks_read, 0),
                temp_blks_written=max(cur.temp_blks_written - prev.temp_blks_written, 0),
                blk_read_ms=max(cur.blk_read_ms - prev.blk_read_ms, 0.0),
            )
        )
    return deltas


# what pg_stat_statements shows for another role's statement to a role without pg_read_all_stats
INSUFFICIENT_PRIVILEGE = "<insufficient privilege>"


def readable_text(stmt: StatementStats) -> str | None:
    """The statement's text, or None when it stands for none (unreadable, withheld, another role's)."""
    text = stmt.query
    if not text or text == INSUFFICIENT_PRIVILEGE or text.startswith((UNREADABLE_PREFIX, WITHHELD)):
        return None
    return text


StatementKey = tuple[str, int | str, int, bool]


def statement_keys(stmt: StatementStats) -> list[StatementKey]:
    """What identifies the statement a row counts: its queryid, and its text where it has a readable one
    (both within its database and toplevel flag)."""
    keys: list[StatementKey] = [("queryid", stmt.queryid, stmt.dbid, stmt.toplevel)]
    text = readable_text(stmt)
    if text is not None:
        keys.append(("text", text, stmt.dbid, stmt.toplevel))
    return keys


def merged_statements(
    statements: Iterable[StatementStats],
) -> list[tuple[StatementStats, list[StatementStats]]]:
    """Each statement as one row (counters summed, the busiest row's queryid and text; the userid of a row
    several roles ran is 0) with the rows it merges (see _statement_groups)."""
    return [(rows[0] if len(rows) == 1 else _merged(rows), rows) for rows in _statement_groups(statements)]


def _statement_groups(statements: Iterable[StatementStats]) -> list[list[StatementStats]]:
    """The rows of each statement together. pg_stat_statements keeps a row per role that ran a statement
    (same queryid) and a row per set of parameter types a driver sent for it (same text, another queryid:
    psycopg 3 sends 5 as smallint and 40 000 as integer, so one lookup by id gets two or three rows). Rows
    that share a queryid or a readable text are one statement."""
    rows = list(statements)
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[StatementKey, int] = {}
    for i, stmt in enumerate(rows):
        for key in statement_keys(stmt):
            parent[root(i)] = root(first.setdefault(key, i))
    groups: dict[int, list[StatementStats]] = {}
    for i, stmt in enumerate(rows):
        groups.setdefault(root(i), []).append(stmt)
    return list(groups.values())


def _merged(rows: list[StatementStats]) -> StatementStats:
    calls = sum(s.calls for s in rows)
    total = sum(s.total_ms for s in rows)
    mean = total / calls if calls else 0.0
    sum_sq = sum(s.sum_of_squares_ms for s in rows)
    busiest = max(rows, key=lambda s: s.total_ms)
    return replace(
        busiest,
        userid=busiest.userid if len({s.userid for s in rows}) == 1 else 0,
        calls=calls,
        total_ms=total,
        mean_ms=mean,
        stddev_ms=math.sqrt(max(sum_sq / calls - mean**2, 0.0)) if calls else 0.0,
        min_ms=min(s.min_ms for s in rows),
        max_ms=max(s.max_ms for s in rows),
        rows=sum(s.rows for s in rows),
        shared_blks_hit=sum(s.shared_blks_hit for s in rows),
        shared_blks_read=sum(s.shared_blks_read for s in rows),
        temp_blks_written=sum(s.temp_blks_written for s in rows),
        blk_read_ms=sum(s.blk_read_ms for s in rows),
    )
