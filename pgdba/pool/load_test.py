"""The bounded surge load test: per pool size, throughput, latency percentiles, connection wait, errors and
the peak number of server connections seen in pg_stat_activity by a separate sampling session.

Pool size 0 means "no pool": every client opens its own connection, as an application without a pool
does; above max_connections that is the documented failure mode ("sorry, too many clients already").

A pool size is what is measured: before anything runs, sizes above what the server can give this role now
are refused (InputError naming the limit); each pool opens all its connections before the surge is
released; a size whose peak of server connections still stayed below it is flagged and never recommended.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from pgdba.errors import ConnectionFailed, InputError
from pgdba.findings import SCHEMA_VERSION
from pgdba.pool.factory import (
    MAX_STATEMENT_TIMEOUT_MS,
    ConnectionRefusals,
    PoolCheckoutTimeout,
    PoolOverloaded,
    PoolSettings,
    SurgePool,
    connection_kwargs,
    create_pool,
    pool_stats,
)
from pgdba.pool.input_ranges import check_finite, check_whole
from pgdba.pool.server_limits import MAX_BACKENDS, ConnectionBudget, connection_budget, is_loopback
from pgdba.pool.volatile_calls import check_no_volatile_user_functions
from pgdba.pool.workload import StatementWorkload, Workload
from pgdba.target import Target

PATTERNS = ("surge", "steady")
BENCH_APPLICATION_NAME = "pgdba-bench"
# bounds of a load test: one thread per client, a day per pool size at most
MAX_CLIENTS = 10_000
MAX_REQUESTS = 100_000_000
MAX_TIME_LIMIT_S = 86_400.0
MAX_CONNECT_TIMEOUT_S = 3_600.0
# how often the opening of a pool is checked (ready, refused, timed out)
OPEN_POLL_S = 0.02


@dataclass(frozen=True)
class LoadTestConfig:
    """How hard and how long: every run is bounded by a request count and a time limit per pool size."""

    pool_sizes: tuple[int, ...] = (5, 10, 20, 40)
    clients: int = 200
    requests: int = 2000
    pattern: str = "surge"
    time_limit_s: float = 60.0
    connect_timeout_s: float = 5.0
    # a pool opens all its connections before the surge: a size not open within this is an error
    open_timeout_s: float = 60.0
    statement_timeout_ms: int = 60_000
    max_waiting: int | None = None
    # steady pattern: clients start spread over ramp_s and pause think_ms between their requests
    ramp_s: float = 1.0
    think_ms: float = 10.0
    sample_interval_s: float = 0.01
    application_name: str = BENCH_APPLICATION_NAME
    apply: bool = False

    def __post_init__(self) -> None:
        if not self.pool_sizes:
            raise InputError("no pool size to test")
        for size in self.pool_sizes:
            check_whole(size, "pool size (0 = direct connections)", 0, MAX_BACKENDS)
        check_whole(self.clients, "clients", 1, MAX_CLIENTS)
        check_whole(self.requests, "requests", 1, MAX_REQUESTS)
        if self.pattern not in PATTERNS:
            raise InputError(f"unknown pattern {self.pattern!r}: use {' or '.join(PATTERNS)}")
        check_finite(self.time_limit_s, "time limit (s)", 0, MAX_TIME_LIMIT_S, low_open=True)
        check_finite(
            self.connect_timeout_s, "connection timeout (s)", 0, MAX_CONNECT_TIMEOUT_S, low_open=True
        )
        check_finite(self.open_timeout_s, "pool open timeout (s)", 0, MAX_CONNECT_TIMEOUT_S, low_open=True)
        # 0 (none) is refused here: a request in flight at the time limit must still end
        check_whole(self.statement_timeout_ms, "statement timeout (ms)", 1, MAX_STATEMENT_TIMEOUT_MS)
        check_whole(self.max_waiting, "max waiting (0 = no limit)", 0, MAX_REQUESTS)
        check_finite(self.ramp_s, "ramp (s)", 0, MAX_TIME_LIMIT_S)
        check_finite(self.think_ms, "think time (ms)", 0, MAX_TIME_LIMIT_S * 1000)
        check_finite(self.sample_interval_s, "sample interval (s)", 0, 60, low_open=True)


@dataclass
class SizeResult:
    """What one pool size did under the load."""

    pool_size: int
    mode: str
    requests: int
    ok: int
    errors: int
    timeouts: int
    overloaded: int
    connection_errors: int
    not_run: int
    duration_s: float
    throughput_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    wait_p99_ms: float | None
    peak_server_connections: int
    peak_active_connections: int
    error_samples: list[str] = field(default_factory=list)
    # connections the pool tried to open and the server refused (psycopg_pool retries them in the
    # background, so no request sees the error): the server could not hold a pool this big
    pool_connection_errors: int = 0
    # of the errors, requests that wrote (a function's INSERT, nextval(), …) and the server refused in the
    # READ ONLY transaction of a run without --apply: the workload is not the read-only one it looked like
    read_only_refusals: int = 0

    @property
    def failed(self) -> int:
        return self.errors + self.timeouts + self.overloaded + self.connection_errors

    @property
    def clean(self) -> bool:
        return self.failed == 0 and self.not_run == 0 and self.pool_connection_errors == 0

    @property
    def size_reached(self) -> bool | None:
        """Whether the test really had pool_size server connections (None for direct connections): a size
        whose peak stayed below it measured a smaller pool."""
        if self.mode != "pool":
            return None
        return self.peak_server_connections >= self.pool_size

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed"] = self.failed
        data["size_reached"] = self.size_reached
        return data


@dataclass
class LoadTestReport:
    config: LoadTestConfig
    workload: str
    server: dict[str, Any]
    machine: dict[str, Any]
    results: list[SizeResult]
    recommended_pool_size: int | None
    recommendation: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "started_at": self.started_at.isoformat(),
            "workload": self.workload,
            "config": asdict(self.config),
            "server": self.server,
            "machine": self.machine,
            "results": [r.to_dict() for r in self.results],
            "recommended_pool_size": self.recommended_pool_size,
            "recommendation": self.recommendation,
        }


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (the value below which pct % of the samples fall); None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def recommend_pool_size(results: list[SizeResult], tolerance: float = 0.10) -> tuple[int | None, str]:
    """The smallest pool size that ran every request without error, opened every connection it tried and
    really reached its size (peak server connections), whose p99 is within tolerance of the best such p99.
    Direct connections (size 0) are never recommended."""
    unreached = [r for r in results if r.size_reached is False]
    clean = [r for r in results if r.mode == "pool" and r.clean and r.size_reached and r.p99_ms is not None]
    notes = (
        "; not counted, their peak of server connections stayed below the size: "
        + ", ".join(f"{r.pool_size} (peak {r.peak_server_connections})" for r in unreached)
        if unreached
        else ""
    )
    refused = sum(r.read_only_refusals for r in results)
    if refused:
        notes += (
            f"; {refused} request{'s' if refused > 1 else ''} wrote and the server refused "
            f"{'them' if refused > 1 else 'it'} in a READ ONLY transaction: pass --apply to run a workload "
            "that may write"
        )
    if not clean:
        return None, (
            "no pool size served every request without errors or timeouts at its full size: "
            f"no recommendation{notes}"
        )
    best = min(r.p99_ms for r in clean if r.p99_ms is not None)
    limit = best * (1.0 + tolerance)
    chosen = min((r for r in clean if r.p99_ms is not None and r.p99_ms <= limit), key=lambda r: r.pool_size)
    return chosen.pool_size, (
        f"pool size {chosen.pool_size}: the smallest with p99 {chosen.p99_ms:.1f} ms within "
        f"{tolerance:.0%} of the best p99 {best:.1f} ms, with no errors or timeouts{notes}"
    )


def check_pool_sizes(config: LoadTestConfig, budget: ConnectionBudget) -> None:
    """Refuse pool sizes the server cannot give this role now: such a pool could never be measured at its
    size. Direct connections (size 0) are not checked: running past the limit is what they show."""
    over = sorted({size for size in config.pool_sizes if size > budget.free})
    if over:
        sizes = ", ".join(str(size) for size in over)
        raise InputError(
            f"pool size{'s' if len(over) > 1 else ''} {sizes} {'is' if len(over) == 1 else 'are'} more than the "
            f"server can give this role now ({budget.arithmetic}); "
            f"test sizes up to {budget.free}"
        )


def check_bench_target(target: Target) -> None:
    """A load test runs only against loopback or a DSN given explicitly, never one picked up from the env."""
    if target.source != "--dsn" and not is_loopback(target):
        raise InputError(
            f"refusing to load-test {target.where} taken from "
            f"{target.source}: pass it explicitly with --dsn (or use a loopback server)"
        )


SERVER_SQL = """
SELECT current_setting('server_version') AS version,
       current_setting('max_connections')::int AS max_connections
"""


PEAK_SQL = """
SELECT count(*) AS connections,
       count(*) FILTER (WHERE state = 'active') AS active
  FROM pg_stat_activity
 WHERE application_name = %(app)s
"""


class _PeakSampler:
    """Samples this load test's server connections from a separate session until stopped."""

    def __init__(self, target: Target, application_name: str, interval_s: float) -> None:
        self._conn = target.connect()
        self._app = application_name
        self._interval = interval_s
        self._stop = threading.Event()
        self.peak_connections = 0
        self.peak_active = 0
        self._thread = threading.Thread(target=self._loop, name="pgdba-peak-sampler", daemon=True)

    @property
    def connection(self) -> psycopg.Connection[Any]:
        return self._conn

    def server(self) -> dict[str, Any]:
        row = self._conn.execute(SERVER_SQL).fetchone()
        assert row is not None
        return {"version": row[0], "max_connections": int(row[1])}

    def current(self) -> tuple[int, int]:
        row = self._conn.execute(PEAK_SQL, {"app": self._app}).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def _sample(self) -> None:
        connections, active = self.current()
        self.peak_connections = max(self.peak_connections, connections)
        self.peak_active = max(self.peak_active, active)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self._interval)

    def start(self) -> None:
        self.peak_connections = self.peak_active = 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="pgdba-peak-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()  # one last look, so a run shorter than the interval is still seen

    def wait_until_gone(self, timeout_s: float = 10.0) -> None:
        """Backends of a closed pool exit asynchronously; wait so the next size starts from zero."""
        deadline = time.monotonic() + timeout_s
        while self.current()[0] > 0 and time.monotonic() < deadline:
            self._stop.wait(0.02)

    def close(self) -> None:
        self._conn.close()


@dataclass
class _Tally:
    latencies_ms: list[float] = field(default_factory=list)
    waits_ms: list[float] = field(default_factory=list)
    errors: int = 0
    timeouts: int = 0
    overloaded: int = 0
    connection_errors: int = 0
    pool_connection_errors: int = 0
    read_only_refusals: int = 0
    samples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def success(self, wait_ms: float, latency_ms: float) -> None:
        with self.lock:
            self.waits_ms.append(wait_ms)
            self.latencies_ms.append(latency_ms)

    def failure(self, kind: str, exc: BaseException) -> None:
        with self.lock:
            setattr(self, kind, getattr(self, kind) + 1)
            if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
                self.read_only_refusals += 1
            message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            if message not in self.samples and len(self.samples) < 3:
                self.samples.append(message)


def _classify(exc: BaseException) -> str:
    if isinstance(exc, PoolOverloaded):
        return "overloaded"
    if isinstance(exc, PoolCheckoutTimeout | psycopg.errors.QueryCanceled):
        return "timeouts"
    if isinstance(exc, psycopg.OperationalError | ConnectionFailed):
        return "connection_errors"
    return "errors"


class _Run:
    """One pool size: clients take request numbers from a shared counter until the count or time is up."""

    def __init__(self, target: Target, workload: Workload, config: LoadTestConfig, size: int) -> None:
        self.target = target
        self.workload = workload
        self.config = config
        self.size = size
        self.tally = _Tally()
        self._next = itertools.count()
        self._taken = 0
        self._taken_lock = threading.Lock()
        self._deadline = 0.0
        self._gate = threading.Barrier(config.clients + 1)
        self._settings = PoolSettings(
            max_size=max(size, 1),
            # every connection open before the surge: the size measured is the size asked for, not what a
            # pool growing one connection at a time reached while the requests were already queued
            min_size=max(size, 1),
            connect_timeout_s=config.connect_timeout_s,
            statement_timeout_ms=config.statement_timeout_ms,
            # by default every client may queue, so the wait is measured rather than shed
            max_waiting=config.max_waiting if config.max_waiting is not None else config.clients,
            application_name=config.application_name,
        )

    def _take(self) -> int | None:
        with self._taken_lock:
            if self._taken >= self.config.requests or time.monotonic() >= self._deadline:
                return None
            self._taken += 1
            return next(self._next)

    def _pause(self, stop: threading.Event) -> None:
        if self.config.pattern == "steady":
            stop.wait(self.config.think_ms / 1000.0)

    def _start_delay(self, client: int) -> float:
        if self.config.pattern == "steady":
            return self.config.ramp_s * client / self.config.clients
        return 0.0

    def _timed_run(self, conn: Any, index: int, started: float, connected: float) -> None:
        """Run request `index` on `conn` and tally it: connection wait and whole latency since `started`."""
        try:
            self.workload.run(conn, index)
        except Exception as exc:
            self.tally.failure(_classify(exc), exc)
        else:
            self.tally.success((connected - started) * 1000.0, (time.perf_counter() - started) * 1000.0)

    def _pooled_client(self, client: int, pool: Any, stop: threading.Event) -> None:
        self._gate.wait()
        stop.wait(self._start_delay(client))
        while (index := self._take()) is not None:
            t0 = time.perf_counter()
            try:
                conn = pool.getconn()
            except Exception as exc:
                self.tally.failure(_classify(exc), exc)
                continue
            try:
                self._timed_run(conn, index, t0, time.perf_counter())
            finally:
                pool.putconn(conn)
            self._pause(stop)

    def _direct_client(self, client: int, stop: threading.Event) -> None:
        kwargs = connection_kwargs(self.target, self._settings, apply=self.config.apply)
        conn: psycopg.Connection[Any] | None = None
        self._gate.wait()
        stop.wait(self._start_delay(client))
        try:
            while (index := self._take()) is not None:
                t0 = time.perf_counter()
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(**kwargs)
                except Exception as exc:
                    self.tally.failure(_classify(exc), exc)
                    continue
                self._timed_run(conn, index, t0, time.perf_counter())
                self._pause(stop)
        finally:
            if conn is not None:
                conn.close()

    def _open_pool(self) -> SurgePool:
        """A pool with all its connections open and idle; ConnectionFailed when the server refuses one of
        them or they are not all open within the open timeout."""
        pool = create_pool(
            self.target, self._settings, apply=self.config.apply, name=f"pgdba-bench-{self.size}", open=False
        )
        with ConnectionRefusals(pool.name) as refusals:
            try:
                pool.open(wait=False)
                stats = self._wait_until_open(pool)
                if stats["pool_available"] >= self.size:
                    return pool
                pool.close()  # with the filter still on: its workers' last refusals are not echoed either
            except BaseException:
                pool.close()
                raise
        opened = f"{stats['pool_available']} of its {self.size} connections open"
        if stats["connections_errors"]:
            raise ConnectionFailed(
                f"pool size {self.size}: the server refused a connection while the pool opened before the "
                f"surge ({opened}){refusals.reason(self.target)}; other sessions may have "
                "taken the free slots: test a smaller size"
            )
        raise ConnectionFailed(
            f"pool size {self.size}: only {opened} within {self.config.open_timeout_s:g} s before the surge "
            "(raise --open-timeout)"
        )

    def _wait_until_open(self, pool: SurgePool) -> dict[str, int]:
        """The pool's stats once all its connections are open, one was refused, or the open timeout passed."""
        deadline = time.monotonic() + self.config.open_timeout_s
        while True:
            stats = pool_stats(pool)
            if stats["pool_available"] >= self.size or stats["connections_errors"]:
                return stats
            if time.monotonic() >= deadline:
                return stats
            time.sleep(OPEN_POLL_S)

    def execute(self, sampler: _PeakSampler) -> SizeResult:
        stop = threading.Event()
        pool = self._open_pool() if self.size > 0 else None
        if pool is not None:
            threads = [
                threading.Thread(target=self._pooled_client, args=(i, pool, stop), daemon=True)
                for i in range(self.config.clients)
            ]
        else:
            threads = [
                threading.Thread(target=self._direct_client, args=(i, stop), daemon=True)
                for i in range(self.config.clients)
            ]
        try:
            for thread in threads:
                thread.start()
            sampler.start()
            self._deadline = time.monotonic() + self.config.time_limit_s
            started = time.perf_counter()
            self._gate.wait(timeout=60)  # surge: every client is released at the same moment
            for thread in threads:
                # a request in flight at the deadline may still take up to the statement timeout
                thread.join()
            duration = time.perf_counter() - started
        finally:
            stop.set()
            sampler.stop()
            if pool is not None:
                self._tally_refused_connections(pool)
                pool.close()
        return self._result(duration, sampler)

    def _tally_refused_connections(self, pool: SurgePool) -> None:
        refused = pool_stats(pool)["connections_errors"]
        self.tally.pool_connection_errors = refused
        if refused:
            self.tally.samples.insert(
                0,
                f"the pool could not open {refused} connection attempt(s): the server refused them "
                "(max_connections or a role/database connection limit reached)",
            )

    def _result(self, duration: float, sampler: _PeakSampler) -> SizeResult:
        tally = self.tally
        ok = len(tally.latencies_ms)
        done = ok + tally.errors + tally.timeouts + tally.overloaded + tally.connection_errors
        return SizeResult(
            pool_size=self.size,
            mode="pool" if self.size > 0 else "direct",
            requests=done,
            ok=ok,
            errors=tally.errors,
            timeouts=tally.timeouts,
            overloaded=tally.overloaded,
            connection_errors=tally.connection_errors,
            not_run=self.config.requests - done,
            duration_s=round(duration, 3),
            throughput_per_s=round(ok / duration, 1) if duration > 0 else 0.0,
            p50_ms=_round(percentile(tally.latencies_ms, 50)),
            p95_ms=_round(percentile(tally.latencies_ms, 95)),
            p99_ms=_round(percentile(tally.latencies_ms, 99)),
            max_ms=_round(max(tally.latencies_ms) if tally.latencies_ms else None),
            wait_p99_ms=_round(percentile(tally.waits_ms, 99)),
            peak_server_connections=sampler.peak_connections,
            peak_active_connections=sampler.peak_active,
            error_samples=tally.samples,
            pool_connection_errors=tally.pool_connection_errors,
            read_only_refusals=tally.read_only_refusals,
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class AbortedPipelineEcho(logging.Filter):
    """Drops psycopg's warning about the PipelineAborted it meets when closing a pipeline (executemany)
    whose statement failed, e.g. an INSERT in a read-only session: that statement's own error is raised and
    counted, the echo only repeats it on stderr. Any other error closing a pipeline is still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (
            record.msg == "error ignored terminating %r: %s"
            and len(args) == 2
            and isinstance(args[1], psycopg.errors.PipelineAborted)
        )


@contextmanager
def _without_aborted_pipeline_echoes() -> Iterator[None]:
    psycopg_logger = logging.getLogger("psycopg")
    echo = AbortedPipelineEcho()
    psycopg_logger.addFilter(echo)
    try:
        yield
    finally:
        psycopg_logger.removeFilter(echo)


def surge_load_test(target: Target, workload: Workload, config: LoadTestConfig) -> LoadTestReport:
    """Run the workload once per pool size (size 0 = direct connections) and measure each run.

    Without config.apply, a workload of statements must be plain reads calling no user-defined VOLATILE
    function (InputError before anything runs) and each request runs in a READ ONLY transaction; every
    session's read-only default is on as well."""
    check_bench_target(target)
    if not config.apply and isinstance(workload, StatementWorkload):
        workload = workload.as_plain_reads()
    with _without_aborted_pipeline_echoes():
        return _measure_each_size(target, workload, config)


def _measure_each_size(target: Target, workload: Workload, config: LoadTestConfig) -> LoadTestReport:
    sampler = _PeakSampler(target, config.application_name, config.sample_interval_s)
    try:
        budget = connection_budget(sampler.connection)
        check_pool_sizes(config, budget)
        if isinstance(workload, StatementWorkload) and workload.read_only:
            check_no_volatile_user_functions(sampler.connection, workload.statements, workload.name)
        server = {**sampler.server(), "dsn": target.masked_dsn, "connection_budget": budget.to_dict()}
        results: list[SizeResult] = []
        for size in config.pool_sizes:
            sampler.wait_until_gone()
            results.append(_Run(target, workload, config, size).execute(sampler))
        sampler.wait_until_gone()
    finally:
        sampler.close()
    chosen, why = recommend_pool_size(results)
    machine = {"cpus": os.cpu_count(), "loopback": is_loopback(target)}
    return LoadTestReport(config, workload.name, server, machine, results, chosen, why)
