"""The demo's traffic and class-start surge through pgdba's pool: the bench's `--workload demo` and the
demo's own run_workload with the surge pool as its pool_factory."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from pgdba.cli import main
from pgdba.demo.build import build_demo_database, create_demo_database
from pgdba.demo.traffic_plan import SURGE_SCENARIO
from pgdba.demo.workload import APPLICATION_NAME, run_workload
from pgdba.embedded import EmbeddedCluster
from pgdba.pool import SurgePool, pool_stats, surge_pool_factory
from pgdba.pool.demo_workload import demo_tasks
from pgdba.target import Target, resolve_target

TINY_SCALE = 0.01


@pytest.fixture(scope="module")
def demo_db(pg_cluster: EmbeddedCluster) -> Iterator[tuple[Target, str]]:
    name = f"pooldemo_{uuid.uuid4().hex[:10]}"
    target = create_demo_database(resolve_target(pg_cluster.dsn()), name)
    build_demo_database(target, scale=TINY_SCALE)
    yield target, pg_cluster.dsn(name)
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_demo_tasks_end_each_round_with_a_class_start_surge(demo_db: tuple[Target, str]) -> None:
    tasks = demo_tasks(demo_db[0], rounds=2, surge_size=10)
    surge = [t for t in tasks if t.scenario == SURGE_SCENARIO]
    assert 2 <= len(surge) <= 20
    assert tasks[-1].scenario == SURGE_SCENARIO


def test_bench_runs_the_demo_workload_through_each_pool_size(
    demo_db: tuple[Target, str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "pool",
        "bench",
        "--dsn",
        demo_db[1],
        "--workload",
        "demo",
        "--pool-sizes",
        "2,6",
        "--clients",
        "20",
    ]
    code = main([*args, "--requests", "200", "--apply", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["workload"].startswith("demo (")
    for result in data["results"]:
        assert result["ok"] == 200 and result["failed"] == 0, result["error_samples"]
        assert result["peak_server_connections"] <= result["pool_size"]


def test_demo_run_workload_uses_the_surge_pool(demo_db: tuple[Target, str]) -> None:
    pools: list[SurgePool] = []
    factory = surge_pool_factory()

    def recording_factory(conninfo: str, size: int) -> SurgePool:
        pools.append(factory(conninfo, size))
        return pools[-1]

    result = run_workload(
        demo_db[0], rounds=2, workers=4, surge_size=20, surge_every=1, pool_factory=recording_factory
    )
    assert result.errors == 0, result.error_messages
    assert result.scenarios[SURGE_SCENARIO].calls > 0
    [pool] = pools
    assert pool.max_size == 4 and pool.closed
    assert pool.kwargs is not None and pool.kwargs["application_name"] == APPLICATION_NAME
    stats = pool_stats(pool)
    # every scenario call and each roster read checked a connection out of this pool, and none failed
    assert stats["requests_num"] == result.calls and stats["requests_errors"] == 0


def test_a_read_only_demo_bench_reports_the_failed_writes_without_psycopg_pipeline_echoes(
    demo_db: tuple[Target, str], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    args = ["pool", "bench", "--dsn", demo_db[1], "--workload", "demo", "--pool-sizes", "0,2"]
    code = main([*args, "--clients", "10", "--requests", "120", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1  # the writes failed in the read-only sessions: no size qualifies
    samples = " ".join(s for r in data["results"] for s in r["error_samples"])
    assert "ReadOnlySqlTransaction" in samples  # the real error is still reported
    assert data["results"][0]["failed"] > 0
    echoes = [r for r in caplog.records if r.getMessage().startswith("error ignored terminating")]
    assert echoes == []


def test_only_the_aborted_pipeline_echo_is_silenced() -> None:
    from pgdba.pool.load_test import AbortedPipelineEcho

    def record(error: Exception) -> logging.LogRecord:
        return logging.LogRecord(
            "psycopg",
            logging.WARNING,
            __file__,
            1,
            "error ignored terminating %r: %s",
            ("<pipe>", error),
            None,
        )

    echo = AbortedPipelineEcho()
    assert not echo.filter(record(psycopg.errors.PipelineAborted("pipeline aborted")))
    assert echo.filter(
        record(psycopg.OperationalError("consuming input failed: server closed the connection"))
    )
