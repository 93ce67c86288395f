"""From samples (and the previous check's counters) to the value of each rule's metric per object.

Rates (slow queries, cache hits, deadlocks, rollbacks) are deltas against the counters the previous check
stored; without them they fall back to the counters since the last stats reset and say so. Growth needs two
table_sizes snapshots; with one it says so and gives no value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pgdba.alerts.metrics import (
    XID_WRAPAROUND_LIMIT,
    ActivitySample,
    BackupSample,
    DatabaseCounters,
    DatabaseSample,
    DiskSample,
    JobRecords,
    ReplicationSample,
    StatementCounter,
    TableSample,
)
from pgdba.alerts.rules import Rule
from pgdba.stats.archiver import ArchiverStatus
from pgdba.stats.partition_runway import PartitionRunway
from pgdba.stats.statements import UNREADABLE_PREFIX

GB = 1024**3
MB = 1024**2
LOCKED_NOTE = "size not measurable: another session holds an ACCESS EXCLUSIVE lock on the table"
RECREATED_NOTE = "dropped and created again since the baseline snapshot: a new table, no growth yet"
UNSUMMED_NOTE = (
    "partitioned table: the baseline snapshot predates pgdba summing its partitions' sizes, no growth yet"
)


@dataclass(frozen=True)
class MetricValue:
    """The value of one rule's metric for one object; None with a note when it cannot be known."""

    object: str
    value: float | None
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Samples:
    """What one collection round saw; a family is None when it was not collected, with the reason in errors."""

    taken_at: datetime
    database: str
    databases: DatabaseSample | None = None
    activity: ActivitySample | None = None
    statements: list[StatementCounter] | None = None
    tables: list[TableSample] | None = None
    replication: ReplicationSample | None = None
    disk: DiskSample | None = None
    backups: BackupSample | None = None
    archiver: ArchiverStatus | None = None
    partitions: list[PartitionRunway] | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def current_database(self) -> DatabaseCounters | None:
        return self.databases.current if self.databases is not None else None


@dataclass(frozen=True)
class Counters:
    """Cumulative counters a previous check stored, for rates."""

    taken_at: datetime
    databases: dict[str, dict[str, int]]
    statements: dict[str, list[float]]  # key → [calls, total_ms]


@dataclass(frozen=True)
class SizeSnapshot:
    taken_at: datetime
    sizes: dict[str, int]
    # table name → OID when the snapshot was taken: a table dropped and created again under its name since
    # then is another table, whose growth the old size would fake (empty for older snapshots: not known)
    oids: dict[str, int] = field(default_factory=dict)
    # False for a table_sizes snapshot of an older pgdba: a partitioned table's size there was 0, not its
    # partitions' summed, and growth from it would be its whole size
    partitions_summed: bool = True

    @classmethod
    def of(cls, samples: Samples) -> SizeSnapshot:
        """This round's measured sizes with the tables' OIDs."""
        oids = {t.name: t.oid for t in samples.tables or [] if t.oid}
        return cls(samples.taken_at, measured_sizes(samples), oids)


def measured_sizes(samples: Samples) -> dict[str, int]:
    """Table name → total bytes of the tables whose size was measured: a locked table's size is only
    pg_class's estimate, which would fake growth, so it is left out of this round."""
    return {t.name: t.total_bytes for t in samples.tables or [] if not t.locked}


def counters_payload(samples: Samples) -> dict[str, Any]:
    """What a check stores so that the next one can compute rates."""
    return {
        "databases": {
            d.datname: {
                "blks_hit": d.blks_hit,
                "blks_read": d.blks_read,
                "xact_commit": d.xact_commit,
                "xact_rollback": d.xact_rollback,
                "deadlocks": d.deadlocks,
            }
            for d in ([samples.databases.current] if samples.databases else [])
        },
        "statements": {s.key: [s.calls, s.total_ms] for s in samples.statements or []},
    }


FAMILY_OF_METRIC = {
    "database_size_gb": "databases",
    "cache_hit_ratio_percent": "databases",
    "deadlocks_per_minute": "databases",
    "rollback_ratio_percent": "databases",
    "xid_age_percent": "databases",
    "connection_usage_percent": "activity",
    "longest_transaction_seconds": "activity",
    "idle_in_transaction_seconds": "activity",
    "blocked_sessions": "activity",
    "slow_query_mean_ms": "statements",
    "table_growth_mb_per_hour": "tables",
    "dead_tuple_ratio_percent": "tables",
    "replication_lag_seconds": "replication",
    "inactive_replication_slots": "replication",
    "disk_usage_percent": "disk",
    "backup_age_hours": "backups",
    "restore_test_age_days": "backups",
    "restore_test_failed": "backups",
    "wal_archive_failing_hours": "archiver",
    "partition_runway_days": "partitions",
}


def rule_values(
    rule: Rule,
    samples: Samples,
    previous: Counters | None,
    size_snapshots: list[SizeSnapshot],
) -> list[MetricValue]:
    """The rule's metric for each object in scope."""
    family = FAMILY_OF_METRIC[rule.metric]
    if getattr(samples, family) is None:
        reason = samples.errors.get(family, "not collected")
        return [MetricValue(_scope_object(rule, samples), None, reason)]
    compute = _COMPUTE[rule.metric]
    return compute(rule, samples, previous, size_snapshots)


def _scope_object(rule: Rule, samples: Samples) -> str:
    return "server" if rule.scope == "server" else samples.database


# ---- database family -------------------------------------------------------------------------------------
def _database_size(rule: Rule, s: Samples, *_: Any) -> list[MetricValue]:
    db = s.current_database()
    if db is None:
        return [MetricValue(s.database, None, "database not visible")]
    return [MetricValue(s.database, db.size_bytes / GB, detail={"size_bytes": db.size_bytes})]


def _delta(s: Samples, previous: Counters | None, *names: str) -> tuple[dict[str, int], float | None, str]:
    """Counter deltas of the current database since the previous check (or since the stats reset)."""
    db = s.current_database()
    assert db is not None
    now = {n: int(getattr(db, n)) for n in names}
    before = previous.databases.get(s.database) if previous else None
    if previous is None or before is None:
        return now, None, "since the statistics reset (no previous check stored)"
    if any(now[n] < int(before.get(n, 0)) for n in names):
        return now, None, "counters were reset since the previous check"
    seconds = (s.taken_at - previous.taken_at).total_seconds()
    return {n: now[n] - int(before.get(n, 0)) for n in names}, max(seconds, 0.001), ""


def _cache_hit(rule: Rule, s: Samples, previous: Counters | None, *_: Any) -> list[MetricValue]:
    if s.current_database() is None:
        return [MetricValue(s.database, None, "database not visible")]
    delta, _seconds, note = _delta(s, previous, "blks_hit", "blks_read")
    touched = delta["blks_hit"] + delta["blks_read"]
    min_blocks = float(rule.param("min_blocks"))
    if touched < max(min_blocks, 1):
        return [
            MetricValue(
                s.database, None, f"only {touched} blocks read or hit (min_blocks {min_blocks:g})", delta
            )
        ]
    return [MetricValue(s.database, 100.0 * delta["blks_hit"] / touched, note, delta)]


def _deadlocks(rule: Rule, s: Samples, previous: Counters | None, *_: Any) -> list[MetricValue]:
    if s.current_database() is None:
        return [MetricValue(s.database, None, "database not visible")]
    delta, seconds, note = _delta(s, previous, "deadlocks")
    if seconds is None:
        return [MetricValue(s.database, None, f"needs a previous check for a rate ({note})", delta)]
    return [MetricValue(s.database, delta["deadlocks"] * 60.0 / seconds, "", {**delta, "seconds": seconds})]


def _rollback_ratio(rule: Rule, s: Samples, previous: Counters | None, *_: Any) -> list[MetricValue]:
    if s.current_database() is None:
        return [MetricValue(s.database, None, "database not visible")]
    delta, _seconds, note = _delta(s, previous, "xact_commit", "xact_rollback")
    total = delta["xact_commit"] + delta["xact_rollback"]
    minimum = float(rule.param("min_transactions"))
    if total < max(minimum, 1):
        return [
            MetricValue(s.database, None, f"only {total} transactions (min_transactions {minimum:g})", delta)
        ]
    return [MetricValue(s.database, 100.0 * delta["xact_rollback"] / total, note, delta)]


def _xid_age(rule: Rule, s: Samples, *_: Any) -> list[MetricValue]:
    ages = s.databases.xid_ages if s.databases else {}
    if not ages:
        return [MetricValue("server", None, "no database visible")]
    oldest = max(ages, key=lambda name: ages[name])
    value = 100.0 * ages[oldest] / XID_WRAPAROUND_LIMIT
    return [MetricValue("server", value, f"oldest: {oldest}", {"xid_age": ages[oldest]})]


# ---- activity family --------------------------------------------------------------------------------------
def _connections(rule: Rule, s: Samples, *_: Any) -> list[MetricValue]:
    a = s.activity
    assert a is not None
    value = 100.0 * a.connections / a.usable_connections
    detail = {
        "clients": a.connections,
        "usable": a.usable_connections,
        "max_connections": a.max_connections,
    }
    return [MetricValue("server", value, f"{a.connections} of {a.usable_connections} usable", detail)]


def _longest_tx(rule: Rule, s: Samples, *_: Any) -> list[MetricValue]:
    assert s.activity is not None
    return [MetricValue("server", s.activity.longest_transaction_s)]


def _idle_in_tx(rule: Rule, s: Samples, *_: Any) -> list[MetricValue]:
    assert s.activity is not None
    return [MetricValue("server", s.activity.idle_in_transaction_s)]


def _blocked(rule: Rule, s: Samples, *_: Any) -> list[MetricValue]:
    assert s.activity is not None
    return [MetricValue("server", float(s.activity.blocked_sessions))]


# ---- statements -------------------------------------------------------------------------------------------
UNREADABLE_NOTE = (
    "unknown: pg_stat_statements' texts are unreadable here, so the application's statements cannot be told "
    "apart (`pgdba check` says why and how to clear it)"
)


def _slow_queries(rule: Rule, s: Samples, previous: Counters | None, *_: Any) -> list[MetricValue]:
    min_calls = float(rule.param("min_calls"))
    before = previous.statements if previous else None
    if any(st.query.startswith(UNREADABLE_PREFIX) for st in s.statements or []):
        # without texts no statement can be told to be the application's: unknown, never a quiet 0
        return [MetricValue(s.database, None, UNREADABLE_NOTE)]
    worst: tuple[float, StatementCounter, int] | None = None
    for st in s.statements or []:
        if not st.application:
            continue
        calls, total = st.calls, st.total_ms
        if before is not None and st.key in before:
            prev_calls, prev_total = before[st.key]
            if calls >= prev_calls and total >= prev_total:
                calls, total = calls - int(prev_calls), total - prev_total
        if calls < max(min_calls, 1):
            continue
        mean = total / calls
        if worst is None or mean > worst[0]:
            worst = (mean, st, calls)
    note = "" if before is not None else "means since the pg_stat_statements reset (no previous check stored)"
    if worst is None:
        return [MetricValue(s.database, 0.0, note or "no application statement ran since the previous check")]
    mean, st, calls = worst
    # the queryid as a string, as in every pgdba JSON: a 64-bit number loses digits in JavaScript
    detail = {"queryid": str(st.queryid), "calls": calls, "query": st.query}
    return [MetricValue(s.database, mean, note, detail)]


# ---- tables -----------------------------------------------------------------------------------------------
def pick_baseline(snapshots: list[SizeSnapshot], now: datetime, window_s: float) -> SizeSnapshot | None:
    """The newest snapshot at least `window` old; failing that, the oldest one (a shorter span)."""
    older = [
        snap
        for snap in snapshots
        if (now - snap.taken_at).total_seconds() >= window_s and snap.taken_at < now
    ]
    if older:
        return max(older, key=lambda snap: snap.taken_at)
    earlier = [snap for snap in snapshots if snap.taken_at < now]
    return min(earlier, key=lambda snap: snap.taken_at) if earlier else None


def growth_mb_per_hour(before: int, after: int, seconds: float) -> float:
    return (after - before) / MB / (seconds / 3600.0)


def _growth(
    rule: Rule, s: Samples, previous: Counters | None, snapshots: list[SizeSnapshot]
) -> list[MetricValue]:
    baseline = pick_baseline(snapshots, s.taken_at, rule.param_seconds("window"))
    out = []
    for t in s.tables or []:
        if not rule.thresholds_for(t.name).enabled:
            continue
        if t.locked:
            out.append(MetricValue(t.name, None, LOCKED_NOTE))
            continue
        if baseline is None:
            out.append(MetricValue(t.name, None, "growth needs two table_sizes snapshots; this is the first"))
            continue
        if t.name not in baseline.sizes:
            out.append(MetricValue(t.name, None, "not in the previous table_sizes snapshot"))
            continue
        if baseline.oids.get(t.name, 0) not in (0, t.oid):
            out.append(MetricValue(t.name, None, RECREATED_NOTE))
            continue
        if t.partitioned and not baseline.partitions_summed:
            out.append(MetricValue(t.name, None, UNSUMMED_NOTE))
            continue
        seconds = (s.taken_at - baseline.taken_at).total_seconds()
        value = growth_mb_per_hour(baseline.sizes[t.name], t.total_bytes, seconds)
        detail = {
            "bytes_before": baseline.sizes[t.name],
            "bytes_now": t.total_bytes,
            "seconds": round(seconds, 3),
        }
        out.append(MetricValue(t.name, value, f"over {seconds:,.0f} s", detail))
    return out


def _dead_tuples(rule: Rule, s: Samples, *_: Any) -> list[MetricValue]:
    min_dead = float(rule.param("min_dead_rows"))
    min_bytes = float(rule.param("min_table_mb")) * MB
    out = []
    for t in s.tables or []:
        if not rule.thresholds_for(t.name).enabled:
            continue
        total = t.live_rows + t.dead_rows
        ratio = 100.0 * t.dead_rows / total if total else 0.0
        large = t.total_bytes > min_bytes and t.dead_rows > min_dead  # "over", as the exported rule
        # small tables count as 0 (Netdata's bloat alerts gate the same way), so every table has a value
        out.append(
            MetricValue(
                t.name,
                ratio if large else 0.0,
                "" if large else "below the size gate",
                {"dead_rows": t.dead_rows, "live_rows": t.live_rows, "ratio": round(ratio, 2)},
            )
        )
    return out


# ---- replication, disk, backups ---------------------------------------------------------------------------
def _replication_lag(rule: Rule, s: Samples, *_: Any) -> list[MetricValue]:
    r = s.replication
    assert r is not None
    if r.lag_seconds is None:
        return [
            MetricValue("server", 0.0, "no standby connected" if not r.is_replica else "nothing replayed yet")
        ]
    return [MetricValue("server", r.lag_seconds, "standby" if r.is_replica else "primary")]


def _inactive_slots(rule: Rule, s: Samples, *_: Any) -> list[MetricValue]:
    r = s.replication
    assert r is not None
    inactive = sorted(name for name, active in r.slots.items() if not active)
    return [MetricValue("server", float(len(inactive)), ", ".join(inactive), {"inactive": inactive})]


def _disk(rule: Rule, s: Samples, *_: Any) -> list[MetricValue]:
    d = s.disk
    assert d is not None
    if d.usage_percent is None:
        return [MetricValue("server", None, d.reason)]
    detail = {
        "path": d.path,
        "used_bytes": d.used_bytes,
        "avail_bytes": d.avail_bytes,
        "filesystems_checked": list(d.checked),
    }
    return [MetricValue("server", d.usage_percent, d.path, detail)]


def _age(jobs: JobRecords, now: datetime, unit_s: float, what: str) -> MetricValue:
    """Time since the last success; when attempts were recorded but none ever succeeded, since the first of
    them (a job failing every night since it was set up is as overdue as one that stopped succeeding)."""
    detail: dict[str, Any] = {
        "last_success": jobs.last_success.isoformat() if jobs.last_success else None,
        "failed_since_success": jobs.failed_since_success,
        "last_attempt": jobs.last_attempt.isoformat() if jobs.last_attempt else None,
        "last_failed": jobs.last_failed,
    }
    if not jobs.attempted:
        return MetricValue("server", None, f"unknown: no {what} recorded in the history store", detail)
    failures = _failures(jobs.failed_since_success, what)
    if jobs.last_success is None:
        assert jobs.failing_since is not None
        value = (now - jobs.failing_since).total_seconds() / unit_s
        note = f"no successful {what} recorded: {failures} since {jobs.failing_since:%Y-%m-%d %H:%M} UTC"
        return MetricValue("server", value, note, detail)
    note = f"last at {jobs.last_success:%Y-%m-%d %H:%M} UTC"
    if jobs.failed_since_success:
        note += f"; {failures} since"
    return MetricValue("server", (now - jobs.last_success).total_seconds() / unit_s, note, detail)


def _failures(count: int, what: str) -> str:
    return f"1 failed {what}" if count == 1 else f"{count} failed {what}s"


def _backup_age(rule: Rule, s: Samples, *_: Any) -> list[MetricValue]:
    assert s.backups is not None
    return [_age(s.backups.backups, s.taken_at, 3600.0, "backup")]


def _restore_test_age(rule: Rule, s: Samples, *_: Any) -> list[MetricValue]:
    """Days since the last passing restore test; when none was ever recorded but backups were, since the
    first of those backups (they have never been restored: the check-up's backup.restore_test is critical)."""
    assert s.backups is not None
    untested_since = s.backups.untested_since
    if untested_since is not None:
        note = f"no restore test recorded; the backups since {untested_since:%Y-%m-%d %H:%M} UTC were never tested"
        detail = {"last_success": None, "untested_since": untested_since.isoformat()}
        value = (s.taken_at - untested_since).total_seconds() / 86400.0
        return [MetricValue("server", value, note, detail)]
    return [_age(s.backups.restore_tests, s.taken_at, 86400.0, "restore test")]


def _restore_test_failed(rule: Rule, s: Samples, *_: Any) -> list[MetricValue]:
    """1 when the newest recorded restore test failed, 0 when it passed."""
    assert s.backups is not None
    tests = s.backups.restore_tests
    if tests.last_attempt is None:
        return [MetricValue("server", None, "unknown: no restore test recorded in the history store")]
    detail = {
        "last_attempt": tests.last_attempt.isoformat(),
        "failed_since_success": tests.failed_since_success,
    }
    at = f"{tests.last_attempt:%Y-%m-%d %H:%M} UTC"
    if not tests.last_failed:
        return [MetricValue("server", 0.0, f"the newest, at {at}, passed", detail)]
    passed = (
        f"last passed {tests.last_success:%Y-%m-%d %H:%M} UTC" if tests.last_success else "none ever passed"
    )
    note = f"the newest, at {at}, failed ({_failures(tests.failed_since_success, 'restore test')}; {passed})"
    return [MetricValue("server", 1.0, note, detail)]


def _wal_archive_failing(rule: Rule, s: Samples, *_: Any) -> list[MetricValue]:
    """Hours without a successful archive while the archiver's newest attempt failed; 0 while it works."""
    a = s.archiver
    assert a is not None
    lasting = a.time_without_success(s.taken_at)
    if lasting is None:
        note = "archive_mode is off" if a.archive_mode == "off" else "the newest attempt succeeded"
        return [MetricValue("server", 0.0, note)]
    failed = a.last_failed_time.astimezone(UTC) if a.last_failed_time else None  # (in the server's TimeZone)
    failed_at = f"{failed:%Y-%m-%d %H:%M} UTC" if failed else "?"
    detail = {"last_failed_wal": a.last_failed_wal, "failed_count": a.failed_count}
    return [
        MetricValue(
            "server", lasting.total_seconds() / 3600.0, f"{a.last_failed_wal} failed at {failed_at}", detail
        )
    ]


def _partition_runway(rule: Rule, s: Samples, *_: Any) -> list[MetricValue]:
    """Days until the last partition of each table range-partitioned by a time column ends (0 for one with
    no partition at all), as the check-up's capacity.partition_runway reads them. Not a table a DEFAULT or
    MAXVALUE partition covers; none (unknown, said why) for one whose last partition took no INSERT since the
    statistics reset (an archive nobody writes)."""
    out = []
    for r in s.partitions or []:
        if r.takes_every_row or not rule.thresholds_for(r.qualified_name).enabled:
            continue
        if r.covered_until is None:
            out.append(
                MetricValue(r.qualified_name, 0.0, "no partition: every INSERT fails", {"partitions": 0})
            )
            continue
        if r.archive:  # charted, never alarmed
            out.append(
                MetricValue(
                    r.qualified_name,
                    None,
                    "not watched: no INSERT into its last partition since the statistics reset",
                    {"last_partition": f"{r.last_schema}.{r.last_name}"},
                )
            )
            continue
        until = r.covered_until.astimezone(UTC)
        days = (r.covered_until - s.taken_at).total_seconds() / 86400.0
        detail = {
            "last_partition": f"{r.last_schema}.{r.last_name}",
            "covered_until": until.isoformat(),
            "partitions": r.partitions,
        }
        note = f"{r.last_schema}.{r.last_name} ends at {until:%Y-%m-%d %H:%M} UTC"
        out.append(MetricValue(r.qualified_name, days, note, detail))
    return out


_COMPUTE = {
    "database_size_gb": _database_size,
    "cache_hit_ratio_percent": _cache_hit,
    "deadlocks_per_minute": _deadlocks,
    "rollback_ratio_percent": _rollback_ratio,
    "xid_age_percent": _xid_age,
    "connection_usage_percent": _connections,
    "longest_transaction_seconds": _longest_tx,
    "idle_in_transaction_seconds": _idle_in_tx,
    "blocked_sessions": _blocked,
    "slow_query_mean_ms": _slow_queries,
    "table_growth_mb_per_hour": _growth,
    "dead_tuple_ratio_percent": _dead_tuples,
    "replication_lag_seconds": _replication_lag,
    "inactive_replication_slots": _inactive_slots,
    "disk_usage_percent": _disk,
    "backup_age_hours": _backup_age,
    "restore_test_age_days": _restore_test_age,
    "restore_test_failed": _restore_test_failed,
    "wal_archive_failing_hours": _wal_archive_failing,
    "partition_runway_days": _partition_runway,
}
