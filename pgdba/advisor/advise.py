"""The index advisor end to end: workload → columns → candidates → what-if costing → selection → advice."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg

from pgdba.advisor.candidates import (
    BTREE_DEFAULT_FILLFACTOR,
    DEFAULT_MAX_WIDTH,
    Candidate,
    CandidateSet,
    generate_candidates,
    partitioned_build_note,
    timestamptz_day_notes,
)
from pgdba.advisor.catalog import (
    TableInfo,
    load_tables,
    locked_relations,
    never_analysed_note,
    resolve_relations,
    user_table_oids,
)
from pgdba.advisor.drops import DropAdvice, indexes_to_drop
from pgdba.advisor.foreign_key_cover import foreign_key_note, foreign_keys_served
from pgdba.advisor.observed import (
    ObservedConstants,
    add_sent_constants,
    load_observed_constants,
    query_fixed_equalities,
)
from pgdba.advisor.partitioned_build import (
    Buildable,
    PartitionLayout,
    inheritance_layout,
    inheritance_steps,
    lock_free_steps,
    partition_layout,
)
from pgdba.advisor.query_columns import QueryColumns, columns_by_role
from pgdba.advisor.role_search_path import OFF_PATH, off_path_reasons, read_as_application
from pgdba.advisor.routine_variables import variables_as_parameters
from pgdba.advisor.row_security import inline_row_security
from pgdba.advisor.sampling import (
    MISLEADING_RATIO,
    BoundQuery,
    StatsReader,
    bind_for_costing,
    generic_misleads,
)
from pgdba.advisor.selection import (
    DEFAULT_MIN_IMPROVEMENT_PCT,
    DEFAULT_WRITE_COST_PER_ROW,
    SelectionSettings,
    WorkloadCoster,
    select_best,
)
from pgdba.advisor.sizes import estimated_index_bytes
from pgdba.advisor.trigram import SearchIndexAdvice, search_index_advice
from pgdba.advisor.views import expand_views
from pgdba.advisor.whatif import (
    MAX_WHATIF_PARTITIONS,
    DeclaredTypes,
    WhatIfSession,
    explain_typed,
    plan_index_names,
)
from pgdba.advisor.workload import WorkloadQuery
from pgdba.checks.indexes import MAX_STATS_AGE_DAYS, MIN_STATS_AGE, IndexAges, server_stats_age
from pgdba.errors import InputError, NotAvailable, PgdbaError
from pgdba.findings import Finding, Severity
from pgdba.server import ServerFacts
from pgdba.stats.foreign_keys import foreign_keys

DEFAULT_BUDGET_MB = 1024.0
MB = 1024 * 1024
STATIC_FILLFACTOR = 100
# the most leaf partitions --max-partitions may ask to cost (what-if plans slow down with every partition)
MAX_PARTITIONS_LIMIT = 1000


@dataclass
class AdvisorOptions:
    """Thresholds of one advisor run, all visible in its output.

    budget_mb: storage the new indexes may take (None: no limit).
    min_improvement_pct: an index must remove at least this share of the workload's estimated cost.
    write_cost_per_row: planner cost units charged for every row a write adds to an index (workloads from
      pg_stat_statements only; a query file says nothing about writes).
    size_model: "estimate" (pg_stats with btree deduplication) or "hypopg" (hypopg_relation_size).
    static_fillfactor: btree fillfactor for indexes on tables nothing writes (analysed, no row changed since,
      none updated or deleted since the statistics reset, no write in the workload). PostgreSQL's
      manual: for a static table 100 is best (leaf pages packed full, about a tenth smaller than the default
      90); 90 keeps the default.
    min_stats_age_days: unused indexes are judged only on scan counters that have counted this long (since the
      statistics reset, or the server's statistics' start: initdb or the last crash recovery).
    max_partitions: a partitioned table with more leaf partitions is not costed (one hypothetical index per
      partition: a plan weighs every partition's hypothetical indexes, about 0.5 s a plan at 365 here).
    """

    budget_mb: float | None = DEFAULT_BUDGET_MB
    min_improvement_pct: float = DEFAULT_MIN_IMPROVEMENT_PCT
    max_width: int = DEFAULT_MAX_WIDTH
    write_cost_per_row: float = DEFAULT_WRITE_COST_PER_ROW
    size_model: Literal["estimate", "hypopg"] = "estimate"
    drops: bool = True
    static_fillfactor: int = STATIC_FILLFACTOR
    min_stats_age_days: float = MIN_STATS_AGE.days
    max_partitions: int = MAX_WHATIF_PARTITIONS

    def validate(self) -> None:
        if self.budget_mb is not None and self.budget_mb <= 0:
            raise InputError("--budget-mb must be positive")
        if not 0 <= self.min_improvement_pct < 100:
            raise InputError("the minimum improvement must be between 0 and 100 %")
        if not 1 <= self.max_width <= 8:
            raise InputError("the index width must be between 1 and 8 columns")
        if not 10 <= self.static_fillfactor <= 100:
            raise InputError("--static-fillfactor must be between 10 and 100")
        if not 0 <= self.min_stats_age_days <= MAX_STATS_AGE_DAYS:
            raise InputError(f"--min-stats-age-days must be between 0 and {MAX_STATS_AGE_DAYS:,}")
        if not 1 <= self.max_partitions <= MAX_PARTITIONS_LIMIT:
            raise InputError(f"--max-partitions must be between 1 and {MAX_PARTITIONS_LIMIT:,}")


@dataclass
class QueryEffect:
    number: int
    sql: str
    calls: int
    cost_before: float
    cost_after: float
    # "generic" (plan for any value), "sampled" (constants from pg_stats), "observed" (constants the
    # application sent: pg_qualstats', a log's parameters), "as written", "not costed"
    costing: str = "generic"
    queryid: str | None = None  # pg_stat_statements' id, when the workload came from there


@dataclass
class Recommendation:
    """One index to create, what it costs in space and what it buys."""

    candidate: Candidate
    sql: str
    size_bytes: int
    hypopg_size_bytes: int | None
    benefit: float  # weighted estimated cost the index alone removes from the final configuration
    share_pct: float  # that benefit as a share of the workload's cost before
    queries: list[QueryEffect]
    # "estimated" (HypoPG what-if), "unverified" (rule-based), "measured slower" (--verify: see `measured`)
    status: str
    table_bytes: int = 0
    # --verify's verdict on the queries it was advised for: "faster", "slower", "no measurable change",
    # "too fast to measure", "not measured" (pgdba.advisor.verify.mark_measured); None: not verified
    measured: str | None = None
    # unindexed foreign keys (constraint names) this index also indexes (pgdba.advisor.foreign_key_cover)
    serves_foreign_keys: list[str] = field(default_factory=list)
    # False for a rule-based candidate (no HypoPG): no cost, share or benefit was estimated; this stays true
    # when --verify later changes `status` to "measured slower"
    costed: bool = True
    # on a partitioned table: the statements that build it without blocking writes (`sql` blocks them),
    # empty where that is not possible (pgdba.advisor.partitioned_build)
    build_steps: list[str] = field(default_factory=list)

    def statements(self) -> list[str]:
        """The SQL to run, without the final semicolons: the lock-free steps, else the one statement."""
        return self.build_steps or [self.sql]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.candidate.to_dict(),
            "sql": self.sql,
            "size_bytes": self.size_bytes,
            "hypopg_size_bytes": self.hypopg_size_bytes,
            "benefit": round(self.benefit, 2),
            "share_pct": round(self.share_pct, 2),
            "status": self.status,
            "costed": self.costed,
            "measured": self.measured,
            "table_bytes": self.table_bytes,
            "serves_foreign_keys": self.serves_foreign_keys,
            "build_steps": self.build_steps,
            "queries": [
                {
                    "query": q.sql,
                    "calls": q.calls,
                    "cost_before": round(q.cost_before, 2),
                    "cost_after": round(q.cost_after, 2),
                    "costing": q.costing,
                    "queryid": q.queryid,
                }
                for q in self.queries
            ],
        }


@dataclass
class Advice:
    """Everything one advisor run found."""

    recommendations: list[Recommendation]
    drops: list[DropAdvice]
    options: AdvisorOptions
    hypopg: bool
    queries: int
    cost_before: float
    cost_after: float
    used_bytes: int
    hypopg_used_bytes: int | None
    whatif_calls: int
    cache_hits: int
    runtime_s: float
    candidates: int
    steps: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verification: dict[str, Any] | None = None
    workload_indexes: set[str] = field(default_factory=set)  # indexes the workload's current plans use
    drops_not_judged: list[str] = field(default_factory=list)  # unscanned, but created too recently to judge
    # trigram (pg_trgm GIN) indexes for searches no btree serves: not costed, not in the budget
    search_indexes: list[SearchIndexAdvice] = field(default_factory=list)
    # the search_path the workload was planned with where it is not pgdba's own (role_search_path): the
    # application role's; --verify measures with it
    search_path: str | None = None
    # the constants the application sent (pg_qualstats', a log's parameters) the workload was costed with;
    # --verify binds the same (not in the JSON: they may be anyone's data)
    observed: ObservedConstants | None = None

    @property
    def relative_cost(self) -> float:
        return self.cost_after / self.cost_before if self.cost_before else 1.0

    @property
    def session_settings(self) -> dict[str, str]:
        """Settings of the sessions that measure or build the advice (Target.extra_settings): the search_path
        the workload was planned with, where it is the application role's, so its queries and the SQL (a
        pg_trgm operator class on that search_path) read the same there."""
        return {"search_path": self.search_path} if self.search_path else {}

    def findings(self) -> list[Finding]:
        found = [
            Finding(
                code="advisor.create_index",
                severity=Severity.WARNING if r.share_pct >= 10 else Severity.INFO,
                title=f"index {r.candidate.label()} "
                + (
                    f"removes {r.share_pct:.1f} % of the workload's estimated cost"
                    if r.costed
                    else "is not costed"
                )
                + (f" ({r.status})" if r.status in ("unverified", "measured slower") else ""),
                object=r.candidate.relation,
                metrics={
                    "size_bytes": r.size_bytes,
                    "benefit": round(r.benefit, 2),
                    "queries": len(r.queries),
                },
                recommendation=_create_advice(r),
                sql=";\n".join(r.statements()),
            )
            for r in self.recommendations
        ]
        found += [
            Finding(
                code=f"advisor.drop_{d.reason}_index",
                severity=Severity.INFO,
                title=f"{d.reason} index {d.index.qualified_name}: {d.detail}",
                object=d.index.qualified_name,
                metrics={
                    "size_bytes": d.index.size_bytes,
                    "scans": d.index.scans,
                    "writes_saved": d.writes_saved,
                },
                recommendation="drop it to save space and write work",
                sql=d.ddl().as_string(None),
            )
            for d in self.drops
        ]
        found += [
            Finding(
                code="advisor.create_search_index",
                severity=Severity.INFO,
                title=f"search index {s.label()} for {len(s.queries)} pattern-search queries ({s.status})",
                object=s.relation,
                metrics={"table_bytes": s.table_bytes, "queries": len(s.queries)},
                recommendation=_search_recommendation(s),
                sql=s.sql if s.extension.available else None,
            )
            for s in self.search_indexes
        ]
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "hypopg": self.hypopg,
            "settings": {
                "budget_mb": self.options.budget_mb,
                "min_improvement_pct": self.options.min_improvement_pct,
                "max_width": self.options.max_width,
                "write_cost_per_row": self.options.write_cost_per_row,
                "size_model": self.options.size_model,
                "static_fillfactor": self.options.static_fillfactor,
                "min_stats_age_days": self.options.min_stats_age_days,
                "max_partitions": self.options.max_partitions,
            },
            "workload": {
                "queries": self.queries,
                "cost_before": round(self.cost_before, 2),
                "cost_after": round(self.cost_after, 2),
                "relative_cost": round(self.relative_cost, 4),
                "skipped": [{"query": q, "reason": r} for q, r in self.skipped],
                # the application role's search_path where the workload was planned with it, else null
                "search_path": self.search_path,
            },
            "indexes": [r.to_dict() for r in self.recommendations],
            "search_indexes": [s.to_dict() for s in self.search_indexes],
            "drop": [d.to_dict() for d in self.drops],
            "drop_not_judged": self.drops_not_judged,
            "used_bytes": self.used_bytes,
            "hypopg_used_bytes": self.hypopg_used_bytes,
            "candidates": self.candidates,
            "whatif_calls": self.whatif_calls,
            "cache_hits": self.cache_hits,
            "runtime_s": round(self.runtime_s, 3),
            "steps": self.steps,
            "notes": self.notes,
            "verification": self.verification,
            "findings": [f.to_dict() for f in self.findings()],
        }

    def table_bytes(self) -> dict[str, int]:
        """schema.table → size of each table an index is advised on."""
        return {r.candidate.relation: r.table_bytes for r in self.recommendations}


def _create_recommendation(r: Recommendation) -> str:
    if r.status == "measured slower":
        return "do not create it as is: a query it serves measured slower with it; check that query's plan"
    if r.candidate.inherited:
        return "create the index on the table and on each of its inheritance children (CONCURRENTLY: no write lock)"
    if r.build_steps:
        return (
            "create the index ON ONLY the partitioned table, then CONCURRENTLY on each partition, attached to "
            "it (no write lock)"
        )
    if r.candidate.partitioned:
        return (
            "create the index (on a partitioned table not CONCURRENTLY: it blocks writes to every partition "
            "while it builds)"
        )
    return "create the index (CONCURRENTLY: no write lock)"


def _search_recommendation(s: SearchIndexAdvice) -> str:
    """What to do with one search index advice."""
    if not s.extension.available:
        return "install the PostgreSQL contrib package (pg_trgm), then create the trigram index"
    if s.status == "measured slower":
        return "do not create it as is: a query it serves measured slower with it; check that query's plan"
    first = "CREATE EXTENSION pg_trgm, then create" if s.extension.create_statement() else "create"
    if s.build_steps:
        return (
            f"{first} the trigram index ON ONLY the partitioned table, then CONCURRENTLY on each partition, "
            "attached to it (no write lock)"
        )
    if s.partitioned:
        return (
            f"{first} the trigram index (on a partitioned table not CONCURRENTLY: it blocks writes to every "
            "partition while it builds)"
        )
    return f"{first} the trigram index (CONCURRENTLY: no write lock)"


def _create_advice(r: Recommendation) -> str:
    """What to do with one recommendation, and the foreign keys it indexes too."""
    text = _create_recommendation(r)
    return f"{text}; {foreign_key_note(r.serves_foreign_keys)}" if r.serves_foreign_keys else text


@dataclass
class AnalysedWorkload:
    """The workload's queries with their columns resolved against the catalog, and the constants
    pg_qualstats saw each of them send every time."""

    queries: list[WorkloadQuery]
    columns: list[QueryColumns]
    tables: dict[str, TableInfo]  # relation name as written in the queries → table
    skipped: list[tuple[str, str]]
    # pg_qualstats' and a log's (add_sent_constants); None: neither gives any
    observed: ObservedConstants | None = None
    # per query: (schema.table, column, constant) of each `column = $n` it sends one constant for
    fixed: list[list[tuple[str, str, str]]] = field(default_factory=list)
    # the locked relations (catalog.locked_relations) that left queries out
    locked: list[str] = field(default_factory=list)

    def candidates(
        self, numbers: Sequence[int], max_width: int, fillfactors: Mapping[str, int]
    ) -> CandidateSet:
        """The index candidates of these queries (by position); the constants any of them always sends
        are partial-index predicates, as recurring literal constants are."""
        fixed = dict.fromkeys(item for n in numbers for item in self.fixed[n])
        return generate_candidates(
            [self.columns[n] for n in numbers],
            self.tables,
            max_width=max_width,
            fixed=list(fixed),
            fillfactors=fillfactors,
        )


def resolve_columns(
    conn: psycopg.Connection, texts: Sequence[str]
) -> tuple[list[str], list[QueryColumns], dict[str, TableInfo]]:
    """Each text with its views replaced by their bodies, the columns of that text attributed against the
    catalog, and the tables it reads (relation name as written → table)."""
    expanded = [expand_views(conn, text) for text in texts]
    first = [columns_by_role(text) for text in expanded]
    oids = resolve_relations(conn, {name for q in first for name in q.tables})
    infos = load_tables(conn, oids.values())
    tables = {name: infos[oid] for name, oid in oids.items() if oid in infos}
    catalog = {name: list(info.columns) for name, info in tables.items()}
    return expanded, [columns_by_role(text, catalog) for text in expanded], tables


def locked_reads(conn: psycopg.Connection, workload: Sequence[WorkloadQuery]) -> dict[int, str]:
    """Position of each query that reads a relation another session holds or waits for an ACCESS EXCLUSIVE
    lock on (itself, or a view's table, a partition, an index: catalog.locked_relations) → that relation.
    Asked before the views are expanded: pg_get_viewdef locks a view's tables too."""
    names = [columns_by_role(query.sql).tables for query in workload]
    oids = resolve_relations(conn, {name for relations in names for name in relations})
    locked = locked_relations(conn, oids.values())
    found: dict[int, str] = {}
    for position, relations in enumerate(names):
        hit = next((locked[oids[n]] for n in relations if oids.get(n) in locked), None)
        if hit is not None:
            found[position] = hit
    return found


def locked_reason(relation: str) -> str:
    """Why a query is left out: planning it would wait for a lock a migration holds."""
    return (
        f"another session holds or waits for an ACCESS EXCLUSIVE lock on {relation} (DDL in flight?), which "
        "planning it needs: left out, rerun when that is done"
    )


def analyse_workload(conn: psycopg.Connection, workload: Sequence[WorkloadQuery]) -> AnalysedWorkload:
    """Parse every query (views replaced by their bodies), find its tables in the catalog and attribute its
    columns. A query reading a locked relation (locked_reads) is left out, its reason in `skipped`."""
    locked = locked_reads(conn, workload)
    skipped: list[tuple[str, str]] = [(workload[n].sql, locked_reason(r)) for n, r in locked.items()]
    readable = [query for n, query in enumerate(workload) if n not in locked]
    _expanded, all_columns, tables = resolve_columns(conn, [q.sql for q in readable])
    queries: list[WorkloadQuery] = []
    columns: list[QueryColumns] = []
    unread: list[tuple[WorkloadQuery, QueryColumns]] = []  # reading no table of this database
    for query, analysed in zip(readable, all_columns, strict=True):
        if any(name in tables for name in analysed.tables):
            queries.append(query)
            columns.append(analysed)
        else:
            unread.append((query, analysed))
    reasons = off_path_reasons(conn, [analysed.tables for _, analysed in unread])
    skipped += [
        (query.sql, reason or "reads no table of this database")
        for (query, _), reason in zip(unread, reasons, strict=True)
    ]
    observed = add_sent_constants(load_observed_constants(conn), queries, columns, tables)
    fixed = [
        query_fixed_equalities(observed, query, used, tables) if observed is not None else []
        for query, used in zip(queries, columns, strict=True)
    ]
    return AnalysedWorkload(queries, columns, tables, skipped, observed, fixed, sorted(set(locked.values())))


def advise_indexes(
    conn: psycopg.Connection,
    facts: ServerFacts,
    workload: Sequence[WorkloadQuery],
    options: AdvisorOptions | None = None,
    *,
    writes: Mapping[str, float] | None = None,
    index_ages: IndexAges | None = None,
) -> Advice:
    """Advise indexes for a workload on the database `conn` reads (read-only: HypoPG indexes only).

    writes: rows written per table (`schema.table`) in the same window as the workload's calls, e.g.
      `workload.table_writes_from_statements`; None when unknown (a query file): writes are not weighed.
    index_ages: which indexes existed a week ago (`pgdba.history.snapshot.index_ages`); the younger ones are
      not advised to be dropped as unused. None when no history tells: every index is judged by its counters.
    """
    options = options or AdvisorOptions()
    options.validate()
    started = time.monotonic()
    # the application's own names, read as its sessions read them
    application = read_as_application(conn, workload)
    workload, variable_notes = variables_as_parameters(conn, application.workload)
    workload, row_security_notes = inline_row_security(conn, workload)
    analysed = analyse_workload(conn, workload)
    if not analysed.queries and analysed.locked:
        raise PgdbaError(
            "no query of the workload can be costed now: another session holds or waits for an ACCESS "
            f"EXCLUSIVE lock on what they read (DDL in flight?): {', '.join(analysed.locked)}; rerun when "
            "that is done"
        )
    if not analysed.queries:
        elsewhere = [reason for _, reason in analysed.skipped if reason.startswith(OFF_PATH)]
        raise InputError(
            f"no query of the workload can be planned: {elsewhere[0]}"
            if elsewhere
            else "no query of the workload reads a table of this database"
        )
    by_qualified = {t.qualified_name: t for t in analysed.tables.values()}
    notes: list[str] = [*application.notes, *variable_notes, *row_security_notes]
    fillfactors = _static_fillfactors(by_qualified, options, writes)
    session: WhatIfSession | None
    try:
        session = WhatIfSession(conn, facts.version_num, max_partitions=options.max_partitions)
    except NotAvailable as exc:  # not installed, or in a schema this role may not use
        session = None
        notes.append(f"{exc}: candidates are rule-based and unverified")
    if writes is None:
        notes.append("write costs not weighed: the workload came from a file")
    notes += timestamptz_day_notes(analysed.columns, analysed.tables)
    unanalysed = never_analysed_note(analysed.tables.values())
    if unanalysed is not None:
        notes.append(unanalysed)
    try:
        if session is not None:
            advice = _advise_with_hypopg(
                session, analysed, by_qualified, options, writes or {}, fillfactors, facts.user
            )
        else:
            candidates = analysed.candidates(range(len(analysed.queries)), options.max_width, fillfactors)
            advice = _advise_by_rules(conn, facts, analysed, candidates, by_qualified, options)
    finally:
        if session is not None:
            session.close()
    packed_note = _packed_note(advice, fillfactors)
    advice.notes[:0] = [packed_note, *notes] if packed_note else notes
    if advice.recommendations:
        fks = foreign_keys(conn)
        for recommendation in advice.recommendations:
            recommendation.serves_foreign_keys = foreign_keys_served(recommendation.candidate, fks)
    advice.search_indexes, search_notes = search_index_advice(
        conn, analysed.queries, analysed.columns, analysed.tables, writes=writes, observed=analysed.observed
    )
    advice.notes.extend(search_notes)
    _plan_lock_free_builds(conn, advice)
    if options.drops:
        advice.drops = _drops(conn, facts, advice, index_ages)
    advice.search_path = application.search_path
    advice.observed = analysed.observed
    advice.runtime_s = time.monotonic() - started
    return advice


def _plan_lock_free_builds(conn: psycopg.Connection, advice: Advice) -> None:
    """Each index on a partitioned table (a search index's too) gets its lock-free build steps
    (pgdba.advisor.partitioned_build), and the notes say which tables get them and which keep the one
    statement that blocks writes."""
    lock_free: list[str] = []
    blocking: list[str] = []
    reused = False
    layouts: dict[tuple[str, str], PartitionLayout] = {}  # one catalog read per table, however many indexes
    planned: list[tuple[Buildable, Recommendation | SearchIndexAdvice]] = [
        (r.candidate, r) for r in advice.recommendations
    ]
    planned += [(s, s) for s in advice.search_indexes]
    inherited: list[str] = []
    for index, advised in planned:
        if isinstance(index, Candidate) and index.inherited:
            each = inheritance_steps(index, *inheritance_layout(conn, index.schema, index.table))
            advised.build_steps = [step.statement.as_string(conn) for step in each]
            inherited.append(index.relation)
            continue
        if not index.partitioned:
            continue
        key = (index.schema, index.table)
        if key not in layouts:
            layouts[key] = partition_layout(conn, *key)
        steps = lock_free_steps(index, *layouts[key])
        advised.build_steps = [step.statement.as_string(conn) for step in steps or ()]
        reused = reused or any(step.attaches_existing is not None for step in steps or ())
        (lock_free if steps else blocking).append(index.relation)
    if lock_free:
        tables = ", ".join(dict.fromkeys(lock_free))
        advice.notes.append(
            f"partitioned {'table' if len(set(lock_free)) == 1 else 'tables'} {tables}: PostgreSQL cannot "
            "build an index on a partitioned table CONCURRENTLY, so the SQL builds it without blocking writes: "
            "CREATE INDEX ON ONLY the table, CREATE INDEX CONCURRENTLY on each partition, ALTER INDEX … "
            "ATTACH PARTITION each one; the table's index becomes valid with the last"
            + (
                ". A partition that already has the same index gets it attached, last, not a second one built"
                if reused
                else ""
            )
        )
    if inherited:
        advice.notes.append(
            f"table inheritance ({', '.join(dict.fromkeys(inherited))}): a query of such a table scans its "
            "inheritance children too, and an index on it covers its own rows only, so each index was costed "
            "with a hypothetical one on the table and on each child, and the SQL builds it CONCURRENTLY on "
            "each (a child with the same index already keeps it; a foreign-table child gets none)"
        )
    if blocking:
        advice.notes.append(
            partitioned_build_note(sorted(set(blocking)))
            + " (not possible here: a partition is a foreign table, which cannot be indexed)"
        )


def _static_fillfactors(
    tables: Mapping[str, TableInfo], options: AdvisorOptions, writes: Mapping[str, float] | None
) -> dict[str, int]:
    """schema.table → options.static_fillfactor for the tables nothing writes (see AdvisorOptions)."""
    if options.static_fillfactor == BTREE_DEFAULT_FILLFACTOR:
        return {}
    static = (name for name, table in tables.items() if table.unchanged and not (writes or {}).get(name))
    return dict.fromkeys(sorted(static), options.static_fillfactor)


def _packed_note(advice: Advice, fillfactors: Mapping[str, int]) -> str | None:
    """The note naming the tables nothing writes whose advised indexes are packed (None when none is)."""
    packed = sorted(
        {
            r.candidate.relation
            for r in advice.recommendations
            if r.candidate.relation in fillfactors
            and r.candidate.fillfactor == fillfactors[r.candidate.relation]
        }
    )
    if not packed:
        return None
    shown = ", ".join(packed[:5]) + (f" and {len(packed) - 5} more" if len(packed) > 5 else "")
    return (
        f"indexes on tables nothing writes ({shown}: no row changed since the last ANALYZE, none updated "
        f"or deleted since the statistics reset) are built WITH (fillfactor = {fillfactors[packed[0]]}); "
        f"--static-fillfactor {BTREE_DEFAULT_FILLFACTOR} keeps PostgreSQL's default"
    )


def _size_function(
    options: AdvisorOptions, tables: dict[str, TableInfo], session: WhatIfSession | None
) -> Any:
    def size_of(candidate: Candidate) -> int:
        if options.size_model == "hypopg" and session is not None:
            return session.hypopg_size(candidate)
        return estimated_index_bytes(candidate, tables[candidate.relation])

    return size_of


def _advise_with_hypopg(
    session: WhatIfSession,
    analysed: AnalysedWorkload,
    tables: dict[str, TableInfo],
    options: AdvisorOptions,
    writes: Mapping[str, float],
    fillfactors: Mapping[str, int],
    role: str,
) -> Advice:
    # queries the planner cannot EXPLAIN generically (a parameter of unknown type) are costed with sampled
    # constants; those it cannot EXPLAIN at all (a missing privilege) are left out
    reader = StatsReader(session.conn, analysed.observed)
    kept: list[int] = []  # positions in analysed.queries
    bound: dict[int, BoundQuery] = {}  # queries costed with constants (observed or sampled) instead
    skipped = list(analysed.skipped)
    failures: list[psycopg.Error] = []
    for position, (query, columns) in enumerate(zip(analysed.queries, analysed.columns, strict=True)):
        try:
            session.explain(query.sql, query.param_count)
        except psycopg.Error as exc:
            with_constants = bind_for_costing(session, reader, query, columns, analysed.tables)
            if with_constants is None:
                skipped.append((query.sql, explain_failure(exc, role)))
                failures.append(exc)
                continue
            bound[len(kept)] = with_constants
        kept.append(position)
    if not kept:
        raise unexplainable_workload(failures, role)
    queries = [analysed.queries[p] for p in kept]
    candidates = analysed.candidates(kept, options.max_width, fillfactors)
    weights = {n: float(max(q.calls, 1)) for n, q in enumerate(queries)}
    for number, query in enumerate(queries):
        if query.param_count and number not in bound:
            position = kept[number]
            with_constants = bind_for_costing(
                session, reader, query, analysed.columns[position], analysed.tables
            )
            if with_constants is None:
                continue
            # a query that sends one constant every time is costed with it (its partial candidates need it)
            if analysed.fixed[position] or generic_misleads(
                session, query, with_constants, candidates.by_query.get(number, set())
            ):
                bound[number] = with_constants
    coster = WorkloadCoster(session, queries, candidates, weights, bound)
    size_of = _size_function(options, tables, session)
    total_calls = sum(weights.values())

    def write_rows(candidate: Candidate) -> float:
        return float(writes.get(candidate.relation, 0.0)) if total_calls else 0.0

    budget = None if options.budget_mb is None else int(options.budget_mb * MB)
    settings = SelectionSettings(
        budget, options.min_improvement_pct, options.max_width, options.write_cost_per_row
    )
    selection = select_best(coster, size_of, write_rows, settings)
    chosen = frozenset(selection.chosen)
    before = sum(weights[n] * selection.baseline[n] for n in weights)
    after = sum(weights[n] * selection.final[n] for n in weights)
    recommendations = []
    for candidate in selection.chosen:
        without = frozenset(chosen - {candidate})
        benefit = sum(
            weights[n] * (coster.cost(n, without) - selection.final[n]) for n in coster.affected(candidate)
        )
        helped = [
            QueryEffect(
                n,
                queries[n].sql,
                queries[n].calls,
                selection.baseline[n],
                selection.final[n],
                _costing(queries[n], bound.get(n)),
                queries[n].queryid,
            )
            for n in weights
            if candidate.name() in coster.plan_indexes(n, chosen)
        ]
        recommendations.append(
            Recommendation(
                candidate=candidate,
                sql=candidate.sql_text(session.conn),
                size_bytes=estimated_index_bytes(candidate, tables[candidate.relation]),
                hypopg_size_bytes=session.hypopg_size(candidate),
                benefit=benefit,
                share_pct=100.0 * benefit / before if before else 0.0,
                queries=helped,
                status="estimated",
                table_bytes=tables[candidate.relation].size_bytes,
            )
        )
    recommendations.sort(key=lambda r: -r.benefit)
    used_by_workload = set()
    for n in weights:
        used_by_workload |= set(coster.plan_indexes(n, frozenset()))
    advice = Advice(
        recommendations=recommendations,
        drops=[],
        options=options,
        hypopg=True,
        queries=len(queries),
        cost_before=before,
        cost_after=after,
        used_bytes=sum(r.size_bytes for r in recommendations),
        hypopg_used_bytes=sum(r.hypopg_size_bytes or 0 for r in recommendations),
        whatif_calls=session.stats.calls,
        cache_hits=session.stats.cache_hits,
        runtime_s=0.0,
        candidates=len(candidates.candidates),
        steps=selection.steps,
        skipped=skipped,
    )
    if bound:
        observed_count = sum(1 for b in bound.values() if b.observed)
        sent = "the application sent (as pg_qualstats or the log's parameters recorded them)"
        if observed_count == len(bound):
            source = sent
        elif observed_count:
            source = f"sampled from pg_stats ({observed_count} with constants {sent})"
        else:
            source = "sampled from pg_stats"
        advice.notes.append(
            f"{len(bound)} of {sum(1 for q in queries if q.param_count)} parameterised queries costed with "
            f"constants {source}: their generic plan could not be built, its cost differed "
            f"more than {MISLEADING_RATIO:g}x from the plan with those constants, or they send one "
            "constant for a parameter every time"
        )
    advice.notes.extend(declared_types_notes(session.types, [q.sql for q in queries]))
    advice.notes.extend(session.notes)
    advice.workload_indexes = used_by_workload
    return advice


def declared_types_notes(types: DeclaredTypes, queries: Sequence[str]) -> list[str]:
    """One note per query planned with a parameter type declared for it (whatif.DeclaredTypes)."""
    return [
        f"planned with {types.described(text)} (PostgreSQL cannot infer that parameter's type from the "
        f"query alone): {' '.join(text.split())}"
        for text in queries
        if text in types.found
    ]


# what each kind of object PostgreSQL denies needs granted, and how the advice names the objects
_TABLE_KINDS = ("materialized view", "foreign table", "table", "view")
_GRANTS = {"schema": "USAGE", "function": "EXECUTE", "sequence": "SELECT"}


def _denied_object(exc: psycopg.Error) -> tuple[str, str]:
    """(kind, name) of PostgreSQL's "permission denied for table orders"; ("", message) if it says other."""
    message = exc.diag.message_primary or str(exc).splitlines()[0]
    rest = message.removeprefix("permission denied for ")
    for kind in (*_TABLE_KINDS, *_GRANTS):
        if rest.startswith(f"{kind} "):
            return kind, rest[len(kind) + 1 :]
    return "", message


def explain_failure(exc: psycopg.Error, role: str) -> str:
    """Why a query is left out: the planner's error, and the grant it needs when a privilege is missing."""
    reason = f"cannot EXPLAIN: {str(exc).splitlines()[0]}"
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        kind, _ = _denied_object(exc)
        reason += f": grant {_GRANTS.get(kind, 'SELECT')} on it to {role} (EXPLAIN needs it)"
    return reason


def unexplainable_workload(failures: Sequence[psycopg.Error], role: str) -> PgdbaError:
    """The error when no query could be EXPLAINed: the privileges missing, when that is why."""
    denied: dict[str, set[str]] = {}
    for exc in failures:
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            kind, name = _denied_object(exc)
            denied.setdefault(kind, set()).add(name)
    if not denied:
        return InputError("no query of the workload could be EXPLAINed here")
    causes = "; ".join(
        f"permission denied for {kind} {', '.join(sorted(names))}" if kind else ", ".join(sorted(names))
        for kind, names in sorted(denied.items())
    )
    grants = []
    if any(kind in _TABLE_KINDS or kind not in _GRANTS for kind in denied):
        grants.append(f"grant SELECT on the workload's tables to {role}")
    grants += [
        f"grant {_GRANTS[kind]} on {kind} {', '.join(sorted(names))} to {role}"
        for kind, names in sorted(denied.items())
        if kind in _GRANTS
    ]
    return NotAvailable(
        f"no query of the workload could be EXPLAINed here: {causes}: {' and '.join(grants)} (EXPLAIN needs it)"
    )


def _costing(query: WorkloadQuery, bound: BoundQuery | None) -> str:
    """How a query was costed: with observed or sampled constants, its generic plan, or as written."""
    if bound is not None:
        return "observed" if bound.observed else "sampled"
    return "generic" if query.param_count else "as written"


def _advise_by_rules(
    conn: psycopg.Connection,
    facts: ServerFacts,
    analysed: AnalysedWorkload,
    candidates: CandidateSet,
    tables: dict[str, TableInfo],
    options: AdvisorOptions,
) -> Advice:
    """Without HypoPG: per query and table the widest equality-first candidate, heaviest queries first."""
    workload_indexes: set[str] = set()
    skipped = list(analysed.skipped)
    types = DeclaredTypes()
    for query in analysed.queries:
        try:
            plan = explain_typed(conn, facts.version_num, query.sql, query.param_count, types)
        except psycopg.Error as exc:
            skipped.append((query.sql, explain_failure(exc, facts.user)))
            continue
        workload_indexes |= plan_index_names(plan)
    budget = None if options.budget_mb is None else int(options.budget_mb * MB)
    order = sorted(range(len(analysed.queries)), key=lambda n: -analysed.queries[n].total_ms)
    chosen: list[Candidate] = []
    used = 0
    for number in order:
        best: dict[str, Candidate] = {}
        for candidate in sorted(candidates.by_query.get(number, ())):
            if candidate.is_partial:
                continue
            current = best.get(candidate.relation)
            if current is None or len(candidate.columns) > len(current.columns):
                best[candidate.relation] = candidate
        for candidate in best.values():
            if any(
                c.relation == candidate.relation and c.keys[: len(candidate.keys)] == candidate.keys
                for c in chosen
            ):
                continue
            size = estimated_index_bytes(candidate, tables[candidate.relation])
            if budget is not None and used + size > budget:
                continue
            chosen = [
                c
                for c in chosen
                if not (c.relation == candidate.relation and candidate.keys[: len(c.keys)] == c.keys)
            ]
            chosen.append(candidate)
            used = sum(estimated_index_bytes(c, tables[c.relation]) for c in chosen)
    recommendations = [
        Recommendation(
            candidate=c,
            sql=c.sql_text(None),
            size_bytes=estimated_index_bytes(c, tables[c.relation]),
            hypopg_size_bytes=None,
            benefit=0.0,
            share_pct=0.0,
            queries=[
                QueryEffect(n, q.sql, q.calls, 0.0, 0.0, "not costed", q.queryid)
                for n, q in enumerate(analysed.queries)
                if c in candidates.by_query.get(n, set())
            ],
            status="unverified",
            table_bytes=tables[c.relation].size_bytes,
            costed=False,
        )
        for c in chosen
    ]
    return Advice(
        recommendations=recommendations,
        drops=[],
        options=options,
        hypopg=False,
        queries=len(analysed.queries),
        cost_before=0.0,
        cost_after=0.0,
        used_bytes=used,
        hypopg_used_bytes=None,
        whatif_calls=0,
        cache_hits=0,
        runtime_s=0.0,
        candidates=len(candidates.candidates),
        skipped=skipped,
        workload_indexes=workload_indexes,
    )


def _drops(
    conn: psycopg.Connection, facts: ServerFacts, advice: Advice, index_ages: IndexAges | None
) -> list[DropAdvice]:
    """The indexes to drop: unused ones only on a primary whose counters are old enough to judge, and not
    those created after the judging window began (index_ages, from the history store, when known)."""
    judge_unused = not facts.in_recovery
    if facts.in_recovery:
        advice.notes.append(
            "a replica: unused indexes are not judged here (the primary's scans are not visible)"
        )
    stats_age = server_stats_age(facts, datetime.now(UTC), timedelta(days=advice.options.min_stats_age_days))
    if stats_age.start is not None:
        advice.notes.append(f"index scan counts since {stats_age.start.isoformat(timespec='seconds')}")
    not_judged = stats_age.not_judged(week_old_snapshot=index_ages is not None)
    if judge_unused and not_judged is not None:
        judge_unused = False
        advice.notes.append(f"unused indexes are not judged: {not_judged}")
    if judge_unused and facts.stats_reset is None:  # never reset here: counting since the server's start
        advice.notes.append(f"unused indexes judged, but {stats_age.note()}")
    tables = load_tables(conn, user_table_oids(conn))
    locked = sorted(t.qualified_name for t in tables.values() if t.locked)
    if locked:
        advice.notes.append(_not_judged_note(locked, tables))
    judged = [t for t in tables.values() if not t.locked]  # their indexes were not read (catalog.load_tables)
    existing = [ix for table in judged for ix in table.indexes]
    young = frozenset(
        ix.oid for ix in existing if index_ages is not None and ix.oid not in index_ages.existing
    )
    drops = indexes_to_drop(judged, advice.workload_indexes, judge_unused=judge_unused, young=young)
    if drops.not_judged and index_ages is not None:
        advice.drops_not_judged = [ix.qualified_name for ix in drops.not_judged]
        advice.notes.append(index_ages.note(advice.drops_not_judged))
    return drops.advice


def _not_judged_note(locked: list[str], tables: Mapping[int, TableInfo]) -> str:
    """The tables whose indexes were not judged for dropping, each with the relation that is locked."""
    why = {t.qualified_name: t.locked for t in tables.values() if t.locked}
    named = [name if why[name] == name else f"{name} (lock on {why[name]})" for name in locked]
    return (
        f"indexes of {', '.join(named)} not judged for dropping: another session holds or waits for an ACCESS "
        "EXCLUSIVE lock (DDL in flight?); rerun when that is done"
    )
