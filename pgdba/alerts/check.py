"""`pgdba alerts check`: collect, evaluate every rule, keep state in the history store, notify on changes.

State and the ledger of sent notifications are history records (kind "alert_state"); each level change is
also an "alert_event" record. A notification is sent for a (rule, object) only when its level differs from
the level last delivered on that channel, so a repeated check never sends the same one twice, and one
that failed to arrive is retried by the next check. A file lock keeps two overlapping checks apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from pgdba.alerts import metrics
from pgdba.alerts.evaluate import OK, AlertState, AlertStatus, evaluate, state_key
from pgdba.alerts.notify import Channel, Notification, channels, send
from pgdba.alerts.rules import NotifyConfig, RuleSet
from pgdba.alerts.values import (
    FAMILY_OF_METRIC,
    Counters,
    MetricValue,
    Samples,
    SizeSnapshot,
    counters_payload,
    rule_values,
)
from pgdba.backup.server_identity import read_system_identifier
from pgdba.findings import SCHEMA_VERSION, Severity
from pgdba.history.snapshot import TABLES, size_history
from pgdba.history.store import HistoryStore
from pgdba.server import ServerFacts, load_server_facts
from pgdba.stats.partition_runway import partition_runways
from pgdba.target import Target, session

STATE_KIND = "alert_state"
EVENT_KIND = "alert_event"
COUNTERS_KIND = "alerts.counters"
TABLE_SIZES_KIND = "table_sizes"
ALERT_STATEMENT_TIMEOUT_MS = 10_000


@dataclass
class SentNotification:
    channel: str
    event: str
    rule: str
    object: str
    level: str
    delivered: bool
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class CheckResult:
    target: str
    checked_at: datetime
    statuses: list[AlertStatus]
    notifications: list[SentNotification] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def worst(self) -> Severity | None:
        levels = [s.status for s in self.statuses if s.status in ("warning", "critical")]
        return max((Severity(level) for level in levels), key=lambda s: s.rank, default=None)

    def fails(self, fail_on: Severity) -> bool:
        worst = self.worst()
        return worst is not None and worst.rank >= fail_on.rank

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "target": self.target,
            "checked_at": self.checked_at.isoformat(),
            "alerts": [s.to_dict() for s in self.statuses],
            "notifications": [n.to_dict() for n in self.notifications],
            "notes": self.notes,
        }


# ---- collection -------------------------------------------------------------------------------------------
def families_needed(rules: RuleSet) -> set[str]:
    return {FAMILY_OF_METRIC[r.metric] for r in rules.enabled}


def collect_samples(
    conn: psycopg.Connection,
    facts: ServerFacts,
    target: Target,
    store: HistoryStore | None,
    families: set[str],
    *,
    top_tables: int = 50,
    always_tables: tuple[str, ...] = (),
) -> Samples:
    """Run the sampling function of every family asked for; a family that fails records why, the rest go on."""
    samples = Samples(taken_at=datetime.now(UTC), database=facts.database)
    runs: dict[str, Callable[[], Any]] = {
        "databases": lambda: metrics.sample_databases(conn),
        "activity": lambda: metrics.sample_activity(conn),
        "statements": lambda: metrics.sample_statements(conn, facts),
        "tables": lambda: metrics.sample_tables(conn, top=top_tables, always=always_tables),
        "replication": lambda: metrics.sample_replication(conn),
        "disk": lambda: metrics.sample_disk(conn, target),
        "archiver": lambda: metrics.sample_archiver(conn),
        "partitions": lambda: partition_runways(conn),
    }
    for family, run in runs.items():
        if family not in families:
            continue
        try:
            setattr(samples, family, run())
        except psycopg.Error as exc:
            samples.errors[family] = f"not measurable: {str(exc).strip().splitlines()[0]}"
        except Exception as exc:  # NotAvailable (pg_stat_statements missing) and friends
            samples.errors[family] = f"not measurable: {exc}"
    if "backups" in families:
        if store is None:
            samples.errors["backups"] = "unknown: no history store"
        else:
            samples.backups = metrics.sample_backups(store, target.key, read_system_identifier(conn))
    return samples


def table_selection(rules: RuleSet) -> tuple[int, tuple[str, ...]]:
    """How many of the largest tables the table rules watch, and the tables they name (always watched)."""
    # (the table-scope rules that read the sampled tables; partition_runway reads its own)
    table_rules = [r for r in rules.enabled if r.scope == "table" and FAMILY_OF_METRIC[r.metric] == "tables"]
    top = int(max((float(r.param("top_tables")) for r in table_rules), default=50))
    return top, tuple(name for r in table_rules for name in r.tables)


def growth_window(rules: RuleSet) -> float:
    """The longest growth window of the rules, in seconds (1 h when no rule measures growth)."""
    windows = [r.param_seconds("window") for r in rules.enabled if r.metric == "table_growth_mb_per_hour"]
    return max(windows, default=3600.0)


def previous_counters(store: HistoryStore, target_key: str) -> Counters | None:
    snap = store.latest_snapshot(target_key, COUNTERS_KIND)
    if snap is None:
        return None
    return Counters(snap.taken_at, snap.payload.get("databases", {}), snap.payload.get("statements", {}))


def size_snapshots(
    store: HistoryStore,
    target_key: str,
    window_s: float,
    now: datetime,
    current_oids: Mapping[str, int] | None = None,
) -> list[SizeSnapshot]:
    """Table sizes from the checks' own table_sizes snapshots and from `pgdba snapshot`'s "tables" ones
    (those cut where a table was dropped and created again: `current_oids` are the tables' OIDs now)."""
    since = now - timedelta(seconds=2 * window_s + 3600)
    found = store.snapshots(target_key, TABLE_SIZES_KIND, since=since, limit=5000)
    own = [_size_snapshot(s.taken_at, s.payload) for s in found]
    recent = size_history(store, target_key, TABLES, limit=200, current_oids=current_oids)  # newest first
    taken = [SizeSnapshot(at, sizes) for at, sizes in recent if at >= since]
    return own + taken


def _size_snapshot(taken_at: datetime, payload: dict[str, Any]) -> SizeSnapshot:
    """A stored table_sizes payload: {"sizes": {name: bytes}, "oids": {name: oid}, "partitions_summed":
    true}, or, before pgdba summed partitioned tables' sizes, without that key, or, before it kept the OIDs,
    {name: bytes} (a table name always holds a dot, so "sizes" is never one)."""
    if isinstance(payload.get("sizes"), dict):
        sizes, oids = payload["sizes"], payload.get("oids") or {}
        return SizeSnapshot(
            taken_at,
            {k: int(v) for k, v in sizes.items()},
            {k: int(v) for k, v in oids.items()},
            partitions_summed=payload.get("partitions_summed") is True,
        )
    return SizeSnapshot(taken_at, {k: int(v) for k, v in payload.items()}, partitions_summed=False)


def store_samples(store: HistoryStore, target_key: str, samples: Samples) -> None:
    """What the next check needs: counters for rates, table sizes (with the tables' OIDs) for growth."""
    if samples.databases is not None or samples.statements is not None:
        store.save_snapshot(target_key, COUNTERS_KIND, counters_payload(samples), taken_at=samples.taken_at)
    if samples.tables is not None:
        snapshot = SizeSnapshot.of(samples)
        payload = {"sizes": snapshot.sizes, "oids": snapshot.oids, "partitions_summed": True}
        store.save_snapshot(target_key, TABLE_SIZES_KIND, payload, taken_at=samples.taken_at)


# ---- evaluation, state and notification -------------------------------------------------------------------
def load_state(
    store: HistoryStore, target_key: str
) -> tuple[dict[str, AlertState], dict[str, dict[str, str]]]:
    found = store.records(target_key, STATE_KIND, limit=1)
    if not found:
        return {}, {}
    payload = found[0][1]
    states = {k: AlertState.from_dict(v) for k, v in payload.get("states", {}).items()}
    return states, {ch: dict(v) for ch, v in payload.get("sent", {}).items()}


def evaluate_all(
    rules: RuleSet,
    samples: Samples,
    previous: Counters | None,
    sizes: list[SizeSnapshot],
    states: dict[str, AlertState],
) -> tuple[list[AlertStatus], dict[str, AlertState]]:
    statuses: list[AlertStatus] = []
    new_states: dict[str, AlertState] = {}
    for rule in rules.enabled:
        for value in rule_values(rule, samples, previous, sizes):
            key = state_key(rule.name, value.object)
            status, state = evaluate(rule, value, states.get(key), samples.taken_at)
            statuses.append(status)
            new_states[key] = state
        if getattr(samples, FAMILY_OF_METRIC[rule.metric]) is None:
            continue  # not measured this time: keep what this rule had fired
        for key, old in states.items():
            name, obj = key.split("|", 1)
            if name != rule.name or key in new_states:
                continue
            if old.level == OK:
                continue  # an object that is gone (a dropped table): forget it, after resolving if it fired
            gone = MetricValue(obj, -math.inf if rule.above else math.inf, "no longer present")
            status, state = evaluate(rule, gone, old, samples.taken_at)
            status.value = state.value = None
            statuses.append(status)
            new_states[key] = state
    for key, old in states.items():  # a rule that was not measured keeps its states
        if key not in new_states and key.split("|", 1)[0] in {r.name for r in rules.enabled}:
            new_states[key] = old
    return statuses, new_states


def deliver(
    chans: list[Channel],
    statuses: list[AlertStatus],
    states: dict[str, AlertState],
    sent: dict[str, dict[str, str]],
    target_key: str,
) -> list[SentNotification]:
    """Send what each channel has not been told yet; update the ledger only for what arrived."""
    by_key = {s.key: s for s in statuses}
    out: list[SentNotification] = []
    for channel in chans:
        ledger = sent.setdefault(channel.key, {})
        for key, state in sorted(states.items()):
            told = ledger.get(key, OK)
            if state.level == told:
                continue
            rule_name, obj = key.split("|", 1)
            status = by_key.get(key)
            note = Notification(
                event="resolved" if state.level == OK else "firing",
                rule=rule_name,
                object=obj,
                level=state.level,
                value=state.value,
                unit=status.rule.unit if status else "",
                threshold=status.threshold if status else None,
                target=target_key,
                at=state.since or datetime.now(UTC).isoformat(),
                summary=status.rule.summary if status else "",
                note=status.note if status else "",
            )
            try:
                send(channel, note)
            except OSError as exc:
                out.append(
                    SentNotification(channel.label, note.event, rule_name, obj, state.level, False, str(exc))
                )
                continue
            ledger[key] = state.level
            out.append(SentNotification(channel.label, note.event, rule_name, obj, state.level, True))
    return out


@contextlib.contextmanager
def check_lock(store: HistoryStore) -> Iterator[None]:
    """One alert check per history store at a time, so overlapping cron runs cannot notify twice."""
    path = Path(f"{store.path}.alerts-lock")
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_alerts(
    target: Target,
    store: HistoryStore,
    rules: RuleSet,
    *,
    notify: bool = False,
    notify_config: NotifyConfig | None = None,
) -> CheckResult:
    """Evaluate the rules against the live database and the history store; notify on changes when asked."""
    limited = replace(
        target,
        statement_timeout_ms=min(
            target.statement_timeout_ms or ALERT_STATEMENT_TIMEOUT_MS, ALERT_STATEMENT_TIMEOUT_MS
        ),
    )
    top, always = table_selection(rules)
    with check_lock(store):
        with session(limited) as conn:
            facts = load_server_facts(conn)
            samples = collect_samples(
                conn, facts, target, store, families_needed(rules), top_tables=top, always_tables=always
            )
        key = target.key
        previous = previous_counters(store, key)
        current_oids = {t.name: t.oid for t in samples.tables or []}
        sizes = size_snapshots(store, key, growth_window(rules), samples.taken_at, current_oids)
        states, sent = load_state(store, key)
        statuses, new_states = evaluate_all(rules, samples, previous, sizes, states)
        result = CheckResult(key, samples.taken_at, statuses)
        if notify:
            config = notify_config or rules.notify
            chans = channels(config)
            if not chans:
                result.notes.append(
                    "--notify given but no channel configured ([notify] in the rule file or --webhook)"
                )
            result.notifications = deliver(chans, statuses, new_states, sent, key)
        store_samples(store, key, samples)
        for status in statuses:
            if status.event:
                store.add_record(key, EVENT_KIND, status.to_dict(), recorded_at=samples.taken_at)
        payload = {"states": {k: v.to_dict() for k, v in new_states.items()}, "sent": sent}
        store.add_record(key, STATE_KIND, payload, recorded_at=samples.taken_at)
    result.statuses.sort(key=lambda s: (STATUS_ORDER.index(s.status), s.rule.name, s.object))
    return result


STATUS_ORDER = ("critical", "warning", "pending", "unknown", "ok")
