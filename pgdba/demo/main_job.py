"""The main job (`pgdba demo`): embedded PostgreSQL → the e-learning database → its workload → the
check-up → the advised indexes applied → the workload again, with before/after timings.

Every step is a library call the user can make on their own database; this module only strings them
together and times them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgdba.advisor.advise import Advice, AdvisorOptions, advise_indexes
from pgdba.advisor.apply import apply_indexes
from pgdba.advisor.workload import queries_from_statements, table_writes_from_statements
from pgdba.checkup import CheckupResult, run_checkup
from pgdba.demo.build import (
    DemoBuildResult,
    build_demo_database,
    create_demo_database,
    reset_qualstats,
)
from pgdba.demo.planted import PLANTED_MISSING_INDEXES
from pgdba.demo.workload import WorkloadResult, run_workload
from pgdba.embedded import EmbeddedCluster
from pgdba.findings import SCHEMA_VERSION
from pgdba.optimizer import AnalyzeReport, report_statements
from pgdba.pool import surge_pool_factory
from pgdba.report.score import HealthScore, health_score
from pgdba.server import library_name, load_server_facts
from pgdba.setup import (
    apply_pg_stat_statements_setup,
    pg_stat_statements_status,
    preload_libraries_statement,
)
from pgdba.target import Target, resolve_target

DEMO_DATABASE = "elearning"
# The demo's own cluster: shared_buffers large enough for BehaviorLog, as a tuned server would have.
DEMO_CLUSTER_SETTINGS = {"shared_buffers": "512MB", "max_connections": "200"}

StepProgress = Callable[[str, int, int], None]


@dataclass
class AppliedIndex:
    table: str
    columns: tuple[str, ...]
    sql: str
    seconds: float


@dataclass
class DemoReport:
    dsn: str
    build: DemoBuildResult
    before: WorkloadResult
    analysis: AnalyzeReport
    checkup: CheckupResult
    score: HealthScore
    advice: Advice | None = None
    applied: list[AppliedIndex] = field(default_factory=list)
    after: WorkloadResult | None = None
    step_seconds: dict[str, float] = field(default_factory=dict)

    def planted_found(self) -> dict[str, str | None]:
        """Each planted missing index → the applied index that serves its leading column, if any."""
        found: dict[str, str | None] = {}
        for missing in PLANTED_MISSING_INDEXES:
            match = [
                a
                for a in self.applied
                if a.table.split(".")[-1] == missing.table and a.columns[0] == missing.columns[0]
            ]
            found[missing.index_name] = f"{match[0].table}({', '.join(match[0].columns)})" if match else None
        return found

    def n_plus_one_found(self) -> list[str]:
        return [
            r.stats.query
            for r in self.analysis.recommendations
            if any(i.type == "n_plus_one" for i in r.issues)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "dsn": self.dsn,
            "build": self.build.to_dict(),
            "before": self.before.to_dict(),
            "analysis": self.analysis.to_dict(),
            "health": self.score.to_dict(),
            "findings": self.checkup.report.to_dict(),
            "advice": self.advice.to_dict() if self.advice else None,
            "applied_indexes": [a.__dict__ for a in self.applied],
            "after": self.after.to_dict() if self.after else None,
            "planted_missing_indexes_found": self.planted_found(),
            "n_plus_one_found": self.n_plus_one_found(),
            "step_seconds": {k: round(v, 2) for k, v in self.step_seconds.items()},
        }


@contextmanager
def _timed(report_steps: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        report_steps[name] = time.perf_counter() - started


def start_demo_cluster(data_root: Path | None = None) -> tuple[EmbeddedCluster, Target]:
    """The embedded cluster, started, with pg_stat_statements ready and pg_qualstats loaded where its package
    is installed (restarting it when that needs it: the first time only)."""
    cluster = EmbeddedCluster(data_root, settings=DEMO_CLUSTER_SETTINGS)
    cluster.start()
    admin = resolve_target(cluster.dsn(), {})
    if not pg_stat_statements_status(admin).ready:
        status = apply_pg_stat_statements_setup(admin, may_restart=True)
        if status.restart_required:
            cluster.restart()
    if cluster.library_available("pg_qualstats"):
        _load_qualstats(cluster, admin)
    return cluster, admin


def _load_qualstats(cluster: EmbeddedCluster, admin: Target) -> None:
    """pg_qualstats preloaded and sampling every query, so the advisor costs parameters with the constants
    the workload sends. Its settings exist only once the library is loaded: two restarts the first time."""
    for _ in range(2):
        with admin.connect(apply=True) as conn:
            libraries = load_server_facts(conn).preload_libraries
            if "pg_qualstats" not in {library_name(entry) for entry in libraries}:  # '$libdir/…' too
                conn.execute(preload_libraries_statement([*libraries, "pg_qualstats"]))
            else:
                rate = conn.execute("SELECT current_setting('pg_qualstats.sample_rate')").fetchone()
                if rate is not None and float(rate[0]) >= 1:
                    return
                conn.execute("ALTER SYSTEM SET pg_qualstats.sample_rate = 1")
        cluster.restart()


def reset_statement_stats(target: Target) -> None:
    """Forget this database's pg_stat_statements entries (and pg_qualstats' constants), so the next window
    holds one workload run."""
    with target.connect(apply=True) as conn:
        conn.execute(
            "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
        )
        reset_qualstats(conn)


# The demo database was built minutes ago and its workload is all it will ever run: its index counters are
# judged at that age (a real database's must have counted a week; see pgdba.checks.indexes.StatsAge)
WHOLE_HISTORY_DAYS = 0


def advise_and_apply_indexes(target: Target) -> tuple[Advice, list[AppliedIndex]]:
    """The index advisor over the workload pg_stat_statements saw, then CREATE INDEX CONCURRENTLY for
    each chosen index (the same as `pgdba advise indexes --apply --yes`)."""
    with target.connect() as conn:
        facts = load_server_facts(conn)
        workload = queries_from_statements(conn, facts)
        writes = table_writes_from_statements(conn, facts)
        options = AdvisorOptions(min_stats_age_days=WHOLE_HISTORY_DAYS)
        advice = advise_indexes(conn, facts, workload, options, writes=writes)
    started = time.perf_counter()
    advice.verification = apply_indexes(target, advice)
    created = {item["index"] for item in advice.verification["created"]}
    seconds = time.perf_counter() - started
    applied = [
        AppliedIndex(rec.candidate.relation, rec.candidate.columns, rec.sql, seconds / max(len(created), 1))
        for rec in advice.recommendations
        if rec.candidate.name() in created
    ]
    return advice, applied


def run_demo(
    *,
    scale: float = 1.0,
    rounds: int = 30,
    workers: int = 8,
    apply: bool = True,
    data_root: Path | None = None,
    progress: StepProgress | None = None,
    status: Callable[[str], None] | None = None,
) -> DemoReport:
    """The whole main job; `status(text)` announces each step, `progress(step, done, total)` its progress."""
    say = status or (lambda text: None)
    steps: dict[str, float] = {}
    with _timed(steps, "start embedded PostgreSQL"):
        say("starting the embedded PostgreSQL cluster")
        cluster, admin = start_demo_cluster(data_root)
    with _timed(steps, "build the e-learning database"):
        say(f"building the e-learning database (scale {scale:g})")
        target = create_demo_database(admin, DEMO_DATABASE)
        build = build_demo_database(target, scale=scale, progress=progress)
    with _timed(steps, "workload (before)"):
        say(
            f"running the application workload ({rounds} rounds, {workers} workers, class-start surges, N+1 page)"
        )
        reset_statement_stats(target)
        before = run_workload(
            target, rounds=rounds, workers=workers, pool_factory=surge_pool_factory(), progress=progress
        )
    with _timed(steps, "check-up"):
        say("running the full check-up and the query-optimizer report")
        checkup = run_checkup(target, options={"index.unused": {"min_stats_age_days": WHOLE_HISTORY_DAYS}})
        # the check-up already collected the statistics the optimizer report reads: no second round
        analysis = report_statements(
            checkup.data.get("statements", []),
            checkup.data.get("tables", []),
            checkup.data.get("indexes", []),
            threshold_ms=100.0,
            fks=checkup.data.get("foreign_keys"),  # an N+1's list query is on a related table
        )
    report = DemoReport(
        cluster.dsn(DEMO_DATABASE),
        build,
        before,
        analysis,
        checkup,
        health_score(checkup),
        step_seconds=steps,
    )
    if not apply:
        return report
    with _timed(steps, "advise and apply indexes"):
        say("advising indexes for the whole workload (HypoPG what-if) and creating them concurrently")
        report.advice, report.applied = advise_and_apply_indexes(target)
    with _timed(steps, "workload (after)"):
        say("running the same workload again")
        reset_statement_stats(target)
        report.after = run_workload(
            target, rounds=rounds, workers=workers, pool_factory=surge_pool_factory(), progress=progress
        )
    return report
