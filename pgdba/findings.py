"""The one shape every check returns: Finding, Severity and Report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 1


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "critical": 2}[self.value]

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.lower())
        except ValueError:
            raise ValueError(f"unknown severity {text!r}: use info, warning or critical") from None


@dataclass
class Finding:
    """One thing a check found: stable code, how bad, on what, the numbers behind it, and the fix."""

    code: str
    severity: Severity
    title: str
    object: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    recommendation: str = ""
    sql: str | None = None

    @property
    def area(self) -> str:
        return self.code.split(".", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data


@dataclass
class SkippedCheck:
    """A check that could not run here, and why (missing extension, no privilege, …)."""

    check: str
    reason: str


@dataclass
class Report:
    """Findings of one run, with what could not be checked."""

    findings: list[Finding] = field(default_factory=list)
    skipped: list[SkippedCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def extend(self, other: Report) -> None:
        self.findings.extend(other.findings)
        self.skipped.extend(other.skipped)
        self.notes.extend(other.notes)

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), key=lambda s: s.rank, default=None)

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: (-f.severity.rank, f.area, f.code, f.object))

    def fails(self, fail_on: Severity) -> bool:
        worst = self.worst()
        return worst is not None and worst.rank >= fail_on.rank

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "generated_at": self.generated_at.isoformat(),
            "findings": [f.to_dict() for f in self.sorted_findings()],
            "skipped": [asdict(s) for s in self.skipped],
            "notes": list(self.notes),
        }
