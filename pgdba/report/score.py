"""The health score out of 10.

Every check that ran has a weight (see pgdba.checkup.CHECKS) and a state from its worst finding:
ok (no finding, or info only) = 1, warning = 0.5, critical = 0. The score is

    score = 10 × Σ weight × state / Σ weight      over the checks that ran (skipped ones are not counted)

then capped: at most 4 with any critical finding, at most 7 with any warning. Each check below 1 shows its
deduction, 10 × weight × (1 − state) / Σ weight, so the deductions add up to 10 − the uncapped score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pgdba.checkup import CHECKS, CheckupResult
from pgdba.findings import SCHEMA_VERSION, Severity

STATE = {None: 1.0, Severity.INFO: 1.0, Severity.WARNING: 0.5, Severity.CRITICAL: 0.0}
CRITICAL_CAP = 4.0
WARNING_CAP = 7.0


@dataclass(frozen=True)
class Deduction:
    check: str
    weight: float
    severity: Severity
    findings: int
    points: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "weight": self.weight,
            "severity": self.severity.value,
            "findings": self.findings,
            "points": round(self.points, 2),
        }


@dataclass
class HealthScore:
    score: float
    uncapped: float
    cap: float | None
    deductions: list[Deduction]
    checks_run: int
    weight_run: float
    weight_total: float
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        return self.weight_run / self.weight_total if self.weight_total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "score": round(self.score, 1),
            "uncapped_score": round(self.uncapped, 1),
            "cap": self.cap,
            "checks_run": self.checks_run,
            "coverage": round(self.coverage, 3),
            "deductions": [d.to_dict() for d in self.deductions],
            "skipped": self.skipped,
        }


def health_score(result: CheckupResult, *, weight_total: float | None = None) -> HealthScore:
    """Score the checks that ran in a check-up (see the module docstring for the formula)."""
    total_weight = sum(c.weight for c in result.ran)
    deductions: list[Deduction] = []
    earned = 0.0
    for check in result.ran:
        findings = result.findings_of(check)
        worst = max((f.severity for f in findings), key=lambda s: s.rank, default=None)
        state = STATE[worst]
        earned += check.weight * state
        if state < 1.0 and worst is not None:
            points = 10 * check.weight * (1 - state) / total_weight
            relevant = [f for f in findings if f.severity is not Severity.INFO]
            deductions.append(Deduction(check.name, check.weight, worst, len(relevant), points))
    uncapped = 10 * earned / total_weight if total_weight else 0.0
    worst_all = result.report.worst()
    cap = (
        CRITICAL_CAP
        if worst_all is Severity.CRITICAL
        else WARNING_CAP
        if worst_all is Severity.WARNING
        else None
    )
    score = min(uncapped, cap) if cap is not None else uncapped
    deductions.sort(key=lambda d: -d.points)
    return HealthScore(
        score,
        uncapped,
        cap,
        deductions,
        len(result.ran),
        total_weight,
        weight_total if weight_total is not None else sum(c.weight for c in CHECKS),
        [{"check": s.check, "reason": s.reason} for s in result.report.skipped],
    )
