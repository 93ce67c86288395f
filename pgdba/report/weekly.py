"""The weekly report: score, top findings, top queries by total time, growth, and the difference from the
previous report (new, fixed, worse). Each report is stored as a record of kind "report" so the next one can
compare; rendering to Markdown / HTML is in pgdba.report.render."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pgdba.capacity import no_growth_notes, table_growth
from pgdba.checks.capacity import Growth
from pgdba.checks.queries import StatementSet
from pgdba.checkup import CheckupResult, run_checkup
from pgdba.findings import SCHEMA_VERSION, Finding, Severity
from pgdba.history.deltas import statements_since, window_since
from pgdba.history.snapshot import TABLES, size_history, statement_snapshot_at, table_oids
from pgdba.history.store import HistoryStore
from pgdba.report.score import HealthScore, health_score
from pgdba.statement_text import finding_without_literals, normalised
from pgdba.stats.statements import StatementStats
from pgdba.target import Target

REPORT_KIND = "report"


@dataclass
class FindingChange:
    code: str
    object: str
    severity: str
    title: str
    previous_severity: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ReportDiff:
    previous_at: datetime | None
    previous_score: float | None
    new: list[FindingChange] = field(default_factory=list)
    fixed: list[FindingChange] = field(default_factory=list)
    worse: list[FindingChange] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "previous_at": self.previous_at.isoformat() if self.previous_at else None,
            "previous_score": self.previous_score,
            "new": [c.to_dict() for c in self.new],
            "fixed": [c.to_dict() for c in self.fixed],
            "worse": [c.to_dict() for c in self.worse],
        }


@dataclass
class WeeklyReport:
    target: str
    generated_at: datetime
    score: HealthScore
    result: CheckupResult
    top_queries: list[StatementStats]
    queries_window: str
    growth: list[Growth]
    diff: ReportDiff
    top: int = 10
    # why tables have no growth, as `capacity tables --forecast-days` says it (no snapshot, none old enough, …)
    growth_notes: list[str] = field(default_factory=list)

    @property
    def top_findings(self) -> list[Finding]:
        return [f for f in self.result.report.sorted_findings() if f.severity is not Severity.INFO][
            : self.top
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "target": self.target,
            "generated_at": self.generated_at.isoformat(),
            "score": self.score.to_dict(),
            "top_findings": [f.to_dict() for f in self.top_findings],
            "findings": [f.to_dict() for f in self.result.report.sorted_findings()],
            "skipped": [s.__dict__ for s in self.result.report.skipped],
            "notes": self.result.report.notes,
            "queries_window": self.queries_window,
            "top_queries": [
                {
                    "queryid": str(q.queryid),
                    "query": " ".join(q.query.split()),
                    "calls": q.calls,
                    "total_ms": round(q.total_ms, 1),
                    "mean_ms": round(q.mean_ms, 2),
                }
                for q in self.top_queries
            ],
            "growth": [g.to_dict() for g in self.growth],
            "growth_notes": self.growth_notes,
            "diff": self.diff.to_dict(),
        }

    def to_shareable_dict(self) -> dict[str, Any]:
        """to_dict() with every query text normalised (literals replaced by $n), as GET /api/v1/report and
        `pgdba report --format json` show it."""
        body = self.to_dict()
        body["findings"] = [finding_without_literals(f) for f in body["findings"]]
        body["top_findings"] = [finding_without_literals(f) for f in body["top_findings"]]
        body["top_queries"] = [{**q, "query": normalised(q["query"])} for q in body["top_queries"]]
        return body


def _key(f: dict[str, Any]) -> tuple[str, str]:
    return (f["code"], f["object"])


_RANK = {"info": 0, "warning": 1, "critical": 2}


def diff_findings(
    current: list[Finding], previous: dict[str, Any] | None, previous_at: datetime | None
) -> ReportDiff:
    """New, fixed and worse findings against the previous report record (matched by code and object)."""
    if previous is None:
        return ReportDiff(None, None)
    before = {_key(f): f for f in previous.get("findings", [])}
    now = {_key(f.to_dict()): f.to_dict() for f in current}
    diff = ReportDiff(previous_at, previous.get("score"))
    for key, f in now.items():
        old = before.get(key)
        change = FindingChange(f["code"], f["object"], f["severity"], f["title"])
        if old is None:
            diff.new.append(change)
        elif _RANK[f["severity"]] > _RANK[old["severity"]]:
            change.previous_severity = old["severity"]
            diff.worse.append(change)
    for key, f in before.items():
        if key not in now:
            diff.fixed.append(FindingChange(f["code"], f["object"], f["severity"], f["title"]))
    return diff


REPORT_PERIOD = timedelta(days=7)


def build_report(target: Target, store: HistoryStore, *, top: int = 10, save: bool = True) -> WeeklyReport:
    """Run the check-up, compare with the previous stored report, and (by default) store this one.

    The top queries are the activity of the report's week: since the newest statement snapshot taken a
    week ago or earlier (hourly snapshots do not shrink the window to an hour), or since the oldest one
    when the history is younger, or since a restart or reset that came after it."""
    result = run_checkup(target, store=store)
    score = health_score(result)
    now = result.data["now"]
    statements: list[StatementStats] = result.data.get("statements", [])
    window = "since the statistics were reset"
    baseline = statement_snapshot_at(store, target.key, now - REPORT_PERIOD)
    if statements and baseline is not None and result.facts is not None:
        taken_at, before, meta = baseline
        statements = statements_since(statements, before, meta, result.facts)
        window = window_since(taken_at, meta, result.facts)
    functions = result.data.get("functions", frozenset())  # (query.slow's: the check-up read them)
    top_queries = StatementSet(statements, functions=functions).top(top, key=lambda s: s.total_ms)
    tables = result.data.get("tables", [])
    history = size_history(store, target.key, TABLES, current_oids=table_oids(tables))
    rates = table_growth(history, tables, now)
    rate_of = {g.object: g for g in rates}
    growth_notes = no_growth_notes(
        {t.qualified_name: rate_of.get(t.qualified_name) for t in tables},
        min((taken for taken, _ in history), default=None),
        len(history),
        now,
    )
    previous = store.records(target.key, REPORT_KIND, limit=1)
    prev_at, prev_payload = previous[0] if previous else (None, None)
    diff = diff_findings(result.report.findings, prev_payload, prev_at)
    report = WeeklyReport(
        target.key,
        datetime.now(UTC),
        score,
        result,
        top_queries,
        window,
        rates[:top],
        diff,
        top,
        growth_notes,
    )
    if save:
        store.add_record(
            target.key,
            REPORT_KIND,
            {
                "score": round(score.score, 1),
                "findings": [
                    {"code": f.code, "object": f.object, "severity": f.severity.value, "title": f.title}
                    for f in result.report.findings
                ],
            },
            recorded_at=report.generated_at,
        )
    return report
