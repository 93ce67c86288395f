"""Correctness review of pool sizing: results that were wrong on a real server, each reproduced here."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgdba.embedded import EmbeddedCluster
from pgdba.errors import InputError
from pgdba.pool import LoadTestConfig, PoolSettings, advise_pool, create_pool, surge_load_test
from pgdba.pool.workload import StatementWorkload
from pgdba.target import Target, resolve_target
from tests.clusters import own_cluster
from tests.conftest import TestDatabase

SLEEP_20MS = StatementWorkload(("SELECT pg_sleep(0.02)",), name="sleep-20ms")


@pytest.fixture(scope="module")
def small_cluster() -> Iterator[EmbeddedCluster]:
    """A cluster of its own with max_connections = 20, so a pool can be bigger than the server allows."""
    with own_cluster("pool-review") as cluster:
        yield cluster


@pytest.fixture
def unprivileged_role(db: TestDatabase) -> Iterator[Target]:
    """A login role without pg_read_all_stats / pg_monitor, as a least-privilege monitoring user is."""
    role = f"pool_review_{uuid.uuid4().hex[:8]}"
    db.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD 'review-pw'")
    params = conninfo_to_dict(db.dsn)
    params.pop("passfile", None)
    params.update(user=role, password="review-pw")
    yield Target(make_conninfo(**params), source="--dsn")
    db.execute(f'DROP ROLE "{role}"')


@pytest.mark.catalog
def test_advice_counts_other_roles_connections_when_run_without_pg_read_all_stats(
    db: TestDatabase, unprivileged_role: Target
) -> None:
    others = [psycopg.connect(db.dsn, application_name="grafana") for _ in range(3)]
    try:
        report = advise_pool(unprivileged_role, application_name="edu-api", current_pool_size=10)
    finally:
        for conn in others:
            conn.close()
    limits = report.limits
    # their backend_type is NULL for this role, but they still take max_connections slots
    assert limits.connections_by_application.get("grafana") == 3
    assert limits.other_clients >= 3
    assert report.advice.available_connections <= 120 - 3 - 12 - 3
    assert any("pg_read_all_stats" in note for note in report.advice.notes)


def test_pgbouncer_pool_advice_follows_the_cores_rule_not_the_free_slots(db: TestDatabase) -> None:
    # 60 instances on a 2-core server: 4 active connections in total is all the CPUs can use
    advice = advise_pool(db.target, instances=60, server_cpus=2).advice
    assert advice.pooler_needed
    finding = next(f for f in advice.findings if f.code == "pool.pooler_needed")
    assert "default_pool_size ≈ 4:" in finding.recommendation
    assert finding.metrics["server_side_pool"] == 4


def test_pgbouncer_pool_advice_follows_littles_law_total(db: TestDatabase) -> None:
    # 400 calls/s × 5 ms = 2 busy, × burst 3 = 6 server connections in total, whatever the instance count
    advice = advise_pool(
        db.target, instances=80, peak_calls_per_s=400, mean_call_ms=5.0, server_cpus=16
    ).advice
    assert advice.pooler_needed
    finding = next(f for f in advice.findings if f.code == "pool.pooler_needed")
    assert finding.metrics["server_side_pool"] == 6


def test_bench_never_runs_a_pool_size_the_server_cannot_give(small_cluster: EmbeddedCluster) -> None:
    # a pool of 40 on max_connections 20 used to run, its growth refused by the server ("too many
    # clients"); now it is refused before anything runs, naming the limit
    target = resolve_target(small_cluster.dsn())
    config = LoadTestConfig(pool_sizes=(8, 40), clients=40, requests=400, time_limit_s=60.0)
    with pytest.raises(InputError, match=r"pool size 40 is more than .*max_connections 20"):
        surge_load_test(target, SLEEP_20MS, config)
    report = surge_load_test(target, SLEEP_20MS, LoadTestConfig(pool_sizes=(8,), clients=40, requests=400))
    [small] = report.results
    assert small.clean and small.pool_connection_errors == 0 and small.size_reached
    assert report.recommended_pool_size == 8


def test_pool_sessions_keep_pgappname_and_pgoptions_of_the_environment(
    db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.execute("CREATE SCHEMA app")
    monkeypatch.setenv("PGAPPNAME", "edu-api")
    monkeypatch.setenv("PGOPTIONS", "-c search_path=app")
    with create_pool(db.target, PoolSettings(min_size=1, max_size=1)) as pool, pool.connection() as conn:
        row = conn.execute(
            "SELECT current_setting('application_name'), current_setting('search_path'), "
            "current_setting('statement_timeout')"
        ).fetchone()
        pid = conn.info.backend_pid
        with db.connect() as admin:
            seen = admin.execute("SELECT application_name FROM pg_stat_activity WHERE pid = %s", (pid,))
            assert seen.fetchone() == ("edu-api",)
    assert row == ("edu-api", "app", "1min")


def test_a_pool_setting_holding_a_blank_reaches_its_sessions_whole(db: TestDatabase) -> None:
    """libpq splits `options` at blanks: `-c search_path=app, public` unescaped was two arguments, and the
    server refused the connection."""
    db.execute("CREATE SCHEMA app")
    settings = PoolSettings(min_size=1, max_size=1, extra_settings={"search_path": "app, public"})
    with create_pool(db.target, settings) as pool, pool.connection() as conn:
        row = conn.execute("SELECT current_setting('search_path')").fetchone()
    assert row == ("app, public",)


@pytest.mark.catalog
def test_advice_respects_the_databases_connection_limit(db: TestDatabase) -> None:
    db.execute(f'ALTER DATABASE "{db.name}" CONNECTION LIMIT 6')
    others = [psycopg.connect(db.dsn, application_name="grafana") for _ in range(2)]
    try:
        report = advise_pool(db.target, application_name="edu-api", server_cpus=16, current_pool_size=10)
    finally:
        for conn in others:
            conn.close()
    advice = report.advice
    # a non-superuser application gets "too many connections for database" past 6 − 2 = 4
    assert advice.available_connections == 4
    assert advice.per_instance <= 4
    assert "database connection limit" in [step.rule for step in advice.steps]
    assert "pool.oversubscribed" in [f.code for f in advice.findings]


@pytest.mark.catalog
def test_a_database_connection_limit_above_max_connections_binds_nothing(db: TestDatabase) -> None:
    # PostgreSQL accepts any CONNECTION LIMIT; one past max_connections (or past MAX_BACKENDS) limits nothing
    db.execute(f'ALTER DATABASE "{db.name}" CONNECTION LIMIT 1000000')
    report = advise_pool(db.target, application_name="edu-api", server_cpus=4)
    assert report.limits.database_connection_limit == -1
    assert "database connection limit" not in [step.rule for step in report.advice.steps]
