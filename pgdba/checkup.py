"""The check-up: collect once (one read-only session), run every check that can run, say which could not.

collect → check → score. Each check is registered with its area, its weight in the health score and the
data it needs; when a collector fails (view not readable, extension missing, lock_timeout) every check that
needs its data is listed as skipped with the reason, never silently dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from pgdba.advisor.partitioned_build import partition_indexes
from pgdba.alerts.metrics import succeeded
from pgdba.backup.manifest import BACKUP_KIND
from pgdba.backup.server_identity import read_system_identifier, records_of_server
from pgdba.checks import backups, capacity, index_health, partition_runway, queries, safety, settings, tables
from pgdba.checks.indexes import UNUSED_ON_REPLICA, IndexAges, StatsAge, server_stats_age
from pgdba.errors import InputError, NotAvailable
from pgdba.findings import Finding, Report, Severity, SkippedCheck
from pgdba.history.deltas import statements_since
from pgdba.history.snapshot import index_ages, previous_statement_snapshot, size_history, table_oids
from pgdba.history.store import HistoryStore
from pgdba.server import TESTED_MAJORS, ServerFacts, load_server_facts
from pgdba.stats.activity import connection_usage, session_activity
from pgdba.stats.archiver import wal_archiver_status
from pgdba.stats.bloat import index_bloat, table_bloat
from pgdba.stats.database import database_stats, wraparound_ages
from pgdba.stats.foreign_keys import foreign_keys
from pgdba.stats.functions import user_functions
from pgdba.stats.indexes import index_stats
from pgdba.stats.partition_runway import partition_runways
from pgdba.stats.partitions import partition_trees
from pgdba.stats.replication import replication_slots, standby_lag
from pgdba.stats.sequences import sequence_stats
from pgdba.stats.settings import server_settings
from pgdba.stats.statements import HiddenStatements, hidden_statements, statement_stats, unreadable_reason
from pgdba.stats.tables import measured_sizes, table_stats
from pgdba.target import Target, session

Data = dict[str, Any]
Records = list[tuple[datetime, Any]]
CheckFunction = Callable[[Data, dict[str, Any]], list[Finding]]


class Skip(Exception):
    """A check cannot judge with the data it has (the message says why)."""


# A standby's pg_stat_user_tables counts only what ran on it: no write, VACUUM or ANALYZE (they happen on the
# primary and reach it as WAL, uncounted). (Its index scans: UNUSED_ON_REPLICA.)
REPLICA_COUNTERS = (
    "a replica (in recovery): its tables' dead-row, change, VACUUM and ANALYZE counters show only its own "
    "activity, not the primary's (where the writes, VACUUM and ANALYZE run); judge this on the primary"
)


@dataclass(frozen=True)
class Check:
    name: str
    weight: float
    needs: tuple[str, ...]
    run: CheckFunction

    @property
    def area(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass
class CheckupResult:
    """Findings of every check that ran, the checks that could not run, and which ran."""

    report: Report
    ran: list[Check]
    facts: ServerFacts | None
    data: Data = field(default_factory=dict, repr=False)

    def findings_of(self, check: Check) -> list[Finding]:
        return [f for f in self.report.findings if f.code == check.name or _owner(f.code) == check.name]


def _owner(code: str) -> str:
    """The check a finding code belongs to (the few checks that emit more than one code)."""
    return {
        "safety.multixact_wraparound": "safety.wraparound",
        "index.redundant": "index.duplicate",
        backups.NONE_KNOWN: "backup.restore_test",
        backups.WAL_ARCHIVED_ELSEWHERE: "backup.restore_test",
    }.get(code, "settings" if code.startswith("settings.") else code)


# ---- collection ------------------------------------------------------------------------------------
def _collectors(conn: psycopg.Connection, facts: ServerFacts) -> dict[str, Callable[[], Any]]:
    return {
        "settings": lambda: server_settings(conn),
        "statements": lambda: statement_stats(conn, facts),
        "functions": lambda: user_functions(conn),  # a call to one reads no table, yet may be the slow part
        "hidden_statements": lambda: hidden_statements(conn, facts),  # other roles' (no pg_read_all_stats)
        "tables": lambda: table_stats(conn),
        "indexes": lambda: index_stats(conn),
        "foreign_keys": lambda: foreign_keys(conn),
        "partitions": lambda: partition_trees(conn),
        "partition_indexes": lambda: partition_indexes(conn),
        "partition_runways": lambda: partition_runways(conn),
        "table_bloat": lambda: table_bloat(conn),
        "index_bloat": lambda: index_bloat(conn),
        "database": lambda: database_stats(conn),
        "wraparound": lambda: wraparound_ages(conn),
        "sequences": lambda: sequence_stats(conn),
        "sessions": lambda: session_activity(conn),
        "connections": lambda: connection_usage(conn),
        "slots": lambda: replication_slots(conn),
        "standbys": lambda: standby_lag(conn),
        "system_identifier": lambda: read_system_identifier(conn),  # whose backup records are this server's
        "wal_archiver": lambda: wal_archiver_status(conn),  # another tool's backups show as archived WAL
    }


def collect(conn: psycopg.Connection, facts: ServerFacts, needed: set[str]) -> tuple[Data, dict[str, str]]:
    """Run each needed collector once; a failing one leaves a reason instead of data."""
    data: Data = {"facts": facts}
    failed: dict[str, str] = {}
    for key, collector in _collectors(conn, facts).items():
        if key not in needed:
            continue
        try:
            data[key] = collector()
        except NotAvailable as exc:
            failed[key] = str(exc)
        except psycopg.errors.InsufficientPrivilege as exc:
            failed[key] = f"permission denied ({str(exc).splitlines()[0]})"
        except psycopg.Error as exc:
            failed[key] = (
                f"{key} could not be read: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            )
    return data, failed


# ---- the checks ------------------------------------------------------------------------------------
def _app_statements(d: Data) -> queries.StatementSet:
    _most_statements_visible(d)
    return _statement_set(d)


def _statement_set(d: Data) -> queries.StatementSet:
    if "app_statements" not in d:  # one parse cache shared by every query check
        d["app_statements"] = queries.StatementSet(d["statements"], functions=d.get("functions", frozenset()))
    statements: queries.StatementSet = d["app_statements"]
    return statements


def _most_statements_visible(d: Data) -> None:
    """The query checks judge the statements this role may read; when most of the database's statement
    time is in other roles' statements it may not read, they would judge the few and say nothing is wrong."""
    hidden: HiddenStatements | None = d.get("hidden_statements")
    if hidden is not None and hidden.most:
        raise Skip(hidden.reason())


def _stats_age(d: Data, min_age_days: float | None = None) -> StatsAge:
    facts: ServerFacts = d["facts"]
    if min_age_days is None:
        return server_stats_age(facts, d["now"])
    return server_stats_age(facts, d["now"], timedelta(days=min_age_days))


def _needs_reading_all_stats(d: Data) -> None:
    if not d["facts"].can_read_all_stats:
        raise Skip("this role cannot see other sessions (grant pg_monitor or pg_read_all_stats)")


def _on_primary(d: Data) -> None:
    """Checks driven by a table's or an index's own activity counters judge the primary only."""
    if d["facts"].in_recovery:
        raise Skip(REPLICA_COUNTERS)


def _primary_only(fn: CheckFunction) -> CheckFunction:
    def run(d: Data, kw: dict[str, Any]) -> list[Finding]:
        _on_primary(d)
        return fn(d, kw)

    return run


def _unused(d: Data, kw: dict[str, Any]) -> list[Finding]:
    if d["facts"].in_recovery:
        raise Skip(UNUSED_ON_REPLICA)
    age = _stats_age(d, kw.pop("min_stats_age_days", None))
    ages = _index_ages(d)
    why_not = age.not_judged(week_old_snapshot=ages is not None)
    if why_not is not None:
        raise Skip(why_not)
    indexes = d["indexes"]
    if ages is not None:
        indexes, young = ages.split(indexes)
        found = index_health.unused_index_findings(young, age, **kw)
        not_judged = [f.object for f in found if f.severity is Severity.WARNING]  # not the FK-kept ones
        if not_judged:
            d["notes"].append(f"index.unused: {ages.note(not_judged)}")
    found = index_health.unused_index_findings(indexes, age, **kw)
    if found and age.since is None:  # a database never reset: its counters' age is the server's statistics'
        d["notes"].append(f"index.unused: {age.note()}")
    return found


def _index_ages(d: Data) -> IndexAges | None:
    """Which indexes the history store saw a week ago (None without a store or such an old snapshot)."""
    store: HistoryStore | None = d.get("store")
    if store is None:
        return None
    return index_ages(store, d["target_key"], d["now"])


def _bloat_estimates(d: Data, key: str) -> list[Any]:
    estimates = d[key]
    analysed = [e for e in estimates if e.rows > 0]
    if analysed and not any(e.estimable for e in analysed):
        raise Skip(
            "no column statistics readable (pg_stats shows only tables this role may SELECT; or ANALYZE)"
        )
    return list(estimates)


def _sequences(d: Data, kw: dict[str, Any]) -> list[Finding]:
    seqs = d["sequences"]
    unreadable = [s.qualified_name for s in seqs if not s.readable]
    if seqs and len(unreadable) == len(seqs):
        raise Skip(f"{len(unreadable)} sequence(s) not readable by this role (grant SELECT or USAGE on them)")
    if unreadable:
        d["notes"].append(
            f"safety.sequence_exhaustion: {len(unreadable)} sequence(s) not readable: {', '.join(unreadable[:5])}"
        )
    return safety.sequence_exhaustion([s for s in seqs if s.readable], **kw)


def _sessions(fn: Callable[..., list[Finding]]) -> CheckFunction:
    def run(d: Data, kw: dict[str, Any]) -> list[Finding]:
        _needs_reading_all_stats(d)
        return fn(d["sessions"], **kw)

    return run


def _regressions(d: Data, kw: dict[str, Any]) -> list[Finding]:
    store: HistoryStore | None = d.get("store")
    if store is None:
        raise Skip("no history store given")
    prev = previous_statement_snapshot(store, d["target_key"])
    if prev is None:
        raise Skip("no earlier statement snapshot (run `pgdba snapshot` regularly)")
    _, before, meta = prev
    _most_statements_visible(d)
    recent = queries.StatementSet(statements_since(d["statements"], before, meta, d["facts"]))
    return queries.query_regressions(recent, before, **kw)


def _size_history(d: Data, kind: str) -> tuple[list[tuple[datetime, dict[str, int]]], dict[str, int]]:
    """(stored size history, sizes now) of the tables or the database."""
    store: HistoryStore | None = d.get("store")
    if store is None:
        raise Skip("no history store given")
    # the tables as they are now: a table dropped and created again since the newest snapshot starts anew
    current_oids = table_oids(d["tables"]) if kind == "tables" else None
    history = size_history(store, d["target_key"], kind, current_oids=current_oids)
    if not history:
        raise Skip(f"no earlier {kind} snapshot (run `pgdba snapshot` regularly)")
    if kind == "tables":
        return history, measured_sizes(d["tables"])
    return history, {d["database"].database: d["database"].size_bytes}


def _table_growth(d: Data, kw: dict[str, Any]) -> list[Finding]:
    """The present rate: since the newest snapshot at least the check's window old, not the oldest one."""
    history, current = _size_history(d, "tables")
    # a partition's growth is judged in its partitioned table's, which sums every partition's
    partitions = {t.qualified_name for t in d["tables"] if t.is_partition}
    current = {name: size for name, size in current.items() if name not in partitions}
    window = float(kw.get("min_window_seconds", capacity.TABLE_GROWTH_WINDOW_S))
    return capacity.table_growth(capacity.recent_growth(history, current, d["now"], window), **kw)


def _forecast(d: Data, kw: dict[str, Any]) -> list[Finding]:
    """The long-run trend: since the oldest snapshot."""
    history, current = _size_history(d, "database")
    rates = capacity.growth(history, current, d["now"])
    return capacity.size_forecast(rates[0] if rates else None, **kw)


def _pgdba_backup_records(d: Data) -> tuple[Records, Records]:
    """(restore tests, successful backups) the history store holds for this database on this server (of the
    newest 100 of each); none without a store. Failed backup runs are recorded too (the backup-age alert
    counts them), but they are no backup of the database."""
    store: HistoryStore | None = d.get("store")
    if store is None:
        return [], []
    if "pgdba_backup_records" not in d:  # read once for both backup checks
        # another server's jobs may record under the same key (localhost:5432/app in a shared store)
        system_identifier = d.get("system_identifier")
        d["pgdba_backup_records"] = (
            records_of_server(store.records(d["target_key"], backups.RESTORE_TEST_KIND), system_identifier),
            [
                (when, payload)
                for when, payload in records_of_server(
                    store.records(d["target_key"], BACKUP_KIND), system_identifier
                )
                if succeeded(payload)
            ],
        )
    records: tuple[Records, Records] = d["pgdba_backup_records"]
    return records


def _restore_tests(d: Data, kw: dict[str, Any]) -> list[Finding]:
    """pgdba's restore tests when it backs the database up; else what the server's WAL archiving shows."""
    unknown = sorted(set(kw) - {*backups.RESTORE_TEST_OPTIONS, *backups.ARCHIVE_OPTIONS})
    if unknown:  # whichever half runs, a mistyped threshold is refused
        raise InputError(
            f"backup.restore_test has no threshold named {unknown[0]!r} (--set backup.restore_test.PARAM)"
        )
    tests, backed_up = _pgdba_backup_records(d)
    if tests or backed_up:
        restore_kw = {k: v for k, v in kw.items() if k in backups.RESTORE_TEST_OPTIONS}
        return backups.restore_test_findings(tests, d["now"], **_in_days("backup.restore_test", restore_kw))
    archive_kw = {k: v for k, v in kw.items() if k in backups.ARCHIVE_OPTIONS}
    return backups.unknown_backup_findings(
        d["wal_archiver"], d["now"], history_store=d.get("store") is not None, **archive_kw
    )


def _wal_archive_failing(d: Data, kw: dict[str, Any]) -> list[Finding]:
    """Every database, pgdba backups or not: a failing archive_command fills pg_wal whatever backs it up.

    Its own check (weight 5 of the backups area's 25, as an inactive slot's: both retain WAL until the disk
    fills) rather than a state of backup.restore_test: that one answers "can pgdba restore this database",
    and a restore test passed today says nothing about the archive; folded in, a failing archive would
    change a backed-up database's restore-test status, and a critical restore test would hide it."""
    _, backed_up = _pgdba_backup_records(d)
    return backups.failing_wal_archive_findings(
        d["wal_archiver"],
        d["now"],
        pgdba_backups=len(backed_up),
        history_store=d.get("store") is not None,
        **kw,
    )


def _in_days(check: str, kw: dict[str, Any]) -> dict[str, Any]:
    """The `max_age` threshold as a timedelta: `--set CHECK.max_age=N` is N days, the unit the README gives
    it in (a library caller may pass a timedelta)."""
    value = kw.get("max_age")
    if value is None or isinstance(value, timedelta):
        return kw
    try:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(value)
        return {**kw, "max_age": timedelta(days=value)}
    except (ValueError, OverflowError):
        raise InputError(
            f"{check}.max_age is a number of days (e.g. --set {check}.max_age=7), not {value!r}"
        ) from None


CHECKS: tuple[Check, ...] = (  # weights by area follow reliability.md §4 (backups 25, capacity 25, …)
    # performance (20)
    Check(
        "query.slow",
        5,
        ("statements", "functions"),
        lambda d, kw: queries.slow_queries(_app_statements(d), **kw),
    ),
    Check(
        "query.n_plus_one",
        2,
        ("statements", "foreign_keys"),
        lambda d, kw: queries.n_plus_one_queries(_app_statements(d), d["foreign_keys"], **kw),
    ),
    Check(
        "query.low_cache_hit",
        2,
        ("statements",),
        lambda d, kw: queries.low_cache_hit_queries(_app_statements(d), **kw),
    ),
    Check(
        "query.unstable_plan",
        1,
        ("statements",),
        lambda d, kw: queries.unstable_plan_queries(_app_statements(d), **kw),
    ),
    Check(
        "query.temp_spill",
        1,
        ("statements",),
        lambda d, kw: queries.temp_spill_queries(_app_statements(d), **kw),
    ),
    Check("query.regression", 2, ("statements",), _regressions),
    Check(
        "index.low_hit_rate",
        2,
        ("database",),
        lambda d, kw: index_health.low_index_hit_rate(d["database"], **kw),
    ),
    Check("safety.blocked_sessions", 3, ("sessions",), _sessions(safety.blocked_sessions)),
    Check("safety.long_running", 2, ("sessions",), _sessions(safety.long_running_queries)),
    # maintenance (20)
    Check("safety.wraparound", 5, ("wraparound",), lambda d, kw: safety.wraparound(d["wraparound"], **kw)),
    Check("safety.sequence_exhaustion", 4, ("sequences",), _sequences),
    Check("safety.idle_in_transaction", 2, ("sessions",), _sessions(safety.idle_in_transaction)),
    Check(
        "table.vacuum_overdue",
        2,
        ("tables", "settings"),
        _primary_only(
            lambda d, kw: tables.vacuum_overdue(
                d["tables"], d["settings"], d["now"], **_in_days("table.vacuum_overdue", kw)
            )
        ),
    ),
    Check(
        "table.analyze_overdue",
        2,
        ("tables", "settings"),
        _primary_only(
            lambda d, kw: tables.analyze_overdue(
                d["tables"], d["settings"], d["now"], **_in_days("table.analyze_overdue", kw)
            )
        ),
    ),
    Check(
        "table.dead_tuples",
        2,
        ("tables",),
        _primary_only(lambda d, kw: tables.dead_tuple_findings(d["tables"], **kw)),
    ),
    Check(
        "table.bloat",
        2,
        ("table_bloat",),
        lambda d, kw: tables.table_bloat_findings(_bloat_estimates(d, "table_bloat"), **kw),
    ),
    Check(
        "index.bloat",
        1,
        ("index_bloat",),
        lambda d, kw: index_health.index_bloat_findings(_bloat_estimates(d, "index_bloat"), **kw),
    ),
    # schema and index hygiene (8)
    Check("index.unused", 1, ("indexes",), _unused),
    Check(
        "index.duplicate", 1, ("indexes",), lambda d, kw: index_health.duplicate_indexes(d["indexes"], **kw)
    ),
    Check(
        "index.invalid",
        1,
        ("indexes", "partitions"),
        lambda d, kw: index_health.invalid_indexes(d["indexes"], d["partitions"], **kw),
    ),
    Check(
        "index.missing_fk",
        2,
        ("foreign_keys", "partitions", "partition_indexes"),
        lambda d, kw: index_health.missing_fk_indexes(
            d["foreign_keys"], d["partitions"], d["partition_indexes"], **kw
        ),
    ),
    Check(
        "table.seq_scan_heavy",
        2,
        ("tables", "partitions"),
        lambda d, kw: tables.seq_scan_heavy(d["tables"], d["partitions"], **kw),
    ),
    Check(
        "table.no_primary_key", 1, ("tables",), lambda d, kw: tables.missing_primary_keys(d["tables"], **kw)
    ),
    # capacity (25)
    Check(
        "capacity.database_size",
        5,
        ("database",),
        lambda d, kw: capacity.database_size(d["database"].database, d["database"].size_bytes, **kw),
    ),
    Check(
        "capacity.table_growth",
        5,
        ("tables",),
        _table_growth,
    ),
    Check("capacity.forecast", 6, ("database",), _forecast),
    # a time-partitioned table past its last partition refuses every INSERT
    Check(
        "capacity.partition_runway",
        3,
        ("partition_runways",),
        lambda d, kw: partition_runway.partition_runway_findings(d["partition_runways"], **kw),
    ),
    Check(
        "safety.connections",
        6,
        ("connections",),
        lambda d, kw: safety.connection_headroom(d["connections"], **kw),
    ),
    # availability and backups (25)
    Check("backup.restore_test", 20, ("system_identifier", "wal_archiver"), _restore_tests),
    # every database's archiver, pgdba backups or not (why its own check: _wal_archive_failing)
    Check("backup.wal_archive_failing", 5, ("system_identifier", "wal_archiver"), _wal_archive_failing),
    # replication (10)
    Check(
        "safety.inactive_slot",
        5,
        ("slots",),
        lambda d, kw: safety.inactive_replication_slots(d["slots"], **kw),
    ),
    Check(
        "safety.replication_lag", 5, ("standbys",), lambda d, kw: safety.replication_lag(d["standbys"], **kw)
    ),
    # configuration (4)
    Check(
        "settings",
        4,
        ("settings",),
        lambda d, kw: settings.settings_findings(d["settings"], d.get("database"), **kw),
    ),
)


def run_checks(
    data: Data,
    failed: Mapping[str, str],
    *,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    only: set[str] | None = None,
) -> tuple[Report, list[Check]]:
    """Run every registered check on collected data (pure: no database access)."""
    report = Report()
    data.setdefault("notes", [])
    ran: list[Check] = []
    for check in CHECKS:
        if only is not None and check.name not in only:
            continue
        missing = [failed[key] for key in check.needs if key in failed]
        if missing:
            report.skipped.append(SkippedCheck(check.name, missing[0]))
            continue
        kwargs = dict((options or {}).get(check.name, {}))
        try:
            report.findings.extend(check.run(data, kwargs))
        except TypeError as exc:
            if not kwargs:
                raise
            unknown = str(exc).rpartition("argument ")[2].strip("'") or ", ".join(kwargs)
            raise InputError(
                f"{check.name} has no threshold named {unknown!r} (--set {check.name}.PARAM)"
            ) from None
        except Skip as exc:
            report.skipped.append(SkippedCheck(check.name, str(exc)))
            continue
        ran.append(check)
    report.notes.extend(data["notes"])
    return report, ran


def run_checkup(
    target: Target,
    *,
    store: HistoryStore | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    only: set[str] | None = None,
) -> CheckupResult:
    """Every check (or `only` those named) against one database, in one read-only session.

    `options` maps a check name to keyword arguments of its function (thresholds), e.g.
    {"query.slow": {"threshold_ms": 250}}."""
    selected = [c for c in CHECKS if only is None or c.name in only]
    needed = {key for c in selected for key in c.needs}
    if "statements" in needed:
        needed.add("hidden_statements")
    if any(c.name == "capacity.forecast" for c in selected):
        needed.add("database")
    with session(target) as conn:
        facts = load_server_facts(conn)
        data, failed = collect(conn, facts, needed)
    data.update(now=datetime.now(UTC), store=store, target_key=target.key, notes=[])
    note = server_version_note(facts)
    if note:
        data["notes"].append(note)
    _set_aside_locked_indexes(data)
    unreadable = unreadable_reason(data.get("statements") or ())
    if unreadable:
        data["notes"].append(
            f"statement texts unreadable, the query checks judged counters only: {unreadable}"
        )
    hidden: HiddenStatements | None = data.get("hidden_statements")
    if hidden is not None and "statements" in data:  # measured against the application statements it reads
        data["hidden_statements"] = hidden = _statement_set(data).weigh(hidden)
        if not hidden.most:  # (most hidden: the query checks are skipped, saying so)
            data["notes"].append(f"the query checks judged this role's statements only: {hidden.reason()}")
    report, ran = run_checks(data, failed, options=options, only=only)
    return CheckupResult(report, ran, facts, data)


def _set_aside_locked_indexes(data: Data) -> None:
    """Indexes under DDL right now (locked by another session) are not judged: their definition is unread."""
    indexes = data.get("indexes")
    if not indexes:
        return
    locked = [i.qualified_name for i in indexes if i.locked]
    if locked:
        data["indexes"] = [i for i in indexes if not i.locked]
        shown = ", ".join(locked[:5]) + (f" and {len(locked) - 5} more" if len(locked) > 5 else "")
        data["notes"].append(
            f"not judged: {shown} (another session holds or waits for an ACCESS EXCLUSIVE lock on it or its "
            "table: DDL in flight)"
        )


def server_version_note(facts: ServerFacts) -> str | None:
    """The server module's note on untested majors (ServerFacts.version_note), or pgdba's own fallback."""
    note = getattr(facts, "version_note", None)
    if isinstance(note, str):
        return note
    if facts.is_tested_version:
        return None
    tested = f"{TESTED_MAJORS[0]} to {TESTED_MAJORS[-1]}"
    return f"PostgreSQL {facts.major} is not among the versions pgdba is tested on ({tested}): results may be incomplete"


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """`CHECK.PARAM=VALUE` strings (e.g. `query.slow.threshold_ms=250`) → options for run_checkup."""
    names = {c.name for c in CHECKS}
    options: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        check, _, param = key.strip().rpartition(".")
        if not sep or check not in names or not param:
            raise InputError(
                f"bad threshold {item!r}: use CHECK.PARAM=VALUE with CHECK one of {', '.join(sorted(names))}"
            )
        options.setdefault(check, {})[param] = _threshold(f"{check}.{param}", raw.strip())
    return options


# Every count, size and age PostgreSQL's statistics report fits a bigint: a larger threshold could never be
# reached, and only overflows the conversions of the checks (int(), timedelta).
MAX_THRESHOLD = 2**63 - 1
# Thresholds in a unit of time stop at 100 years, well inside what a timedelta holds (999,999,999 days).
# (`max_age`, in days, is checked where it becomes a timedelta: `_in_days`.)
MAX_SPAN_DAYS = 36_525
# parameter name suffix → the unit of time it is given in, and that unit's length in days
_TIME_UNITS: dict[str, tuple[str, float]] = {
    "_ms": ("ms", 1 / 86_400_000),
    "_seconds": ("seconds", 1 / 86_400),
    "_hours": ("hours", 1 / 24),
    "_days": ("days", 1.0),
}


def _threshold(name: str, raw: str) -> int | float:
    """A threshold: every check's thresholds are finite numbers ≥ 0 (sizes, counts, ratios, times), up to
    the bound of the parameter's unit."""
    value = _number(name, raw)
    limit, unit = _upper_bound(name)
    if value > limit:
        raise InputError(f"--set {name}: threshold value {raw!r} must be at most {limit:,}{unit}")
    return value


def _number(name: str, raw: str) -> int | float:
    try:
        value: int | float = int(raw)
    except ValueError:
        try:
            value = float(raw)
        except ValueError:
            raise InputError(f"--set {name}: threshold value {raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"--set {name}: threshold value {raw!r} must be a finite number ≥ 0")
    return value


def _upper_bound(name: str) -> tuple[int, str]:
    """The largest value the parameter takes, and its unit as a message shows it."""
    for suffix, (unit, days) in _TIME_UNITS.items():
        if name.endswith(suffix):
            return int(MAX_SPAN_DAYS / days), f" {unit} (100 years)"
    return MAX_THRESHOLD, " (2^63 - 1)"
