"""The query-optimizer slice: the four reports the user's application already exposes.

Collect (one session, read-only) → check (pure functions in pgdba.checks) → a plain report whose
to_dict() is the JSON the CLI prints and the API returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from pgdba.advisor.partitioned_build import PartitionIndex, partition_indexes
from pgdba.advisor.role_search_path import RelationSchemas, qualify_relations, role_search_paths
from pgdba.advisor.row_security import any_row_security, inline_row_security
from pgdba.advisor.workload import WorkloadQuery
from pgdba.checks.function_calls import function_call_note
from pgdba.checks.indexes import (
    MIN_STATS_AGE,
    UNUSED_ON_REPLICA,
    IndexAges,
    StatsAge,
    server_stats_age,
    unused_indexes,
)
from pgdba.checks.queries import StatementSet, list_queries_behind
from pgdba.checks.statement_issues import n_plus_one
from pgdba.checks.statement_recommendations import QueryRecommendation, analyze_statement, issues_by_numbers
from pgdba.findings import SCHEMA_VERSION
from pgdba.history.deltas import statements_since, window_since, window_start
from pgdba.history.snapshot import index_ages, previous_statement_snapshot
from pgdba.history.store import HistoryStore
from pgdba.server import load_server_facts
from pgdba.stats.foreign_keys import ForeignKey, foreign_keys
from pgdba.stats.functions import user_functions
from pgdba.stats.indexes import IndexStats, index_stats
from pgdba.stats.partitions import Partition, inheritance_trees, partition_trees
from pgdba.stats.statements import StatementStats, hidden_statements, statement_stats, unreadable_reason
from pgdba.stats.tables import TableStats, table_stats
from pgdba.target import Target, session


@dataclass
class AnalyzeReport:
    """The seed's optimizer report: analyzed, threshold, recommendations[] (plus the window it covers)."""

    analyzed: int
    threshold_ms: float
    recommendations: list[QueryRecommendation]
    window_source: str
    window_start: datetime | None
    window_end: datetime
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "analyzed": self.analyzed,
            "threshold": f"{self.threshold_ms:g}ms",
            "window": {
                "source": self.window_source,
                "from": self.window_start.isoformat() if self.window_start else None,
                "to": self.window_end.isoformat(),
            },
            "recommendations": [r.to_dict() for r in self.recommendations],
            "notes": self.notes,
        }


NO_STATEMENTS_YET = (
    "pg_stat_statements has no statements for this database yet: run the application, then retry"
)


def analyze_queries(
    target: Target,
    *,
    threshold_ms: float = 100.0,
    store: HistoryStore | None = None,
    limit: int = 50,
    statements: list[StatementStats] | None = None,
    functions: frozenset[str] | None = None,
) -> AnalyzeReport:
    """Statements with issues (slow, low cache hit, N+1, unstable plan) and what to do about each.

    With a history store holding an earlier snapshot of this target, only the activity since that snapshot
    is analysed (pg_stat_statements deltas); otherwise the counters since the last reset. `statements`:
    pg_stat_statements' rows as the caller has just read them (a page showing them too reads them once),
    `functions` the database's own (pgdba.stats.functions) likewise.
    """
    now = datetime.now(UTC)
    with session(target) as conn:
        facts = load_server_facts(conn)
        if statements is None:
            statements = statement_stats(conn, facts)
        hidden = hidden_statements(conn, facts)
        tables = table_stats(conn)
        indexes = index_stats(conn)
        fks = foreign_keys(conn)
        # an index advised on a partitioned table is built over its partitions without blocking writes
        partitioned = any(t.kind == "partitioned table" for t in tables)
        partitions = partition_trees(conn) if partitioned else {}
        inheritance = inheritance_trees(conn)  # tables whose inheritance children a query reads too
        indexes_of_partitions = partition_indexes(conn) if partitioned else {}
        source, start, window = "cumulative", facts.statements_reset, ""
        cumulative = statements
        previous = previous_statement_snapshot(store, target.key) if store else None
        if previous is not None:
            taken_at, before, meta = previous
            # a reset (or restart) after the snapshot: today's counters are the activity, from that reset on
            statements = statements_since(statements, before, meta, facts)
            start = window_start(taken_at, meta, facts)
            window = window_since(taken_at, meta, facts)
            source = "delta"
        read_as = hint_texts(conn, statements, threshold_ms)
        if functions is None:
            functions = user_functions(conn)
    report = report_statements(
        statements,
        tables,
        indexes,
        threshold_ms=threshold_ms,
        limit=limit,
        source=source,
        start=start,
        now=now,
        fks=fks,
        partitions=partitions,
        partition_indexes=indexes_of_partitions,
        read_as=read_as,
        inheritance=inheritance,
    )
    if source == "delta" and report.analyzed == 0:
        cumulative_pool = StatementSet(cumulative)
        earlier = sum(1 for s in cumulative_pool.stats if cumulative_pool.is_application(s))
        if earlier:  # statements exist, none ran in the window: not the "run the application" case
            report.notes = [_no_activity_note(window, earlier)]
    # read from all of today's statements: a quiet delta window holds none, yet the texts are still unreadable
    unreadable = unreadable_reason(cumulative)
    if unreadable:  # without texts no statement is analysed: say why, never an empty report alone
        report.notes.append(f"statement texts unreadable, no statement analysed: {unreadable}")
    # statements that spend their time inside the database's functions read no table: not "none yet" either
    inside = function_call_note(StatementSet(statements, functions=functions), threshold_ms)
    if inside is not None:
        report.notes = [n for n in report.notes if n != NO_STATEMENTS_YET] + [inside]
    if hidden is not None:  # other roles' statements, this role has no pg_read_all_stats: not "none yet"
        hidden = StatementSet(cumulative).weigh(hidden)
        report.notes = [n for n in report.notes if n != NO_STATEMENTS_YET]
        report.notes.append(f"only this role's statements analysed: {hidden.reason()}")
    return report


ROLE_NAMES_SQL = "SELECT oid::int8, rolname FROM pg_roles WHERE oid = ANY(%(oids)s)"


def hint_texts(
    conn: psycopg.Connection, statements: Sequence[StatementStats], threshold_ms: float
) -> dict[tuple[int, int, int, bool], str]:
    """For each statement whose numbers show an issue: the text its index hint is read from, where it
    differs from the recorded one. Its role's row-level security policies in its tables' place
    (pgdba.advisor.row_security), and each table it names without a schema written with the schema its
    role's search_path finds it in (pgdba.advisor.role_search_path): a statement of `app`, whose sessions
    search `app, public`, reads app.lesson, not a public.lesson of the same name."""
    pool = StatementSet(statements)
    suspects = [s for s in pool.stats if issues_by_numbers(s, threshold_ms=threshold_ms, key_lookup=True)]
    if not suspects:
        return {}
    busiest = {s.key: max(pool.rows_of(s), key=lambda r: r.total_ms).userid for s in suspects}
    rows = conn.execute(ROLE_NAMES_SQL, {"oids": sorted(set(busiest.values()))}).fetchall()
    names: dict[int, str] = {int(oid): str(name) for oid, name in rows}
    queries = [WorkloadQuery(s.query, role=names.get(busiest[s.key])) for s in suspects]
    if any_row_security(conn):
        queries, _notes = inline_row_security(conn, queries)
    paths = role_search_paths(conn, {q.role for q in queries if q.role is not None})
    if paths is not None:
        found: RelationSchemas = {}
        queries = [
            q
            if q.role is None
            else replace(q, sql=qualify_relations(conn, q.sql, paths.schemas[q.role], found))
            for q in queries
        ]
    return {s.key: q.sql for s, q in zip(suspects, queries, strict=True) if q.sql != s.query}


def _no_activity_note(window: str, cumulative_count: int) -> str:
    """Why a delta report is empty although pg_stat_statements holds application statements."""
    return (
        f"no statement ran {window} (delta window); `--cumulative` reads the counters since the reset"
        f" ({cumulative_count} application statement{'' if cumulative_count == 1 else 's'} there)"
    )


def report_statements(
    statements: Sequence[StatementStats],
    tables: Sequence[TableStats],
    indexes: Sequence[IndexStats],
    *,
    threshold_ms: float = 100.0,
    limit: int = 50,
    source: str = "cumulative",
    start: datetime | None = None,
    now: datetime | None = None,
    fks: Sequence[ForeignKey] | None = None,
    partitions: Mapping[tuple[str, str], Sequence[Partition]] | None = None,
    partition_indexes: Mapping[tuple[str, str], Sequence[PartitionIndex]] | None = None,
    read_as: Mapping[tuple[int, int, int, bool], str] | None = None,
    inheritance: Mapping[tuple[str, str], Sequence[Partition]] | None = None,
) -> AnalyzeReport:
    """The optimizer report over statistics already collected (pure: no connection). An N+1 needs list
    queries on the looked-up table or one related to it by a foreign key in `fks` (on any table without).
    `partitions` and `partition_indexes`: what an index on a partitioned table is built over without
    blocking writes (pgdba.advisor.partitioned_build)."""
    now = now or datetime.now(UTC)
    # top-level statements, one row however many roles ran them; `read_as` (hint_texts): the text a
    # statement's index hint is read from, its role's row-security policies inlined, its tables qualified
    pool = StatementSet(statements, read_as)
    # only a statement whose numbers show an issue is parsed (an N+1's only when its numbers are one's)
    suspects = pool.select(lambda s: bool(issues_by_numbers(s, threshold_ms=threshold_ms, key_lookup=True)))
    analyzed = sum(1 for s in pool.stats if pool.is_application(s))  # application DML
    results = [
        rec
        for rec in (
            analyze_statement(
                p.stats,
                tables,
                indexes,
                threshold_ms=threshold_ms,
                columns=p.columns,
                # (asked only of statements whose numbers look like an N+1: it compares with every list)
                repeated_per_listed_row=n_plus_one(p.stats, is_single_table_key_lookup=True) is not None
                and bool(list_queries_behind(p, pool, fks)),
                partitions=partitions,
                partition_indexes=partition_indexes,
                inheritance=inheritance,
            )
            for p in suspects
        )
        if rec is not None
    ]
    results.sort(key=lambda r: r.stats.total_ms, reverse=True)
    notes = []
    if not analyzed:
        notes.append(NO_STATEMENTS_YET)
    return AnalyzeReport(analyzed, threshold_ms, results[:limit], source, start, now, notes)


@dataclass
class IndexUsageReport:
    indexes: list[IndexStats]
    stats_age: StatsAge

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "statsSince": _since(self.stats_age),
            "statsNote": self.stats_age.note(),
            "indexes": [_index_row(ix) for ix in self.indexes],
        }


@dataclass
class UnusedIndexReport:
    unused: list[IndexStats]
    stats_age: StatsAge
    max_scans: int
    # unused by the counters, but created after the week-old index snapshot of the history store
    not_judged: list[IndexStats] = field(default_factory=list)
    ages: IndexAges | None = None
    # why no index was judged (a replica, statistics too young or of unknown age), or None
    not_judged_reason: str | None = None

    @property
    def notes(self) -> list[str]:
        if self.not_judged_reason is not None:
            return [self.not_judged_reason]
        notes = [self.stats_age.note()]
        if self.ages is not None and self.not_judged:
            notes.append(self.ages.note([ix.qualified_name for ix in self.not_judged]))
        return notes

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "maxScans": self.max_scans,
            "statsSince": _since(self.stats_age),
            "tooYoungToJudge": self.stats_age.too_young,
            "notJudgedReason": self.not_judged_reason,
            "statsNote": self.stats_age.note(),
            "notes": self.notes,
            "notJudged": [_index_row(ix) for ix in self.not_judged],
            "totalReclaimableBytes": sum(ix.size_bytes for ix in self.unused),
            "indexes": [
                {
                    **_index_row(ix),
                    "recommendation": (
                        "DROP INDEX after checking replicas and periodic jobs (on a partitioned table it "
                        "locks the table while it runs: PostgreSQL has no CONCURRENTLY there)"
                        if ix.partitioned
                        else "DROP INDEX CONCURRENTLY after checking replicas and periodic jobs"
                    ),
                    "sql": ix.drop_sql,
                }
                for ix in self.unused
            ],
        }


@dataclass
class CapacityReport:
    tables: list[TableStats]
    database_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "databaseSizeBytes": self.database_bytes,
            "tables": [
                {
                    "schema": t.schema,
                    "table": t.table,
                    "totalBytes": t.total_bytes,
                    "tableBytes": t.table_bytes,
                    "indexBytes": t.index_bytes,
                    "toastBytes": t.toast_bytes,
                    "rows": max(t.estimated_rows, t.live_rows, t.partition_rows),
                    "deadRows": t.dead_rows,
                    "deadRatio": round(t.dead_ratio * 100, 1),
                    # its sizes are its partitions' summed, which are rows here too: a total skips one or the other
                    "partitioned": t.partitions_summed,
                }
                for t in self.tables
            ],
        }


def _since(age: StatsAge) -> str | None:
    """When the counters began: the database's stats reset, else the server's statistics' start."""
    return age.start.isoformat() if age.start else None


def _index_row(ix: IndexStats) -> dict[str, Any]:
    return {
        "schema": ix.schema,
        "table": ix.table,
        "index": ix.index,
        "scans": ix.scans,
        "tuplesRead": ix.tuples_read,
        "sizeBytes": ix.size_bytes,
        "unique": ix.is_unique,
        "primary": ix.is_primary,
        "constraint": ix.backs_constraint,
        "valid": ix.is_valid,
        "definition": ix.definition,
    }


def index_usage(target: Target) -> IndexUsageReport:
    """Every index with its scans and size, least used first."""
    with session(target) as conn:
        facts = load_server_facts(conn)
        indexes = index_stats(conn)
    indexes.sort(key=lambda ix: (ix.scans, -ix.size_bytes))
    return IndexUsageReport(indexes, server_stats_age(facts, datetime.now(UTC)))


def unused_index_report(
    target: Target,
    *,
    max_scans: int = 0,
    min_size_bytes: int = 0,
    store: HistoryStore | None = None,
    min_stats_age: timedelta = MIN_STATS_AGE,
) -> UnusedIndexReport:
    """Indexes never (or hardly) scanned; never unique, primary-key or constraint indexes. With a history
    store holding a week-old index snapshot, indexes created since are listed as not judged instead.

    None is judged on a replica (its counters show only its own reads) or on counters younger than
    `min_stats_age` (a reset, a crash), or of unknown age without such a snapshot: not_judged_reason says
    which."""
    with session(target) as conn:
        facts = load_server_facts(conn)
        indexes = index_stats(conn)
    now = datetime.now(UTC)
    age = server_stats_age(facts, now, min_stats_age)
    ages = None if store is None else index_ages(store, target.key, now)
    reason = UNUSED_ON_REPLICA if facts.in_recovery else age.not_judged(week_old_snapshot=ages is not None)
    if reason is not None:
        return UnusedIndexReport([], age, max_scans, not_judged_reason=reason)
    found = unused_indexes(indexes, max_scans=max_scans, min_size_bytes=min_size_bytes)
    # an index a foreign key needs (its referencing side's lookups on DELETE / UPDATE of the parent) or one
    # under DDL right now is not a candidate for dropping, however rarely the workload scans it
    found = [ix for ix in found if ix.serves_foreign_key is None and not ix.locked]
    found, young = ages.split(found) if ages is not None else (found, [])
    return UnusedIndexReport(found, age, max_scans, young, ages)


DATABASE_SIZE_SQL = "SELECT pg_database_size(current_database())"


def capacity_tables(target: Target) -> CapacityReport:
    """Sizes of every table (heap, indexes, TOAST), rows and dead rows, largest first."""
    with session(target) as conn:
        tables = table_stats(conn)
        row = conn.execute(DATABASE_SIZE_SQL).fetchone()
    return CapacityReport(tables, int(row[0]) if row else 0)
