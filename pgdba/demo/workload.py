"""Replay the e-learning application's traffic against the demo database.

Worker threads share one connection pool whose sessions say `application_name=elearning-app`, as the real
backend's would. Traffic comes in rounds: each round is a shuffled mix of scenarios (lesson views, progress
updates, behaviour logging, quiz submissions, dashboards, sign-ins, catalogue browsing, an N+1 list page);
every few rounds a class starts and its students all open the same lesson at once (the surge).

The plan (who does what, with which parameters) comes from a seeded random generator, so two runs with the
same seed against the same database send the same statements. Timings are service times per scenario call,
measured from the moment a worker holds a connection.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from psycopg import conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from pgdba.demo import queries as q
from pgdba.demo.app_catalog import load_catalog
from pgdba.demo.scenarios import SCENARIO_FUNCTIONS
from pgdba.demo.traffic_plan import (
    DEFAULT_SEED,
    DEFAULT_SURGE_EVERY,
    DEFAULT_SURGE_SIZE,
    ROSTER_SCENARIO,
    SCENARIOS,
    SURGE_SCENARIO,
    Round,
    Surge,
    TrafficPlanner,
)
from pgdba.errors import ConnectionFailed, InputError, NotAvailable
from pgdba.target import Target

APPLICATION_NAME = "elearning-app"
APP_STATEMENT_TIMEOUT_MS = 60_000  # the user's backend pool sets statement_timeout: 60000
DEFAULT_ROUNDS = 30
DEFAULT_WORKERS = 8
POOL_OPEN_TIMEOUT_S = 30.0

Progress = Callable[[str, int, int], None]


class WorkloadPool(Protocol):
    """What the workload needs from a pool: psycopg_pool.ConnectionPool, or pgdba's own pool."""

    def connection(self) -> AbstractContextManager[psycopg.Connection[Any]]: ...

    def close(self) -> None: ...


PoolFactory = Callable[[str, int], WorkloadPool]
"""pool_factory(conninfo, size) -> an open pool of `size` autocommit connections to `conninfo`."""


@dataclass(frozen=True)
class ScenarioTiming:
    scenario: str
    calls: int
    statements: int
    errors: int
    total_ms: float
    mean_ms: float
    p50_ms: float
    p95_ms: float
    max_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "calls": self.calls,
            "statements": self.statements,
            "errors": self.errors,
            "total_ms": round(self.total_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
            "p50_ms": round(self.p50_ms, 3),
            "p95_ms": round(self.p95_ms, 3),
            "max_ms": round(self.max_ms, 3),
        }


@dataclass
class WorkloadResult:
    seed: int
    workers: int
    rounds: int
    elapsed_s: float
    scenarios: dict[str, ScenarioTiming]
    error_messages: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(t.calls for t in self.scenarios.values())

    @property
    def statements(self) -> int:
        return sum(t.statements for t in self.scenarios.values())

    @property
    def errors(self) -> int:
        return sum(t.errors for t in self.scenarios.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "workers": self.workers,
            "rounds": self.rounds,
            "elapsed_s": round(self.elapsed_s, 3),
            "calls": self.calls,
            "statements": self.statements,
            "errors": self.errors,
            "error_messages": list(self.error_messages),
            "scenarios": {name: timing.to_dict() for name, timing in self.scenarios.items()},
        }


class _Recorder:
    """Collects per-call timings from the worker threads."""

    MAX_MESSAGES = 5

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.durations: dict[str, list[float]] = {name: [] for name in SCENARIOS}
        self.statements: dict[str, int] = dict.fromkeys(SCENARIOS, 0)
        self.errors: dict[str, int] = dict.fromkeys(SCENARIOS, 0)
        self.messages: list[str] = []

    def record(self, scenario: str, ms: float, statements: int) -> None:
        with self._lock:
            self.durations[scenario].append(ms)
            self.statements[scenario] += statements

    def fail(self, scenario: str, error: BaseException) -> None:
        with self._lock:
            self.errors[scenario] += 1
            message = f"{scenario}: {type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
            if len(self.messages) < self.MAX_MESSAGES and message not in self.messages:
                self.messages.append(message)

    def timings(self) -> dict[str, ScenarioTiming]:
        result = {}
        for name in SCENARIOS:
            values = sorted(self.durations[name])
            if not values and not self.errors[name]:
                continue
            total = sum(values)
            result[name] = ScenarioTiming(
                scenario=name,
                calls=len(values),
                statements=self.statements[name],
                errors=self.errors[name],
                total_ms=total,
                mean_ms=total / len(values) if values else 0.0,
                p50_ms=_percentile(values, 0.50),
                p95_ms=_percentile(values, 0.95),
                max_ms=values[-1] if values else 0.0,
            )
        return result


def _percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for no values)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def application_conninfo(target: Target) -> str:
    """The target's connection string as the application would use it: its own name and timeout, read-write."""
    params = target.params()
    options = f"{params.get('options') or ''} -c statement_timeout={APP_STATEMENT_TIMEOUT_MS}".strip()
    params.update(application_name=APPLICATION_NAME, options=options)
    params.setdefault("connect_timeout", target.connect_timeout_s)
    return conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})


def open_application_pool(conninfo_string: str, size: int) -> ConnectionPool:
    """The default pool: psycopg_pool with `size` autocommit connections, opened and filled."""
    pool = ConnectionPool(
        conninfo_string,
        min_size=size,
        max_size=size,
        kwargs={"autocommit": True},
        open=False,
        name=APPLICATION_NAME,
    )
    try:
        pool.open(wait=True, timeout=POOL_OPEN_TIMEOUT_S)
    except PoolTimeout:
        pool.close()
        raise
    return pool


def run_workload(
    target: Target,
    *,
    rounds: int | None = None,
    duration_s: float | None = None,
    workers: int = DEFAULT_WORKERS,
    seed: int = DEFAULT_SEED,
    surge_size: int = DEFAULT_SURGE_SIZE,
    surge_every: int = DEFAULT_SURGE_EVERY,
    pool_factory: PoolFactory | None = None,
    progress: Progress | None = None,
) -> WorkloadResult:
    """Replay the application's traffic for `rounds` rounds (default 30), or for about `duration_s` seconds.

    Writes to the database (behaviour logs, progress, attempts): run it against the demo database only.
    """
    if rounds is not None and duration_s is not None:
        raise InputError("give either rounds or duration_s, not both")
    if rounds is None and duration_s is None:
        rounds = DEFAULT_ROUNDS
    if rounds is not None and rounds < 1:
        raise InputError(f"rounds must be at least 1, got {rounds}")
    if duration_s is not None and duration_s <= 0:
        raise InputError(f"duration_s must be positive, got {duration_s}")
    if not 1 <= workers <= 64:
        raise InputError(f"workers must be between 1 and 64, got {workers}")
    if surge_size < 0 or surge_every < 1:
        raise InputError("surge_size must be >= 0 and surge_every >= 1")

    catalog = load_catalog(target)
    planner = TrafficPlanner(catalog, seed, surge_size, surge_every)
    recorder = _Recorder()
    factory = pool_factory or open_application_pool
    try:
        pool = factory(application_conninfo(target), workers)
    except (PoolTimeout, psycopg.OperationalError):
        raise ConnectionFailed(f"the workload pool cannot connect to {target.masked_dsn}") from None

    started = time.perf_counter()
    done = 0
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="elearning-app") as executor:
            while True:
                elapsed = time.perf_counter() - started
                if rounds is not None and done >= rounds:
                    break
                if duration_s is not None and elapsed >= duration_s:
                    break
                plan = planner.round(done)
                _run_round(executor, pool, plan, recorder, seed, done)
                done += 1
                if progress:
                    if rounds is not None:
                        progress("workload", done, rounds)
                    else:
                        progress(
                            "workload",
                            min(int(time.perf_counter() - started), int(duration_s or 0)),
                            int(duration_s or 0),
                        )
    finally:
        pool.close()
    elapsed = time.perf_counter() - started

    timings = recorder.timings()
    if timings and all(t.calls == 0 for t in timings.values()):
        raise NotAvailable("every workload call failed: " + "; ".join(recorder.messages))
    return WorkloadResult(seed, workers, done, elapsed, timings, list(recorder.messages))


def _run_round(
    executor: ThreadPoolExecutor, pool: WorkloadPool, plan: Round, recorder: _Recorder, seed: int, index: int
) -> None:
    futures = [executor.submit(_run_call, pool, task.scenario, task.args, recorder) for task in plan.tasks]
    _wait(futures)
    if plan.surge is None:
        return
    students = _roster(pool, plan.surge, recorder)
    # every student of the class at once: the whole burst is queued before the first one finishes
    surge_calls = [
        executor.submit(
            _run_call,
            pool,
            SURGE_SCENARIO,
            (student, plan.surge.course, plan.surge.lesson, _surge_session(seed, index, student)),
            recorder,
        )
        for student in students
    ]
    _wait(surge_calls)


def _roster(pool: WorkloadPool, surge: Surge, recorder: _Recorder) -> list[uuid.UUID]:
    try:
        with pool.connection() as conn:
            started = time.perf_counter()
            rows = conn.execute(q.COURSE_ROSTER, (surge.course, surge.size)).fetchall()
            recorder.record(ROSTER_SCENARIO, (time.perf_counter() - started) * 1000, 1)
    except (psycopg.Error, PoolTimeout) as exc:
        recorder.fail(ROSTER_SCENARIO, exc)
        return []
    return [row[0] for row in rows]


def _surge_session(seed: int, index: int, student: uuid.UUID) -> str:
    return hashlib.md5(f"{seed}:{index}:{student}".encode(), usedforsecurity=False).hexdigest()[:16]


def _run_call(pool: WorkloadPool, scenario: str, args: tuple[Any, ...], recorder: _Recorder) -> None:
    try:
        with pool.connection() as conn:
            started = time.perf_counter()
            statements = SCENARIO_FUNCTIONS[scenario](conn, *args)
            recorder.record(scenario, (time.perf_counter() - started) * 1000, statements)
    except (psycopg.Error, PoolTimeout) as exc:
        recorder.fail(scenario, exc)


def _wait(futures: list[Future[None]]) -> None:
    for future in futures:
        future.result()
