"""/api/v1/advisor: index advice from the workload (HypoPG what-if), its proof, and the confirmed apply.

Every query text is normalised and the proof's sampled parameter values (data from pg_stats) are left out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from pgdba.advisor.advise import (
    DEFAULT_BUDGET_MB,
    MAX_PARTITIONS_LIMIT,
    STATIC_FILLFACTOR,
    Advice,
    AdvisorOptions,
    advise_indexes,
)
from pgdba.advisor.apply import apply_indexes, refuse_unverified_apply
from pgdba.advisor.hidden_workload import hidden_workload_notes
from pgdba.advisor.orm_patch import drizzle_patch, prisma_patch
from pgdba.advisor.selection import DEFAULT_MIN_IMPROVEMENT_PCT
from pgdba.advisor.trigram import search_statements
from pgdba.advisor.verify import verify_advice
from pgdba.advisor.whatif import MAX_WHATIF_PARTITIONS
from pgdba.advisor.workload import queries_from_statements, table_writes_from_statements
from pgdba.api.actions import record_action, require_action_allowed
from pgdba.api.dependencies import DatabaseName, history_store, settings_of, target_of
from pgdba.api.models import ERROR_RESPONSES
from pgdba.api.query_text import finding_without_literals, normalised
from pgdba.api.settings import ApiSettings
from pgdba.api.v1_models import AdviceResponse, AdvisorActionRequest
from pgdba.errors import InputError, NotAvailable, PgdbaError
from pgdba.history.snapshot import index_ages
from pgdba.server import ServerFacts, load_server_facts
from pgdba.target import Target

router = APIRouter(prefix="/api/v1/advisor", tags=["advisor"], responses=ERROR_RESPONSES)


class AdvisorParameters(BaseModel):
    budget_mb: float = DEFAULT_BUDGET_MB
    min_improvement_pct: float = DEFAULT_MIN_IMPROVEMENT_PCT
    max_width: int = 3
    static_fillfactor: int = STATIC_FILLFACTOR
    max_partitions: int = MAX_WHATIF_PARTITIONS


def parameters_of(body: AdvisorActionRequest) -> AdvisorParameters:
    return AdvisorParameters(
        budget_mb=body.budgetMb,
        min_improvement_pct=body.minImprovement,
        max_width=body.maxWidth,
        static_fillfactor=body.staticFillfactor,
        max_partitions=body.maxPartitions,
    )


def run_advisor(
    target: Target, params: AdvisorParameters, settings: ApiSettings
) -> tuple[Advice, ServerFacts]:
    """The advice for the workload pg_stat_statements recorded (read-only: HypoPG indexes only); indexes
    created after the history store's week-old index snapshot are not advised to be dropped."""
    with history_store(settings) as store:
        ages = index_ages(store, target.key, datetime.now(UTC))
    options = AdvisorOptions(
        budget_mb=params.budget_mb,
        min_improvement_pct=params.min_improvement_pct,
        max_width=params.max_width,
        static_fillfactor=params.static_fillfactor,
        max_partitions=params.max_partitions,
    )
    options.validate()
    with target.connect() as conn:
        facts = load_server_facts(conn)
        workload = queries_from_statements(conn, facts)
        hidden_notes = hidden_workload_notes(conn, facts, workload)
        if not workload:
            raise NotAvailable("pg_stat_statements holds no query of this database to advise on yet")
        try:
            writes = table_writes_from_statements(conn, facts)
            advice = advise_indexes(conn, facts, workload, options, writes=writes, index_ages=ages)
        except InputError as exc:  # e.g. no recorded query reads a table here: the database's state
            raise NotAvailable(str(exc)) from None
    advice.notes += hidden_notes
    return advice, facts


def orm_fixes(settings: ApiSettings, advice: Advice) -> dict[str, Any]:
    """SQL always; a Prisma / Drizzle patch of each schema file `serve --schema-source` names."""
    chosen = [r.candidate for r in advice.recommendations]
    searches = advice.search_indexes
    statements = [statement + ";" for r in advice.recommendations for statement in r.statements()]
    statements += [s + ";" for s in search_statements(searches)]  # CREATE EXTENSION pg_trgm once, first
    fixes: dict[str, Any] = {"sql": statements, "patches": []}
    for spec in settings.schema_sources:
        kind, _, path = spec.partition(":")
        if kind not in ("prisma", "drizzle") or not (chosen or searches):
            continue
        try:
            patch = (prisma_patch if kind == "prisma" else drizzle_patch)(
                Path(path), chosen, searches, advice.table_bytes()
            )
        except PgdbaError as exc:
            fixes["patches"].append(
                {"kind": kind, "path": path, "diff": "", "unmapped": [], "notes": [], "error": str(exc)}
            )
            continue
        fixes["patches"].append(
            {
                "kind": kind,
                "path": path,
                "diff": patch.diff,
                "unmapped": patch.unmapped,
                "notes": patch.notes,
                "error": None,
            }
        )
    return fixes


def advice_body(settings: ApiSettings, advice: Advice) -> dict[str, Any]:
    body = advice.to_dict()
    for index in body["indexes"]:
        index["queries"] = [{**q, "query": normalised(q["query"])} for q in index["queries"]]
    for search in body["search_indexes"]:
        search["queries"] = [{**q, "query": normalised(q["query"])} for q in search["queries"]]
    body["workload"]["skipped"] = [
        {**s, "query": normalised(s["query"])} for s in body["workload"]["skipped"]
    ]
    body["findings"] = [finding_without_literals(f) for f in body["findings"]]
    if body.get("verification"):
        proof = dict(body["verification"])
        proof["queries"] = [
            {k: v for k, v in {**q, "query": normalised(q["query"])}.items() if k != "values"}
            for q in proof.get("queries", [])
        ]
        body["verification"] = proof
    body["fixes"] = orm_fixes(settings, advice)
    return body


@router.get("/indexes", response_model=AdviceResponse)
def indexes(
    request: Request,
    db: DatabaseName = None,
    budget_mb: Annotated[
        float, Query(alias="budgetMb", gt=0, le=10_000_000, allow_inf_nan=False)
    ] = DEFAULT_BUDGET_MB,
    min_improvement: Annotated[
        float, Query(alias="minImprovement", ge=0, lt=100, allow_inf_nan=False)
    ] = DEFAULT_MIN_IMPROVEMENT_PCT,
    max_width: Annotated[int, Query(alias="maxWidth", ge=1, le=8)] = 3,
    static_fillfactor: Annotated[int, Query(alias="staticFillfactor", ge=10, le=100)] = STATIC_FILLFACTOR,
    max_partitions: Annotated[
        int, Query(alias="maxPartitions", ge=1, le=MAX_PARTITIONS_LIMIT)
    ] = MAX_WHATIF_PARTITIONS,
) -> dict[str, Any]:
    """Indexes that cut the workload's estimated cost most within the budget (before/after cost per
    query), the indexes to drop, and each fix as SQL and as a Prisma / Drizzle patch."""
    params = AdvisorParameters(
        budget_mb=budget_mb,
        min_improvement_pct=min_improvement,
        max_width=max_width,
        static_fillfactor=static_fillfactor,
        max_partitions=max_partitions,
    )
    advice, _ = run_advisor(target_of(request, db), params, settings_of(request))
    return advice_body(settings_of(request), advice)


@router.post("/verify", response_model=AdviceResponse, dependencies=[Depends(require_action_allowed)])
def verify(request: Request, body: AdvisorActionRequest, db: DatabaseName = None) -> dict[str, Any]:
    """The proof: measured before/after times (EXPLAIN ANALYZE) on a scratch copy of the tables the advised
    indexes serve, in a scratch database on the same server (needs CREATEDB; dropped afterwards)."""
    target = target_of(request, db)
    advice, facts = run_advisor(target, parameters_of(body), settings_of(request))
    advice.verification = verify_advice(target, facts, advice, on_target=False)
    record_action(
        request, target, "advisor-verify", f"{len(advice.recommendations)} index(es)", {"status": "done"}
    )
    return advice_body(settings_of(request), advice)


@router.post("/apply", response_model=AdviceResponse, dependencies=[Depends(require_action_allowed)])
def apply(request: Request, body: AdvisorActionRequest, db: DatabaseName = None) -> dict[str, Any]:
    """Create the advised indexes (or the listed ones of them) with CREATE INDEX CONCURRENTLY, each checked
    valid afterwards (an invalid build is dropped again). Tables over 100 MB need `largeTables: true`."""
    target = target_of(request, db)
    advice, _ = run_advisor(target, parameters_of(body), settings_of(request))
    if body.indexes is not None:
        advised = {r.candidate.name() for r in advice.recommendations}
        unknown = set(body.indexes) - advised - {s.name() for s in advice.search_indexes}
        if unknown:
            raise NotAvailable(f"not in the current advice: {', '.join(sorted(unknown)[:5])}")
        advice.recommendations = [r for r in advice.recommendations if r.candidate.name() in body.indexes]
        advice.search_indexes = [s for s in advice.search_indexes if s.name() in body.indexes]
    try:
        refuse_unverified_apply(advice, yes=body.largeTables)
    except InputError as exc:  # the tables' size (state), not the request, is the reason: 409
        raise NotAvailable(str(exc).replace("--yes", "largeTables: true")) from None
    advice.verification = apply_indexes(target, advice)
    created = ", ".join(c["index"] for c in advice.verification["created"]) or "(none)"
    record_action(request, target, "advisor-apply", created, {"status": "done"})
    return advice_body(settings_of(request), advice)
