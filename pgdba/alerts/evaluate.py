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
    """What a rule has fired for one object, and since when each level's condition has held.

    warning_since / critical_since: when the value last got past that level's threshold and stayed there
    (None while it is not). A level fires once its own condition has held for the rule's `for`, as the
    exported Prometheus rules do with one alert per severity. `pending` / `pending_since` name the highest
    level whose condition holds but has not held long enough yet (what the dashboard shows)."""

    level: str = OK
    since: str | None = None
    pending: str | None = None
    pending_since: str | None = None
    value: float | None = None
    # why the last check could not measure it (the level is then the one kept from before), else None
    unknown: str | None = None
    warning_since: str | None = None
    critical_since: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "since": self.since,
            "pending": self.pending,
            "pending_since": self.pending_since,
            "value": self.value,
            "unknown": self.unknown,
            "warning_since": self.warning_since,
            "critical_since": self.critical_since,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertState:
        state = cls(
            level=data.get("level", OK),
            since=data.get("since"),
            pending=data.get("pending"),
            pending_since=data.get("pending_since"),
            value=data.get("value"),
            unknown=data.get("unknown"),
            warning_since=data.get("warning_since"),
            critical_since=data.get("critical_since"),
        )
        if "warning_since" not in data and "critical_since" not in data:
            state._held_from_older_state()
        return state

    def _held_from_older_state(self) -> None:
        """A state an earlier pgdba stored kept one timer (pending_since) for whichever level was pending:
        the fired level and the levels below it have held at least since it fired, the pending one (and
        those below it) since pending_since."""
        for level, since in ((self.level, self.since), (self.pending, self.pending_since)):
            if level not in (WARNING, CRITICAL) or since is None:
                continue
            for held in (WARNING, CRITICAL)[: RANK[level]]:
                if self.held_since(held) is None:
                    setattr(self, f"{held}_since", since)

    def held_since(self, level: str) -> str | None:
        return {WARNING: self.warning_since, CRITICAL: self.critical_since}.get(level)


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


def holds(value: float, t: Thresholds, op: str, level: str, fired: str) -> bool:
    """The value is past `level`'s threshold. A fired level (or one above it) holds until the value is
    back past threshold ∓ hysteresis."""
    threshold = t.crit if level == CRITICAL else t.warn
    if threshold is None:
        return False
    if RANK[fired] >= RANK[level]:
        threshold = threshold - t.hysteresis if op in (">", ">=") else threshold + t.hysteresis
    return _past(value, threshold, op)


def evaluate(
    rule: Rule, value: MetricValue, previous: AlertState | None, now: datetime
) -> tuple[AlertStatus, AlertState]:
    """One rule on one object: the status to print and the state to keep.

    Each level's condition keeps its own start time: a level fires once its condition has held for `for`
    (at once when `for` is 0), stays fired while it holds and drops as soon as it no longer does. A value
    that rises from warning to critical waits out `for` from the moment it got past crit; one that falls
    from critical to warning is a warning for as long as it has been past warn."""
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
    state.value = value.value
    fired = OK
    state.pending = state.pending_since = None
    for level in (WARNING, CRITICAL):
        attribute = f"{level}_since"
        if not holds(value.value, t, rule.op, level, before):
            setattr(state, attribute, None)
            continue
        started = state.held_since(level) or now.isoformat()
        setattr(state, attribute, started)
        held_s = (now - datetime.fromisoformat(started)).total_seconds()
        # a level already fired stays while its condition holds (also when `for` was raised since)
        if RANK[before] >= RANK[level] or t.for_seconds <= 0 or held_s >= t.for_seconds:
            fired = level
        else:
            state.pending, state.pending_since = level, started
    if fired != before:
        state.level, state.since = fired, now.isoformat()
    event: str | None = None
    if state.level != before:
        event = "resolved" if state.level == OK else "firing"
    status_name = state.level if state.level != OK or state.pending is None else "pending"
    shown = state.pending if status_name == "pending" else state.level
    threshold = {CRITICAL: t.crit, WARNING: t.warn}.get(shown or OK, t.warn)
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
