"""The pool factory: psycopg_pool pools with the surge preset, fail-fast overload errors and plain stats.

The preset is the user's own choice for class-start surges (node-postgres `max: 20, idleTimeoutMillis:
30000, connectionTimeoutMillis: 5000, statement_timeout/query_timeout: 60000`) translated to psycopg_pool.
node-postgres' client-side `query_timeout` has no psycopg counterpart; the server-side statement_timeout
(same 60 s) is what bounds a query here.
"""

from __future__ import annotations

import logging
import math
import sys
import weakref
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout, TooManyRequests

from pgdba.errors import ConnectionFailed, PgdbaError
from pgdba.target import POOLER_ADVICE, UNSUPPORTED_STARTUP_PARAMETER, Target, mask_password, option_value

# statement_timeout is an int of milliseconds in PostgreSQL
MAX_STATEMENT_TIMEOUT_MS = 2_147_483_647


class PoolOverloaded(PgdbaError):
    """More requests are already queued for a connection than the pool's max_waiting allows."""


class PoolCheckoutTimeout(PgdbaError):
    """No connection became free within the pool's connection timeout."""


@dataclass(frozen=True)
class PoolSettings:
    """How a pool behaves. The defaults are the surge preset; every field can be overridden."""

    max_size: int = 20
    # a few warm connections so the first requests of a surge do not all pay the connection set-up
    min_size: int = 4
    max_idle_s: float = 30.0
    connect_timeout_s: float = 5.0
    statement_timeout_ms: int = 60_000
    # queued requests beyond this fail at once with PoolOverloaded instead of waiting out the timeout (0: none)
    max_waiting: int | None = None
    max_lifetime_s: float = 3600.0
    application_name: str | None = None
    extra_settings: Mapping[str, str] = field(default_factory=dict)
    # False for a pool behind a transaction-pooling PgBouncer, which refuses libpq startup options (and
    # could not keep session settings anyway): no setting is sent then, neither statement_timeout nor the
    # read-only guard nor extra_settings; the role's own settings (ALTER ROLE … SET …) are what hold
    startup_options: bool = True

    def __post_init__(self) -> None:
        if self.max_size < 1:
            raise ValueError("max_size must be at least 1")
        if self.min_size < 0 or self.min_size > self.max_size:
            raise ValueError("min_size must be between 0 and max_size")
        timeouts = (self.connect_timeout_s, self.max_idle_s, self.max_lifetime_s)
        if not all(math.isfinite(t) and t > 0 for t in timeouts):
            raise ValueError("timeouts must be positive finite numbers of seconds")
        if not 0 <= self.statement_timeout_ms <= MAX_STATEMENT_TIMEOUT_MS:
            raise ValueError(f"statement_timeout_ms must be between 0 (none) and {MAX_STATEMENT_TIMEOUT_MS}")
        if self.max_waiting is not None and self.max_waiting < 0:
            raise ValueError("max_waiting must be zero (no limit) or positive")
        if not self.startup_options and self.extra_settings:
            raise ValueError(
                "extra_settings are sent as startup options: with startup_options=False set them on the role "
                "(ALTER ROLE … SET …)"
            )

    @property
    def effective_max_waiting(self) -> int:
        """max_waiting, defaulting to ten requests queued per connection."""
        return self.max_waiting if self.max_waiting is not None else 10 * self.max_size

    @property
    def effective_application_name(self) -> str:
        return self.application_name or default_application_name()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["extra_settings"] = dict(self.extra_settings)
        data["max_waiting"] = self.effective_max_waiting
        data["application_name"] = self.effective_application_name
        return data


SURGE_PRESET = PoolSettings()


def default_application_name() -> str:
    """The running program's name, so pool sessions are recognisable in pg_stat_activity."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return (name or "pgdba")[:63]


def connection_kwargs(target: Target, settings: PoolSettings, *, apply: bool) -> dict[str, Any]:
    """libpq keywords for every pool session: application_name, timeouts, read-only unless apply."""
    params = target.params()
    if settings.startup_options:
        session = {
            "statement_timeout": str(settings.statement_timeout_ms),
            "default_transaction_read_only": "off" if apply else "on",
            **settings.extra_settings,
        }
        options = " ".join(f"-c {name}={option_value(value)}" for name, value in session.items())
        # after the user's own options (PGOPTIONS too), with target_session_attrs as a read-only session needs
        params = target.startup_parameters(options, read_only=not apply)
    elif not apply:
        raise ValueError(
            "a read-only pool needs its startup options (default_transaction_read_only): with "
            "startup_options=False pass apply=True, and the role's own settings are what hold"
        )
    if settings.application_name:
        params["application_name"] = settings.application_name
    else:
        # libpq's order: the DSN's application_name, then PGAPPNAME, then this fallback
        params["fallback_application_name"] = str(
            params.get("fallback_application_name") or default_application_name()
        )
    params["connect_timeout"] = max(1, round(settings.connect_timeout_s))
    params["autocommit"] = True
    return params


_LIVE_POOLS: weakref.WeakValueDictionary[str, SurgePool | AsyncSurgePool] = weakref.WeakValueDictionary()


class SurgePool(ConnectionPool[psycopg.Connection[Any]]):
    """A ConnectionPool whose checkout failures are pgdba errors with a clear message."""

    def getconn(self, timeout: float | None = None) -> psycopg.Connection[Any]:
        try:
            return super().getconn(timeout)
        except TooManyRequests as exc:
            raise PoolOverloaded(_overloaded_message(self.name, self.max_waiting, self.max_size)) from exc
        except PoolTimeout as exc:
            raise PoolCheckoutTimeout(
                _timeout_message(self.name, self.timeout if timeout is None else timeout, self.max_size)
            ) from exc


class AsyncSurgePool(AsyncConnectionPool[psycopg.AsyncConnection[Any]]):
    """The asyncio twin of SurgePool."""

    async def getconn(self, timeout: float | None = None) -> psycopg.AsyncConnection[Any]:
        try:
            return await super().getconn(timeout)
        except TooManyRequests as exc:
            raise PoolOverloaded(_overloaded_message(self.name, self.max_waiting, self.max_size)) from exc
        except PoolTimeout as exc:
            raise PoolCheckoutTimeout(
                _timeout_message(self.name, self.timeout if timeout is None else timeout, self.max_size)
            ) from exc


def _overloaded_message(name: str, max_waiting: int, max_size: int) -> str:
    return (
        f"pool {name!r} overloaded: {max_waiting} requests already wait for one of its {max_size} "
        "connections (max_waiting); shed load or make queries faster — a bigger pool only helps if "
        "`pgdba pool advise` says the server has room"
    )


def _timeout_message(name: str, timeout: float, max_size: int) -> str:
    return (
        f"pool {name!r}: no connection free within {timeout:g} s (all {max_size} busy or the server "
        "refused new ones)"
    )


class ConnectionRefusals(logging.Filter):
    """Keeps the first "error connecting" psycopg_pool logs for one pool while it opens, and drops the
    record: the error raised when the pool does not open quotes it once, instead of a warning per retry.
    Filters psycopg_pool's logger inside `with ConnectionRefusals(name) as refusals:`."""

    def __init__(self, pool_name: str) -> None:
        super().__init__()
        self._pool_name = pool_name
        self.first = ""

    def __enter__(self) -> ConnectionRefusals:
        logging.getLogger("psycopg.pool").addFilter(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        logging.getLogger("psycopg.pool").removeFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if record.msg == "error connecting in %r: %s" and len(args) == 2 and args[0] == self._pool_name:
            text = str(args[1]).strip()
            if text and not self.first:
                # libpq's "connection to server at … failed: FATAL:  …": the server's own words
                first = text.splitlines()[0]
                self.first = " ".join(first[first.find("FATAL:") :].split()) if "FATAL:" in first else first
            return False
        return True

    def reason(self, target: Target, pooler_advice: str = POOLER_ADVICE) -> str:
        """The server's first refusal after ": ", any password masked, and the pooler advice where a pooler
        refused the startup options; "" when none was logged (a timeout without a refusal)."""
        if not self.first:
            return ""
        advice = f": {pooler_advice}" if UNSUPPORTED_STARTUP_PARAMETER in self.first else ""
        return f": {mask_password(self.first, target.secrets)}{advice}"


APPLICATION_POOLER_ADVICE = (
    "a connection pooler (such as PgBouncer) refuses the startup options that set the pool's statement_timeout "
    "and read-only guard: point the pool at PostgreSQL itself, or, for an application pool that must go "
    "through the pooler, pass PoolSettings(startup_options=False) and set statement_timeout on the role"
)


def _pool_arguments(target: Target, settings: PoolSettings, apply: bool, name: str | None) -> dict[str, Any]:
    """What the sync and the async pool are both built with: the preset's sizes and timeouts."""
    return {
        "kwargs": connection_kwargs(target, settings, apply=apply),
        "min_size": settings.min_size,
        "max_size": settings.max_size,
        "timeout": settings.connect_timeout_s,
        "max_waiting": settings.effective_max_waiting,
        "max_idle": settings.max_idle_s,
        "max_lifetime": settings.max_lifetime_s,
        "name": name or f"pgdba-pool-{len(_LIVE_POOLS) + 1}",
    }


def create_pool(
    target: Target,
    settings: PoolSettings = SURGE_PRESET,
    *,
    apply: bool = False,
    name: str | None = None,
    open: bool = True,
) -> SurgePool:
    """A psycopg_pool ConnectionPool with the surge preset, a health check on checkout and max_waiting.

    With open=True (default) it waits for min_size connections and raises ConnectionFailed if it cannot.

    Sessions are read-only unless apply=True (an application pool that writes passes apply=True).
    """
    pool = SurgePool(
        **_pool_arguments(target, settings, apply, name), check=ConnectionPool.check_connection, open=False
    )
    _LIVE_POOLS[pool.name] = pool
    if not open:
        return pool
    with ConnectionRefusals(pool.name) as refusals:
        try:
            # wait for the warm connections: a wrong DSN fails here, not at the first request
            pool.open(wait=True, timeout=settings.connect_timeout_s)
        except PoolTimeout:
            pool.close()  # with the filter still on: its workers' last refusals are not echoed either
            raise ConnectionFailed(
                f"pool {pool.name!r}: could not open {settings.min_size} connections to {target.where} "
                f"within {settings.connect_timeout_s:g} s{refusals.reason(target, APPLICATION_POOLER_ADVICE)}"
            ) from None
    return pool


def surge_pool_factory(
    settings: PoolSettings = SURGE_PRESET, *, apply: bool = True
) -> Callable[[str, int], SurgePool]:
    """A `pool_factory(conninfo, size)` for code that sizes its own pool (the demo workload): the surge
    preset with max_size=size, opened and warm. apply defaults to True because such workloads write."""

    def factory(conninfo: str, size: int) -> SurgePool:
        sized = replace(settings, max_size=size, min_size=min(settings.min_size, size))
        return create_pool(Target(conninfo, source="pool_factory"), sized, apply=apply)

    return factory


def create_async_pool(
    target: Target,
    settings: PoolSettings = SURGE_PRESET,
    *,
    apply: bool = False,
    name: str | None = None,
) -> AsyncSurgePool:
    """The asyncio variant of create_pool; open it with `await pool.open()` or `async with pool`."""
    pool = AsyncSurgePool(
        **_pool_arguments(target, settings, apply, name),
        check=AsyncConnectionPool.check_connection,
        open=False,
    )
    _LIVE_POOLS[pool.name] = pool
    return pool


def pool_stats(pool: ConnectionPool[Any] | AsyncConnectionPool[Any]) -> dict[str, int]:
    """psycopg_pool's counters and gauges as a plain dict, every documented key present (0 when unset)."""
    keys = (
        "pool_min",
        "pool_max",
        "pool_size",
        "pool_available",
        "requests_waiting",
        "requests_num",
        "requests_queued",
        "requests_wait_ms",
        "requests_errors",
        "usage_ms",
        "returns_bad",
        "connections_num",
        "connections_ms",
        "connections_errors",
        "connections_lost",
    )
    stats = pool.get_stats()
    return {key: int(stats.get(key, 0)) for key in keys}


def all_pool_stats() -> dict[str, dict[str, int]]:
    """Stats of every open pool this process created, by pool name (what a /metrics endpoint reads)."""
    return {name: pool_stats(pool) for name, pool in list(_LIVE_POOLS.items()) if not pool.closed}
