"""Prometheus /metrics: the numbers pgdba's alert rules need, named like postgres_exporter where it has them.

Collection is bounded (one session with a short statement_timeout) and cached for `cache_seconds`, so
frequent scrapes cost one collection per interval. Counters postgres_exporter exposes without a `_total`
suffix (pg_stat_database_*) are exposed untyped to keep their names.

GET /metrics serves the default database, GET /metrics?db=NAME a configured one (multi-target, like
postgres_exporter's /probe?target= and blackbox_exporter). Series carry no `db` label: the scrape config
sets `instance` to NAME by relabelling instead, because the exported rules aggregate `by (instance)` and
server-wide series (pg_stat_activity_count over every database, pg_settings_*) scraped twice under one
shared instance would be summed twice (connection usage doubled).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, UnknownMetricFamily
from prometheus_client.registry import Collector

from pgdba.alerts.check import collect_samples
from pgdba.alerts.metrics import JobRecords
from pgdba.alerts.values import Samples
from pgdba.api.dependencies import DatabaseName
from pgdba.api.error_text import without_connection_strings
from pgdba.api.settings import ApiSettings
from pgdba.errors import PgdbaError
from pgdba.history.store import open_store
from pgdba.server import load_server_facts
from pgdba.stats.archiver import ArchiverStatus
from pgdba.stats.partition_runway import PartitionRunway
from pgdba.target import Target, session

ALL_FAMILIES = {
    "databases",
    "activity",
    "statements",
    "tables",
    "replication",
    "disk",
    "backups",
    "archiver",
    "partitions",
}
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class PgdbaCollector(Collector):
    """A prometheus_client collector over one target, collecting at most once per `cache_seconds`."""

    def __init__(
        self,
        target: Target,
        *,
        store: str | Path | None = None,
        top_tables: int = 20,
        top_statements: int = 100,
        cache_seconds: float = 15.0,
        statement_timeout_ms: int = 5000,
    ) -> None:
        self.target = replace(target, statement_timeout_ms=statement_timeout_ms)
        self.store = str(store) if store else None
        self.top_tables = top_tables
        self.top_statements = top_statements
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._cached_at = float("-inf")
        self.collections = 0

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            if time.monotonic() - self._cached_at >= self.cache_seconds:
                self._cached = list(self._collect_now())
                self._cached_at = time.monotonic()
                self.collections += 1
            return list(self._cached)

    def _collect_now(self) -> Iterator[Metric]:
        started = time.monotonic()
        up = GaugeMetricFamily("pg_up", "Whether the last collection reached PostgreSQL (1) or not (0)")
        try:
            samples = self._sample()
        except (PgdbaError, OSError) as exc:
            up.add_metric([], 0)
            yield up
            error = GaugeMetricFamily(
                "pgdba_scrape_error", "1 when the last collection failed", labels=["error"]
            )
            error.add_metric([without_connection_strings(str(exc).splitlines()[0])[:200]], 1)
            yield error
            return
        up.add_metric([], 1)
        yield up
        yield from families(samples, self.top_statements)
        duration = GaugeMetricFamily("pgdba_scrape_duration_seconds", "Time the last collection took")
        duration.add_metric([], time.monotonic() - started)
        yield duration

    def _sample(self) -> Samples:
        with session(self.target) as conn:
            facts = load_server_facts(conn)
            if self.store is None:
                return collect_samples(
                    conn, facts, self.target, None, ALL_FAMILIES - {"backups"}, top_tables=self.top_tables
                )
            with open_store(self.store) as history:
                return collect_samples(
                    conn, facts, self.target, history, ALL_FAMILIES, top_tables=self.top_tables
                )


def families(samples: Samples, top_statements: int = 100) -> Iterator[Metric]:
    """Prometheus metric families from one round of samples."""
    if samples.databases is not None:
        size = GaugeMetricFamily(
            "pg_database_size_bytes", "Disk space used by the database", labels=["datname"]
        )
        wrap = GaugeMetricFamily(
            "pg_database_wraparound_age_datfrozenxid_seconds",
            "Age of the oldest unfrozen transaction ID (transactions; the name follows postgres_exporter)",
            labels=["datname"],
        )
        counters = {
            name: UnknownMetricFamily(
                f"pg_stat_database_{name}", f"pg_stat_database.{name}", labels=["datname"]
            )
            for name in ("blks_hit", "blks_read", "xact_commit", "xact_rollback", "deadlocks")
        }
        db = samples.databases.current
        size.add_metric([db.datname], db.size_bytes)
        for name, family in counters.items():
            family.add_metric([db.datname], getattr(db, name))
        for datname, age in sorted(samples.databases.xid_ages.items()):
            wrap.add_metric([datname], age)
        yield size
        yield wrap
        yield from counters.values()
    if samples.activity is not None:
        a = samples.activity
        count = GaugeMetricFamily(
            "pg_stat_activity_count", "Client sessions by database and state", labels=["datname", "state"]
        )
        longest = GaugeMetricFamily(
            "pg_stat_activity_max_tx_duration",
            "Oldest open transaction, seconds",
            labels=["datname", "state"],
        )
        for (datname, state), n in sorted(a.by_state.items()):
            count.add_metric([datname, state], n)
            longest.add_metric([datname, state], a.longest_transaction_by_state.get((datname, state), 0.0))
        yield count
        yield longest
        yield _gauge("pg_settings_max_connections", "max_connections", a.max_connections)
        yield _gauge(
            "pg_settings_superuser_reserved_connections",
            "superuser_reserved_connections (+ reserved_connections on PostgreSQL 16+)",
            a.reserved_connections,
        )
        yield _gauge(
            "pgdba_stat_activity_max_idle_in_transaction_seconds",
            "Longest time a session has been idle in a transaction",
            a.idle_in_transaction_s,
        )
        yield _gauge(
            "pgdba_blocked_sessions", "Sessions waiting for a lock another session holds", a.blocked_sessions
        )
    if samples.statements is not None:
        calls = CounterMetricFamily(
            "pg_stat_statements_calls", "Calls of the statement", labels=["datname", "user", "queryid"]
        )
        seconds = CounterMetricFamily(
            "pg_stat_statements_seconds",
            "Total execution time of the statement",
            labels=["datname", "user", "queryid"],
        )
        for st in samples.statements[:top_statements]:
            labels = [samples.database, str(st.userid), str(st.queryid)]
            calls.add_metric(labels, st.calls)
            seconds.add_metric(labels, st.total_ms / 1000.0)
        yield calls
        yield seconds
    if samples.tables is not None:
        labels = ["datname", "schemaname", "relname"]
        # a partitioned table has no storage of its own: its partitions' summed size gets its own family, so
        # that sum(pg_stat_user_tables_table_size_bytes) counts each byte once (the rules read both)
        size = GaugeMetricFamily(
            "pg_stat_user_tables_table_size_bytes",
            "Total size of the table (pg_total_relation_size) with its indexes and TOAST; tables with storage "
            "only (partitions included, partitioned tables in pg_partitioned_table_size_bytes): a sum counts "
            "each byte once",
            labels=labels,
        )
        partitioned_size = GaugeMetricFamily(
            "pg_partitioned_table_size_bytes",
            "Total size of a partitioned table: its leaf partitions' summed (they are in "
            "pg_stat_user_tables_table_size_bytes too; a sub-partitioned table's partitioned partitions are here "
            "as well)",
            labels=labels,
        )
        live = GaugeMetricFamily("pg_stat_user_tables_n_live_tup", "Estimated live rows", labels=labels)
        dead = GaugeMetricFamily("pg_stat_user_tables_n_dead_tup", "Estimated dead rows", labels=labels)
        for t in samples.tables:
            key = [samples.database, t.schema, t.table]
            (partitioned_size if t.partitioned else size).add_metric(key, t.total_bytes)
            live.add_metric(key, t.live_rows)
            dead.add_metric(key, t.dead_rows)
        yield size
        yield partitioned_size
        yield live
        yield dead
    if samples.replication is not None:
        r = samples.replication
        yield _gauge("pg_replication_is_replica", "1 when the server is a standby", int(r.is_replica))
        yield _gauge(
            "pg_replication_lag_seconds",
            "Replay lag (standby) or slowest standby's replay lag (primary)",
            r.lag_seconds or 0.0,
        )
        slots = GaugeMetricFamily(
            "pg_replication_slots_active", "1 when a client uses the slot", labels=["slot_name"]
        )
        for name, active in sorted(r.slots.items()):
            slots.add_metric([name], int(active))
        yield slots
    if samples.disk is not None and (used := samples.disk.used_bytes) is not None:
        d = samples.disk
        yield _gauge(
            "pgdba_data_directory_filesystem_used_bytes",
            f"Used bytes of the fullest filesystem PostgreSQL writes to (now: the one of {d.path})",
            used,
        )
        yield _gauge(
            "pgdba_data_directory_filesystem_avail_bytes",
            f"Bytes available to PostgreSQL on {d.path}",
            d.avail_bytes or 0,
        )
    if samples.archiver is not None:
        yield from _archiver_families(samples.archiver, samples.taken_at)
    if samples.partitions is not None:
        yield _partition_ends(samples.database, samples.partitions)
    if samples.backups is not None:
        for job, what, jobs in (
            ("backup", "backup", samples.backups.backups),
            ("restore_test", "restore test", samples.backups.restore_tests),
        ):
            yield from _job_families(job, what, jobs)
        if (untested_since := samples.backups.untested_since) is not None:
            yield _gauge(
                "pgdba_backups_untested_since_timestamp_seconds",
                "Unix time of the first successful backup recorded when no restore test ever was (the "
                "restore-test age counts from it); absent once a restore test is recorded",
                untested_since.timestamp(),
            )


def _job_families(job: str, what: str, jobs: JobRecords) -> Iterator[Metric]:
    """The newest successful backup / restore test, since when they have been failing, and whether the
    newest failed: the age rules read `pgdba_last_<job>_timestamp_seconds or
    pgdba_<job>_failing_since_timestamp_seconds`, so a job that never succeeded still ages."""
    if jobs.last_success is not None:
        yield _gauge(
            f"pgdba_last_{job}_timestamp_seconds",
            f"Unix time of the newest successful {what} recorded in the history store",
            jobs.last_success.timestamp(),
        )
    if jobs.failing_since is not None:
        yield _gauge(
            f"pgdba_{job}_failing_since_timestamp_seconds",
            f"Unix time of the first failed {what} since the last successful one (of all recorded when none "
            "succeeded); absent while the newest succeeded",
            jobs.failing_since.timestamp(),
        )
    if jobs.last_failed is not None:
        yield _gauge(
            f"pgdba_last_{job}_failed",
            f"1 when the newest {what} recorded in the history store failed, 0 when it succeeded",
            int(jobs.last_failed),
        )


def _archiver_families(a: ArchiverStatus, now: datetime) -> Iterator[Metric]:
    """pg_stat_archiver as postgres_exporter names it (counters untyped, as pg_stat_database_*), the age of
    the last failure and how long archiving has been failing (0 while it works), which the rule reads."""
    for name, count in (("archived_count", a.archived_count), ("failed_count", a.failed_count)):
        family = UnknownMetricFamily(f"pg_stat_archiver_{name}", f"pg_stat_archiver.{name}")
        family.add_metric([], count)
        yield family
    if a.last_archived_time is not None:
        yield _gauge(
            "pg_stat_archiver_last_archive_age",
            "Seconds since the last WAL file was archived",
            (now - a.last_archived_time).total_seconds(),
        )
    if a.last_failed_time is not None:
        yield _gauge(
            "pgdba_stat_archiver_last_failed_age_seconds",
            "Seconds since the last failed attempt to archive a WAL file",
            (now - a.last_failed_time).total_seconds(),
        )
    failing = a.time_without_success(now)
    yield _gauge(
        "pgdba_stat_archiver_failing_seconds",
        "Seconds without an archived WAL file while the newest attempt failed; 0 while archiving works or is off",
        failing.total_seconds() if failing is not None else 0.0,
    )


def _partition_ends(database: str, runways: list[PartitionRunway]) -> GaugeMetricFamily:
    """Where the partitions of each table range-partitioned by a time column end (the alert rule
    partition_runway_days; its check-up is capacity.partition_runway): those written to, with no DEFAULT or
    MAXVALUE partition; 0 for one with no partition at all."""
    ends = GaugeMetricFamily(
        "pgdba_partition_end_timestamp_seconds",
        "Unix time the last partition of a table range-partitioned by a date or timestamp column ends: INSERTs "
        "past it fail (0: no partition at all). Tables with a DEFAULT or MAXVALUE partition, or whose last "
        "partition took no INSERT since the statistics reset, are left out",
        labels=["datname", "schemaname", "relname"],
    )
    for r in runways:
        if r.takes_every_row or r.archive:
            continue
        end = r.covered_until.timestamp() if r.covered_until is not None else 0.0
        ends.add_metric([database, r.schema, r.table], end)
    return ends


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


def metrics_registry(target: Target, **options: Any) -> CollectorRegistry:
    """A registry with only pgdba's collector (no process/platform metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PgdbaCollector(target, **options))
    return registry


class MetricsByDatabase:
    """One registry (one cached collector) per monitored database: the default one made now, the others on
    their first scrape and kept, so each database is collected at most once per `cache_seconds`."""

    def __init__(
        self, default: Target, target_for: Callable[[str | None], Target] | None = None, **options: Any
    ) -> None:
        self._default = default
        # without a lookup only the default database exists (`?db=default` names it, as on the other routes)
        self._target_for = target_for or ApiSettings(default).target_for
        self._options = options
        self._lock = threading.Lock()
        # keyed by DSN: /metrics and /metrics?db=<the default's name> are one database, one collection
        self._registries = {default.dsn: metrics_registry(default, **options)}

    @property
    def collector_count(self) -> int:
        return len(self._registries)

    def registry_for(self, name: str | None) -> CollectorRegistry:
        """The registry of database `name` (the default for None); UnknownDatabase, before anything is
        cached, for a name not configured."""
        target = self._target_for(name) if name else self._default
        with self._lock:
            if target.dsn not in self._registries:
                self._registries[target.dsn] = metrics_registry(target, **self._options)
            return self._registries[target.dsn]


def make_metrics_router(
    target: Target, *, target_for: Callable[[str | None], Target] | None = None, **options: Any
) -> Any:
    """A FastAPI router serving GET /metrics for the target and GET /metrics?db=NAME for the database
    `target_for(NAME)` returns (ApiSettings.target_for; the app mounts it)."""
    from fastapi import APIRouter
    from fastapi.responses import Response

    registries = MetricsByDatabase(target, target_for, **options)
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    def metrics(db: DatabaseName = None) -> Response:
        return Response(generate_latest(registries.registry_for(db)), media_type=CONTENT_TYPE)

    return router
