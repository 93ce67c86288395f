"""Connection pool: the surge-ready pool factory, size advice from the server's limits, the surge load test."""

from pgdba.pool.advice import AdviceInputs, PoolAdvice, pool_size_advice
from pgdba.pool.advise_server import PoolAdviceReport, advise_pool
from pgdba.pool.factory import (
    SURGE_PRESET,
    AsyncSurgePool,
    PoolCheckoutTimeout,
    PoolOverloaded,
    PoolSettings,
    SurgePool,
    all_pool_stats,
    create_async_pool,
    create_pool,
    pool_stats,
    surge_pool_factory,
)
from pgdba.pool.load_test import LoadTestConfig, LoadTestReport, SizeResult, surge_load_test

__all__ = [
    "SURGE_PRESET",
    "AdviceInputs",
    "AsyncSurgePool",
    "LoadTestConfig",
    "LoadTestReport",
    "PoolAdvice",
    "PoolAdviceReport",
    "PoolCheckoutTimeout",
    "PoolOverloaded",
    "PoolSettings",
    "SizeResult",
    "SurgePool",
    "advise_pool",
    "all_pool_stats",
    "create_async_pool",
    "create_pool",
    "pool_size_advice",
    "pool_stats",
    "surge_load_test",
    "surge_pool_factory",
]
