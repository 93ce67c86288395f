"""Proof: measured before/after times of the workload's queries with EXPLAIN (ANALYZE).

By default on a throwaway copy: a scratch database on the same server (needs CREATEDB) receives the tables
the measured queries read, their existing indexes and statistics; the advised indexes are built there and
the database is dropped afterwards — the target database is only read. With --apply the measurement runs on
the target itself around CREATE INDEX CONCURRENTLY. Only SELECT statements are executed. `$n` parameters are
bound to values sampled from pg_stats (pgdba.advisor.sampling).

Each measured query gets a verdict (timing_verdict), and each recommendation the verdict of the queries it
was advised for (mark_measured): one measured slower with its index is marked so, never left "estimated".
Search indexes (pg_trgm GIN, pgdba.advisor.trigram), which HypoPG cannot cost, are built and measured the
same way (pg_trgm created in the scratch database first); their status becomes the measured verdict.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Collection, Mapping
from typing import Any

import pglast
import psycopg
from pglast import ast
from psycopg import sql

from pgdba.advisor.advise import Advice, resolve_columns
from pgdba.advisor.apply import create_indexes
from pgdba.advisor.catalog import TableInfo
from pgdba.advisor.observed import ObservedConstants, constants_key, load_observed_constants
from pgdba.advisor.policy_calls import builtin_functions, calls_as_parameters
from pgdba.advisor.sampling import BoundQuery, StatsReader, bind_parameters
from pgdba.advisor.scratch_copy import copy_tables, create_scratch_database
from pgdba.advisor.trigram import EXTENSION, SearchIndexAdvice
from pgdba.advisor.whatif import (
    UNTYPED_PARAMETER_ERRORS,
    DeclaredTypes,
    declarable_types,
    explain_with_values,
)
from pgdba.errors import InputError
from pgdba.server import ServerFacts
from pgdba.statement_text import shortened
from pgdba.target import Target

# A copy larger than this is refused: measure on the target with --apply --verify instead.
VERIFY_MAX_COPY_BYTES = 2 * 1024**3
RUNS = 2  # measured runs per query after one warm-up; the fastest counts
# A difference counts when it is at least NOISE_SHARE of the faster time and at least NOISE_FLOOR_MS. Under
# a millisecond EXPLAIN (ANALYZE) times mostly its own per-row clock reads and scheduling jitter (two runs of
# one plan differ by tens of microseconds), so two such times are "too fast to measure", not a verdict.
NOISE_FLOOR_MS = 1.0
NOISE_SHARE = 0.2
# a recommendation takes the first of these verdicts any of its measured queries got
VERDICT_ORDER = ("slower", "faster", "no measurable change", "too fast to measure")


def _is_select(text: str) -> bool:
    statements = pglast.parse_sql(text)
    return len(statements) == 1 and isinstance(statements[0].stmt, ast.SelectStmt)


def measure(conn: psycopg.Connection, query: BoundQuery) -> float:
    """Fastest execution time (ms) of RUNS EXPLAIN (ANALYZE) runs after a warm-up, the values bound as
    parameters (never written into the text pg_stat_statements records: explain_with_values), declared
    where PostgreSQL cannot type one on its own (`now() - $1`: declarable_types). Outside autocommit (a
    scratch copy's writable session) each run is a transaction rolled back: every run of an UPDATE or
    DELETE finds the rows as the first did, and a row lock ends with its run."""
    options = "ANALYZE, FORMAT JSON"
    declared: tuple[str, ...] | None = None

    def run() -> dict[str, Any]:
        with contextlib.nullcontext() if conn.autocommit else conn.transaction(force_rollback=True):
            return explain_with_values(conn, options, query.sql, query.values, declared)

    try:
        run()  # the warm-up
    except UNTYPED_PARAMETER_ERRORS:
        declared = declarable_types(conn, query.sql, len(query.values), DeclaredTypes())
        if declared is None:
            raise
        run()
    return min(float(run()["Execution Time"]) for _ in range(RUNS))


def timing_verdict(
    before_ms: float, after_ms: float, *, floor_ms: float = NOISE_FLOOR_MS, share: float = NOISE_SHARE
) -> str:
    """ "faster", "slower", "no measurable change" (within the noise margin) or "too fast to measure" (both
    under `floor_ms`). The margin: `share` of the faster time, at least `floor_ms`."""
    if max(before_ms, after_ms) < floor_ms:
        return "too fast to measure"
    margin = max(floor_ms, share * min(before_ms, after_ms))
    if after_ms - before_ms >= margin:
        return "slower"
    if before_ms - after_ms >= margin:
        return "faster"
    return "no measurable change"


def mark_measured(advice: Advice, verification: Mapping[str, Any]) -> list[str]:
    """Each recommendation's `measured`: the verdict of the queries it was advised for ("not measured" when
    none was); one measured slower gets the status "measured slower". Returns the notes that say so."""
    verdicts = {q["query"]: q["verdict"] for q in verification.get("queries", []) if "verdict" in q}
    notes: list[str] = []
    for recommendation in advice.recommendations:
        found = [verdicts[q.sql] for q in recommendation.queries if q.sql in verdicts]
        recommendation.measured = next((v for v in VERDICT_ORDER if v in found), "not measured")
        if recommendation.measured == "slower":
            recommendation.status = "measured slower"
            notes.append(
                f"{recommendation.candidate.name()} measured slower: a query it was advised for ran slower "
                "with the advised indexes (the planner misjudged it): check the plan before creating it"
            )
    for search in advice.search_indexes:
        found = [verdicts[q.sql] for q in search.queries if q.sql in verdicts]
        search.measured = next((v for v in VERDICT_ORDER if v in found), "not measured")
        _mark_search_measured(search)
    if any(r.measured == "too fast to measure" for r in advice.recommendations):
        notes.append(
            f"too fast to measure: queries under {NOISE_FLOOR_MS:g} ms before and after, where EXPLAIN "
            "(ANALYZE) times mostly its own instrumentation; their indexes stand on the estimate"
        )
    return notes


# a search index's status after --verify, by the verdict of its queries ("not measured": left unverified)
SEARCH_STATUSES = {
    "faster": "measured faster",
    "slower": "measured slower",
    "no measurable change": "measured, no measurable change",
    "too fast to measure": "too fast to measure",
}


def _mark_search_measured(search: SearchIndexAdvice) -> None:
    """The search index's status and reason from its `measured` verdict."""
    if search.measured not in SEARCH_STATUSES:
        search.reason = f"{search.reason} (its queries were not measured)"
        return
    search.status = SEARCH_STATUSES[search.measured]
    search.reason = f"--verify measured its queries: {search.measured}"


def verify_advice(target: Target, facts: ServerFacts, advice: Advice, *, on_target: bool) -> dict[str, Any]:
    """Measured before/after times of the queries the advised indexes help, each with its verdict; the
    recommendations are marked with theirs (mark_measured)."""
    verification = _measure_advice(target, advice, on_target=on_target)
    verification["notes"] = [*verification["notes"], *mark_measured(advice, verification)]
    return verification


def _measure_advice(target: Target, advice: Advice, *, on_target: bool) -> dict[str, Any]:
    if not advice.recommendations and not advice.search_indexes:
        return {
            "where": "nowhere",
            "before_ms": 0.0,
            "after_ms": 0.0,
            "queries": [],
            "notes": ["nothing to verify"],
        }
    queryids = {q.sql: q.queryid for r in advice.recommendations for q in r.queries}
    queryids.update(
        {q.sql: q.queryid for s in advice.search_indexes for q in s.queries if q.sql not in queryids}
    )
    notes: list[str] = []
    measure_target = target.without_statement_timeout(advice.session_settings, measures_queries=True)
    with measure_target.connect() as conn:
        observed = advice.observed if advice.observed is not None else load_observed_constants(conn)
        bound, tables, skipped = _bind_all(conn, queryids, observed, on_target=on_target)
    notes += skipped
    if not bound:
        return {"where": "nowhere", "before_ms": 0.0, "after_ms": 0.0, "queries": [], "notes": notes}
    if on_target:
        return _verify_on(measure_target, advice, bound, notes, where="target")
    needed = {t.oid: t for t in tables.values()}
    total = sum(t.size_bytes for t in needed.values())
    if total > VERIFY_MAX_COPY_BYTES:
        raise InputError(
            f"the tables to copy take {total / 2**30:.1f} GB (over {VERIFY_MAX_COPY_BYTES / 2**30:.0f} GB): "
            "measure on the target with --apply --verify instead"
        )
    scratch = f"pgdba_verify_{secrets.token_hex(4)}"
    create_scratch_database(measure_target, scratch)
    try:
        scratch_target = measure_target.with_database(scratch)
        # the search indexes' operator class comes with pg_trgm (trusted: the scratch database's owner may
        # create it)
        extensions = [EXTENSION] if any(s.extension.available for s in advice.search_indexes) else []
        copy_tables(measure_target, scratch_target, list(needed.values()), extensions=extensions)
        copied = {t.qualified_name for t in needed.values()}
        return _verify_on(scratch_target, advice, bound, notes, where="scratch copy", relations=copied)
    finally:
        with measure_target.connect(apply=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))


def _bind_all(
    conn: psycopg.Connection,
    queryids: Mapping[str, str | None],
    observed: ObservedConstants | None,
    *,
    on_target: bool,
) -> tuple[list[BoundQuery], dict[str, TableInfo], list[str]]:
    """Each query (text → pg_stat_statements id) bound to the constants the application sent (`observed`:
    those the advice was costed with) or sampled ones. On the target only SELECTs are measured, in a
    read-only session (a SELECT … FOR UPDATE is refused there); a scratch copy measures UPDATE, DELETE and
    INSERT … SELECT too, each run rolled back (_measure_each)."""
    # a query reading a view is measured with the view's body in its place (the scratch copy holds tables)
    originals = list(queryids)
    # a policy's per-session call (auth.uid()) as a parameter: measured for a sampled user's rows
    is_builtin = builtin_functions(conn)
    prepared = [calls_as_parameters(text, is_builtin) for text in originals]
    texts, all_columns, tables = resolve_columns(conn, [text for text, _ in prepared])
    bound: list[BoundQuery] = []
    reader = StatsReader(conn, observed)
    skipped: list[str] = []
    used: dict[str, TableInfo] = {}
    for original, (_, calls), text, columns in zip(originals, prepared, texts, all_columns, strict=True):
        short = _short(original)
        if on_target and not _is_select(text):
            skipped.append(f"not measured (only SELECTs are executed on the target): {short}")
            continue
        queryid = constants_key(queryids[original], original)
        query = bind_parameters(reader, text, columns, tables, written=original, queryid=queryid)
        if query is None:
            skipped.append(f"not measured (no sample value for a parameter): {short}")
            continue
        if calls:
            skipped.append(
                f"{', '.join(calls)} bound to a value sampled from the column it is compared with: {short}"
            )
        bound.append(query)
        used.update({name: tables[name] for name in columns.tables if name in tables})
    return bound, used, skipped


def _verify_on(
    target: Target,
    advice: Advice,
    bound: list[BoundQuery],
    notes: list[str],
    *,
    where: str,
    relations: Collection[str] | None = None,
) -> dict[str, Any]:
    """Measure, build the advised indexes (only those on `relations`, the tables a scratch copy holds),
    ANALYZE, measure again."""
    # a scratch copy is pgdba's own: measured in a writable session, each run rolled back, so a write or a
    # row lock leaves nothing behind; the target is measured read-only
    scratch = relations is not None
    with target.connect(apply=scratch, autocommit=not scratch) as conn:
        bound, before, failed_before = _measure_each(conn, bound)
    notes = [*notes, *failed_before]
    if not bound:
        notes.append("no query could be measured: no index was built")
        return {"where": "nowhere", "before_ms": 0.0, "after_ms": 0.0, "queries": [], "notes": notes}
    if relations is not None:
        left = sorted(
            r.candidate.name() for r in advice.recommendations if r.candidate.relation not in relations
        )
        left += sorted(s.name() for s in advice.search_indexes if s.relation not in relations)
        if left:
            notes = [
                *notes,
                f"not built on the {where} (no measured query reads its table): {', '.join(left)}",
            ]
    with target.connect(apply=True) as conn:
        started = time.monotonic()
        created, failed = create_indexes(conn, advice, relations)
        build_s = time.monotonic() - started
        # the rolled-back writes of the runs before left dead rows behind on the copy: gone before the runs after
        writes = scratch and not all(_is_select(q.sql) for q in bound)
        conn.execute("VACUUM ANALYZE" if writes else "ANALYZE")
    with target.connect(apply=scratch, autocommit=not scratch) as conn:
        measured, after, failed_after = _measure_each(conn, bound)
    if failed_after:  # a query that ran before the indexes but not after is compared nowhere
        before = [b for q, b in zip(bound, before, strict=True) if q in measured]
        bound, notes = measured, [*notes, *failed_after]
    return {
        "where": where,
        "before_ms": sum(before),
        "after_ms": sum(after),
        "build_s": round(build_s, 2),
        "created": created,
        "failed": failed,
        "queries": [
            {
                "query": q.written or q.sql,
                "values": q.printable_values(),
                "before_ms": round(b, 3),
                "after_ms": round(a, 3),
                "verdict": timing_verdict(b, a),
            }
            for q, b, a in zip(bound, before, after, strict=True)
        ],
        "notes": notes,
    }


def _measure_each(
    conn: psycopg.Connection, bound: list[BoundQuery]
) -> tuple[list[BoundQuery], list[float], list[str]]:
    """(the queries measured, their times, a note per query that failed): one query the database refuses
    with the sampled values (a scalar subquery returning two rows, a cast) is left out, not the proof."""
    measured: list[BoundQuery] = []
    times: list[float] = []
    notes: list[str] = []
    for query in bound:
        try:
            times.append(measure(conn, query))
        except psycopg.Error as exc:
            if not conn.autocommit:
                conn.rollback()
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            notes.append(f"not measured ({first}): {_short(query.written or query.sql)}")
            continue
        measured.append(query)
    return measured, times, notes


def _short(text: str) -> str:
    return shortened(text, 60)
