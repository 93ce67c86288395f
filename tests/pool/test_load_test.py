"""The surge load test and the advice against real servers, including one whose max_connections is 20."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from xml.dom import minidom

import psycopg
import pytest

from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.errors import InputError
from pgdba.pool import LoadTestConfig, advise_pool, surge_load_test
from pgdba.pool.load_test import check_bench_target
from pgdba.pool.workload import StatementWorkload
from pgdba.target import Target, resolve_target
from tests.clusters import own_cluster
from tests.conftest import TestDatabase

SLEEP_20MS = StatementWorkload(("SELECT pg_sleep(0.02)",), name="sleep-20ms")


@pytest.fixture(scope="module")
def small_cluster() -> Iterator[EmbeddedCluster]:
    """A cluster of its own with max_connections = 20, so a surge can exceed it."""
    with own_cluster("pool-small") as cluster:
        yield cluster


def test_seed_test_1_never_exceeds_the_pool_limit(db: TestDatabase) -> None:
    """The user's Test 1 (ab -n 1000 -c 15 against a pool of 20), counted in pg_stat_activity.

    Each request holds its session for 2 ms (a `SELECT 1` is over before the 10 ms sampler can see it
    active, so under the suite's parallel load the sampler could see none).
    """
    config = LoadTestConfig(pool_sizes=(20,), clients=15, requests=1000, time_limit_s=60)
    report = surge_load_test(db.target, StatementWorkload(("SELECT pg_sleep(0.002)",)), config)
    [run] = report.results
    assert run.ok == 1000 and run.failed == 0 and run.not_run == 0
    # the pool of 20 is open before the surge and never grows past it; at most the 15 clients are busy
    assert run.peak_server_connections == 20 and run.size_reached
    assert 1 <= run.peak_active_connections <= 15


@pytest.mark.catalog
def test_surge_above_max_connections_fails_direct_and_the_advised_pool_serves_it(
    small_cluster: EmbeddedCluster,
) -> None:
    target = resolve_target(small_cluster.dsn())
    surge = {"clients": 40, "requests": 400, "time_limit_s": 60.0}

    direct = surge_load_test(target, SLEEP_20MS, LoadTestConfig(pool_sizes=(0,), **surge)).results[0]
    assert direct.connection_errors > 0
    assert any("too many clients" in sample for sample in direct.error_samples)
    assert direct.peak_server_connections <= 20

    advice = advise_pool(target, instances=1).advice
    assert 1 <= advice.per_instance <= advice.available_connections < 20
    pooled = surge_load_test(target, SLEEP_20MS, LoadTestConfig(pool_sizes=(advice.per_instance,), **surge))
    [run] = pooled.results
    assert run.ok == 400 and run.failed == 0
    assert run.peak_server_connections <= advice.per_instance
    assert pooled.recommended_pool_size == advice.per_instance


@pytest.mark.catalog
def test_advice_reads_the_servers_limits_usage_and_query_time(small_cluster: EmbeddedCluster) -> None:
    target = resolve_target(small_cluster.dsn())
    with psycopg.connect(small_cluster.dsn(), autocommit=True) as admin:
        admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        admin.execute("SELECT pg_stat_statements_reset()")
        for _ in range(5):
            admin.execute("SELECT pg_sleep(0.03)")
        others = [
            psycopg.connect(small_cluster.dsn(), application_name=name)
            for name in ("grafana", "edu-api", "edu-api")
        ]
        try:
            report = advise_pool(
                target, instances=2, application_name="edu-api", peak_calls_per_s=400, server_cpus=16
            )
            fast = advise_pool(
                target,
                instances=2,
                application_name="edu-api",
                peak_calls_per_s=400,
                server_cpus=16,
                mean_call_ms=1.0,
            )
        finally:
            for conn in others:
                conn.close()
    limits = report.limits
    assert (limits.max_connections, limits.superuser_reserved_connections) == (20, 3)
    assert limits.app_connections == 2
    assert limits.connections_by_application["grafana"] == 1
    assert limits.other_clients == 2  # grafana and the admin session; the edu-api ones will be its pool
    assert limits.mean_call_ms is not None and limits.calls >= 5
    assert limits.mean_call_ms * limits.calls >= 5 * 30.0  # the five 30 ms sleeps are in the mean
    assert report.advice.available_connections == 20 - 3 - 3 - 2
    assert report.advice.per_instance > fast.advice.per_instance  # slower measured queries, bigger pool


def test_bench_cli_prints_json_and_writes_the_svg_chart(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = tmp_path / "q.sql"
    query.write_text("SELECT 1;\nSELECT count(*) FROM pg_class;\n")
    chart = tmp_path / "chart.svg"
    code = main(
        ["pool", "bench", "--dsn", db.dsn, "--query", str(query), "--pool-sizes", "1,4", "--clients", "8",
         "--requests", "80", "--chart", str(chart), "--format", "json"]
    )  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema_version"] == 1
    assert [r["pool_size"] for r in data["results"]] == [1, 4]
    assert all(r["ok"] == 80 and r["p99_ms"] is not None for r in data["results"])
    assert data["recommended_pool_size"] in (1, 4)
    svg = chart.read_text()
    minidom.parseString(svg)  # well-formed, so the dashboard can inline it
    assert svg.startswith("<svg") and svg.count("<rect") >= 8 and "Connection pool surge test" in svg


def test_advise_cli_json_and_exit_code_on_oversubscription(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pool", "advise", "--dsn", db.dsn, "--instances", "3", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema_version"] == 1 and data["instances"] == 3
    assert data["server"]["max_connections"] == 120
    code = main(["pool", "advise", "--dsn", db.dsn, "--instances", "10", "--pool-size", "20", "-f", "json"])
    assert code == 1
    assert "pool.oversubscribed" in [f["code"] for f in json.loads(capsys.readouterr().out)["findings"]]


def test_bad_input_is_one_line_and_exit_2(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.sql"
    bad.write_text("SELEC oops")
    assert main(["pool", "bench", "--dsn", db.dsn, "--query", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pgdba: error: --query file") and err.count("\n") == 1
    assert main(["pool", "bench", "--dsn", db.dsn, "--query", str(bad), "--pool-sizes", "a,b"]) == 2


def test_bench_refuses_a_remote_server_taken_from_the_environment() -> None:
    remote = resolve_target(None, {"DATABASE_URL": "postgresql://app:secret@db.example.com/prod"})
    with pytest.raises(InputError, match="pass it explicitly with --dsn") as exc:
        check_bench_target(remote)
    assert "secret" not in str(exc.value)
    check_bench_target(Target("postgresql://app@db.example.com/prod", source="--dsn"))
    check_bench_target(resolve_target(None, {"DATABASE_URL": "postgresql://app@127.0.0.1/dev"}))
