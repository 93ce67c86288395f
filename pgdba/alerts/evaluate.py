"""Rule evaluation: thresholds with hysteresis, the `for` duration, and the state carried between checks.

Pure functions over values and the previous state: no database, no network. A state is per (rule, object);
its `level` is what has fired (ok / warning / critical). A level change is an event: "firing" when the new
level is warning or critical, "resolved" when it is ok. Unknown values change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pgdba.alerts.rules import Rule, Thresholds
from pgdba.alerts.values import MetricValue

OK, WARNING, CRITICAL = "ok", "warning", "critical"
RANK = {OK: 0, WARNING: 1, CRITICAL: 2}


@dataclass
class AlertState:
    """What a rule has fired for one object, and a level waiting out its `for` duration."""

    level: str = OK
    since: str | None = None
    pending: str | None = None
    pending_since: str | None = None
    value: float | None = None
    # why the last check could not measure it (the level is then the one kept from before), else None
    unknown: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "since": self.since,
            "pending": self.pending,
            "pending_since": self.pending_since,
            "value": self.value,
            "unknown": self.unknown,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertState:
        return cls(
            level=data.get("level", OK),
            since=data.get("since"),
            pending=data.get("pending"),
            pending_since=data.get("pending_since"),
            value=data.get("value"),
            unknown=data.get("unknown"),
        )


@dataclass
class AlertStatus:
    """The outcome of one rule for one object in this check."""

    rule: Rule
    object: str
    value: float | None
    status: str  # ok, pending, warning, critical, unknown
    level: str  # the fired level (unknown values keep the previous one)
    threshold: float | None
    note: str = ""
    event: str | None = None  # firing / resolved when the level changed in this check
    previous_level: str = OK
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return state_key(self.rule.name, self.object)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.name,
            "metric": self.rule.metric,
            "object": self.object,
            "value": self.value,
            "unit": self.rule.unit,
            "status": self.status,
            "level": self.level,
            "threshold": self.threshold,
            "op": self.rule.op,
            "warn": self.rule.thresholds_for(self.object).warn,
            "crit": self.rule.thresholds_for(self.object).crit,
            "event": self.event,
            "note": self.note,
            "detail": self.detail,
            "summary": self.rule.summary,
        }


def state_key(rule: str, obj: str) -> str:
    return f"{rule}|{obj}"


def _past(value: float, threshold: float, op: str) -> bool:
    return {
        ">": value > threshold,
        ">=": value >= threshold,
        "<": value < threshold,
        "<=": value <= threshold,
    }[op]


def raw_level(value: float, t: Thresholds, op: str, fired: str) -> str:
    """The level the value reaches. A fired level holds until the value is back past threshold ∓ hysteresis."""
    above = op in (">", ">=")
    for level, threshold in ((CRITICAL, t.crit), (WARNING, t.warn)):
        if threshold is None:
            continue
        if RANK[fired] >= RANK[level]:
            threshold = threshold - t.hysteresis if above else threshold + t.hysteresis
        if _past(value, threshold, op):
            return level
    return OK


def evaluate(
    rule: Rule, value: MetricValue, previous: AlertState | None, now: datetime
) -> tuple[AlertStatus, AlertState]:
    """One rule on one object: the status to print and the state to keep."""
    state = AlertState(**(previous.to_dict() if previous else {}))
    t = rule.thresholds_for(value.object)
    before = state.level
    if value.value is None:
        # the level stays (a read failure resolves nothing), but the state says it was not measured
        state.unknown = value.note or "not measured"
        status = AlertStatus(
            rule, value.object, None, "unknown", state.level, None, value.note, None, before, value.detail
        )
        return status, state
    state.unknown = None
    raw = raw_level(value.value, t, rule.op, state.level)
    state.value = value.value
    event: str | None = None
    status_name = raw
    if raw == state.level:
        state.pending = state.pending_since = None
    elif RANK[raw] < RANK[state.level] or t.for_seconds <= 0:
        state.pending = state.pending_since = None
        state.level, state.since = raw, now.isoformat()
    else:  # a rise that must hold for `for` before it fires
        if state.pending is None or RANK[raw] < RANK[state.pending]:
            state.pending, state.pending_since = raw, now.isoformat()
        if (
            state.pending_since
            and (now - datetime.fromisoformat(state.pending_since)).total_seconds() >= t.for_seconds
        ):
            state.level, state.since = raw, now.isoformat()
            state.pending = state.pending_since = None
        else:
            status_name = "pending"
    if state.level != before:
        event = "resolved" if state.level == OK else "firing"
    threshold = {CRITICAL: t.crit, WARNING: t.warn}.get(raw, t.warn)
    status = AlertStatus(
        rule,
        value.object,
        value.value,
        status_name,
        state.level,
        threshold,
        value.note,
        event,
        before,
        value.detail,
    )
    return status, state
