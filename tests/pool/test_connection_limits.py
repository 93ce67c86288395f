"""Pool sizes the server can really give: the role's CONNECTION LIMIT in the advice, bench sizes above what
the server can give this role refused, and bench pools open at their full size before the surge."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.errors import ConnectionFailed, InputError
from pgdba.pool import LoadTestConfig, advise_pool, surge_load_test
from pgdba.pool import load_test as load_test_module
from pgdba.pool.load_test import BENCH_APPLICATION_NAME
from pgdba.pool.server_limits import budget_of, connection_budget
from pgdba.pool.workload import StatementWorkload
from pgdba.target import Target, resolve_target
from tests.clusters import own_cluster
from tests.conftest import TestDatabase

SLEEP_20MS = StatementWorkload(("SELECT pg_sleep(0.02)",), name="sleep-20ms")


@dataclass
class Role:
    name: str
    dsn: str

    @property
    def target(self) -> Target:
        return Target(self.dsn, source="--dsn")

    def connect(self, application_name: str) -> psycopg.Connection:
        return psycopg.connect(self.dsn, application_name=application_name, autocommit=True)


def make_role(db: TestDatabase, options: str) -> Role:
    name = f"pool_limit_{uuid.uuid4().hex[:8]}"
    db.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD 'limit-pw' {options}")
    params = conninfo_to_dict(db.dsn)
    params.pop("passfile", None)
    params.update(user=name, password="limit-pw")
    return Role(name, make_conninfo(**params))


@pytest.fixture
def webapp(db: TestDatabase) -> Iterator[Role]:
    """The audit's role: `CREATE ROLE webapp LOGIN CONNECTION LIMIT 10`."""
    role = make_role(db, "CONNECTION LIMIT 10")
    yield role
    db.execute(f'DROP ROLE "{role.name}"')


@pytest.fixture(scope="module")
def small_cluster() -> Iterator[EmbeddedCluster]:
    """A cluster of its own with max_connections = 20."""
    with own_cluster("pool-limits") as cluster:
        yield cluster


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("pgdba: error: ") and captured.err.count("\n") == 1, captured.err
    return captured.err


def bench_connections(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (BENCH_APPLICATION_NAME,)
        ).fetchone()
    assert row is not None
    return int(row[0])


# --- pool advise: the role's CONNECTION LIMIT ---------------------------------------------------------------


@pytest.mark.catalog
def test_the_audit_reproduction_is_held_to_the_roles_connection_limit(
    webapp: Role, capsys: pytest.CaptureFixture[str]
) -> None:
    # 6 instances × pool 5 = 30 connections for a role that may open 10: "too many connections for role"
    code = main(["pool", "advise", "--dsn", webapp.dsn, "--instances", "6", "--pool-size", "5", "-f", "json"])
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    assert data["server"]["role_name"] == webapp.name
    assert data["server"]["role_connection_limit"] == 10
    assert data["binding_limit"] == "role"
    assert data["available_connections"] == 10
    assert data["total"] <= 10 and data["per_instance"] == 1
    assert "role connection limit" in [step["rule"] for step in data["steps"]]
    oversubscribed = next(f for f in data["findings"] if f["code"] == "pool.oversubscribed")
    assert oversubscribed["severity"] == "critical"
    assert oversubscribed["metrics"]["total"] == 30 and oversubscribed["metrics"]["available"] == 10
    assert oversubscribed["metrics"]["binding_limit"] == "role"
    assert f"role {webapp.name}'s CONNECTION LIMIT 10 allows 10" in oversubscribed["title"]
    assert f'too many connections for role "{webapp.name}"' in oversubscribed["recommendation"]


def test_a_prisma_urls_connection_limit_is_the_pool_size_configured_now(
    webapp: Role, capsys: pytest.CaptureFixture[str]
) -> None:
    """Prisma's DATABASE_URL sets each instance's pool (`connection_limit=5`): 6 instances × 5 against a
    role limit of 10 is oversubscribed without --pool-size being given; --pool-size still wins."""
    params = conninfo_to_dict(webapp.dsn)
    url = (
        f"postgresql://{params['user']}:{params['password']}@{params['host']}:{params['port']}/"
        f"{params['dbname']}?connection_limit=5&schema=public"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PGDBA_DSN", raising=False)
        patch.setenv("DATABASE_URL", url)
        assert main(["pool", "advise", "--instances", "6", "-f", "json"]) == 1
        data = json.loads(capsys.readouterr().out)
        assert data["inputs"]["current_pool_size"] == 5
        oversubscribed = next(f for f in data["findings"] if f["code"] == "pool.oversubscribed")
        assert oversubscribed["metrics"]["total"] == 30
        assert any("connection_limit (Prisma's pool)" in note for note in data["notes"])

        assert main(["pool", "advise", "--instances", "6", "--pool-size", "1", "-f", "json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["inputs"]["current_pool_size"] == 1
        assert not any("connection_limit" in note for note in data["notes"])


def test_the_table_says_which_limit_binds(webapp: Role, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pool", "advise", "--dsn", webapp.dsn, "--instances", "6", "-f", "markdown"]) == 0
    out = capsys.readouterr().out
    assert f"bound by role {webapp.name}'s CONNECTION LIMIT 10" in out
    assert "| role connection limit | CONNECTION LIMIT 10 − other sessions of role" in out


@pytest.mark.catalog
def test_the_roles_other_sessions_count_against_its_limit(webapp: Role) -> None:
    others = [webapp.connect("grafana") for _ in range(3)] + [webapp.connect("edu-api") for _ in range(2)]
    try:
        report = advise_pool(webapp.target, application_name="edu-api", server_cpus=16)
    finally:
        for conn in others:
            conn.close()
    limits = report.limits
    assert limits.role_connections_by_application == {"grafana": 3, "edu-api": 2}
    # the edu-api sessions are the application's own: its pool replaces them
    assert limits.other_clients_of_role == 3
    assert report.advice.available_connections == 10 - 3
    assert report.advice.binding_limit == "role"


@pytest.mark.catalog
def test_a_roles_limit_above_the_server_limit_binds_nothing(db: TestDatabase) -> None:
    role = make_role(db, "CONNECTION LIMIT 1000")
    try:
        report = advise_pool(role.target, server_cpus=4)
    finally:
        db.execute(f'DROP ROLE "{role.name}"')
    assert report.limits.role_connection_limit == -1
    assert report.advice.binding_limit == "server"
    assert "role connection limit" not in [step.rule for step in report.advice.steps]


@pytest.mark.catalog
def test_a_superusers_connection_limit_binds_nothing(db: TestDatabase) -> None:
    # the server never holds a superuser to its role's CONNECTION LIMIT
    role = make_role(db, "SUPERUSER CONNECTION LIMIT 1")
    try:
        report = advise_pool(role.target, server_cpus=4, current_pool_size=5)
    finally:
        db.execute(f'DROP ROLE "{role.name}"')
    assert report.limits.role_connection_limit == -1
    assert report.advice.binding_limit == "server"
    assert "pool.oversubscribed" not in [f.code for f in report.advice.findings]


@pytest.mark.catalog
def test_the_tighter_of_database_and_role_limit_binds(db: TestDatabase, webapp: Role) -> None:
    db.execute(f'ALTER DATABASE "{db.name}" CONNECTION LIMIT 6')
    report = advise_pool(webapp.target, server_cpus=16, current_pool_size=8)
    assert report.advice.available_connections == 6
    assert report.advice.binding_limit == "database"
    finding = next(f for f in report.advice.findings if f.code == "pool.oversubscribed")
    assert "the database's CONNECTION LIMIT 6 allows 6" in finding.title
    db.execute(f'ALTER DATABASE "{db.name}" CONNECTION LIMIT 20')
    report = advise_pool(webapp.target, server_cpus=16)
    assert (report.advice.available_connections, report.advice.binding_limit) == (10, "role")


# --- pool bench: sizes the server can give, pools open at their size ----------------------------------------


@pytest.mark.catalog
def test_bench_refuses_a_size_above_max_connections_before_anything_runs(
    small_cluster: EmbeddedCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = tmp_path / "q2.sql"
    query.write_text("select pg_sleep(0.1);\n")
    args = ["--query", str(query), "--pool-sizes", "8,40", "--clients", "40", "--requests", "120"]
    assert main(["pool", "bench", "--dsn", small_cluster.dsn(), *args]) == 2
    err = one_error_line(capsys)
    # the test cluster's superuser may take the reserved slots: 20 less this bench's own session
    assert "pool size 40 is more than the server can give this role now (max_connections 20" in err
    assert "test sizes up to 19" in err
    assert bench_connections(small_cluster.dsn()) == 0
    with pytest.raises(InputError, match="max_connections 20"):
        surge_load_test(resolve_target(small_cluster.dsn()), SLEEP_20MS, LoadTestConfig(pool_sizes=(40,)))


@pytest.mark.catalog
def test_bench_holds_a_non_superuser_to_the_reserved_slots(small_cluster: EmbeddedCluster) -> None:
    with psycopg.connect(small_cluster.dsn(), autocommit=True) as admin:
        admin.execute("CREATE ROLE bench_app LOGIN PASSWORD 'bench-pw'")
    params = conninfo_to_dict(small_cluster.dsn())
    params.pop("passfile", None)
    params.update(user="bench_app", password="bench-pw")
    target = Target(make_conninfo(**params), source="--dsn")
    try:
        # max_connections 20 − superuser_reserved_connections 3 − this bench's session = 16
        with pytest.raises(InputError, match="superuser_reserved_connections 3") as exc:
            surge_load_test(target, SLEEP_20MS, LoadTestConfig(pool_sizes=(17,), clients=17, requests=17))
        assert "test sizes up to 16" in str(exc.value)
        report = surge_load_test(
            target, SLEEP_20MS, LoadTestConfig(pool_sizes=(16,), clients=32, requests=160)
        )
        [run] = report.results
        assert run.clean and run.peak_server_connections == 16 and run.size_reached
        assert report.recommended_pool_size == 16
    finally:
        with psycopg.connect(small_cluster.dsn(), autocommit=True) as admin:
            admin.execute("DROP ROLE bench_app")


@pytest.mark.catalog
def test_bench_refuses_a_size_above_the_roles_connection_limit(
    webapp: Role, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = tmp_path / "q.sql"
    query.write_text("SELECT 1;\n")
    holder = webapp.connect("grafana")
    try:
        args = ["--query", str(query), "--pool-sizes", "4,9,30", "--clients", "30", "--requests", "60"]
        assert main(["pool", "bench", "--dsn", webapp.dsn, *args]) == 2
    finally:
        holder.close()
    err = one_error_line(capsys)
    # CONNECTION LIMIT 10 − grafana − the bench's own session = 8
    assert "pool sizes 9, 30 are more than the server can give this role now" in err
    assert f"role {webapp.name}'s CONNECTION LIMIT 10 − 2 of its connections in use = 8" in err
    assert "test sizes up to 8" in err


@pytest.mark.catalog
def test_a_pool_the_server_refuses_while_it_opens_is_a_clear_error(
    webapp: Role, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # other sessions may take the free slots between the check and the opening: the pool never runs small
    monkeypatch.setattr(load_test_module, "check_pool_sizes", lambda config, budget: None)
    caplog.set_level(logging.WARNING, logger="psycopg.pool")
    config = LoadTestConfig(pool_sizes=(30,), clients=30, requests=60)
    with pytest.raises(ConnectionFailed) as exc:
        surge_load_test(webapp.target, SLEEP_20MS, config)
    message = str(exc.value)
    assert message.startswith("pool size 30: the server refused a connection while the pool opened")
    assert re.search(r"\(\d of its 30 connections open\)", message), message
    assert f'FATAL: too many connections for role "{webapp.name}"' in message
    assert "limit-pw" not in message
    # psycopg_pool's own warnings about the refused connections are not echoed besides the error
    assert not [r for r in caplog.records if "error connecting" in r.getMessage()]


def test_a_pool_not_open_in_time_is_a_clear_error(db: TestDatabase) -> None:
    config = LoadTestConfig(pool_sizes=(20,), clients=20, requests=20, open_timeout_s=0.001)
    with pytest.raises(ConnectionFailed, match=r"pool size 20: only \d+ of its 20 connections open within"):
        surge_load_test(db.target, SLEEP_20MS, config)


def test_each_pool_is_open_at_its_full_size_before_the_surge(db: TestDatabase) -> None:
    # before, a pool started at 4 connections and grew one at a time while the surge queued: a nominal
    # size was never what was measured. 16 clients, one 0.5 s request each: all 16 must run at once.
    config = LoadTestConfig(pool_sizes=(16,), clients=16, requests=16)
    report = surge_load_test(db.target, StatementWorkload(("SELECT pg_sleep(0.5)",)), config)
    [run] = report.results
    assert run.ok == 16 and run.clean
    assert run.peak_server_connections == 16 and run.size_reached is True
    assert run.peak_active_connections == 16
    assert run.max_ms is not None and run.max_ms < 1000  # nobody waited for a connection to be opened
    assert report.to_dict()["results"][0]["size_reached"] is True
    assert report.server["connection_budget"]["limit"] == "max_connections"
    assert report.recommended_pool_size == 16


def budget_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "max_connections": 100,
        "superuser_reserved_connections": 3,
        "reserved_connections": 0,
        "role_name": "webapp",
        "superuser": False,
        "may_use_reserved": False,
        "role_connection_limit": -1,
        "database": "app",
        "database_connection_limit": -1,
        "clients": 5,
        "database_clients": 2,
        "role_clients": 1,
    }
    row.update(overrides)
    return row


def test_the_budget_is_what_the_server_checks_at_connection_start() -> None:
    plain = budget_of(budget_row())
    assert (plain.free, plain.limit) == (92, "max_connections")
    assert plain.arithmetic == (
        "max_connections 100 − superuser_reserved_connections 3 − 5 client connections in use = 92"
    )
    # PostgreSQL 16+: reserved_connections are for superusers and pg_use_reserved_connections only
    assert budget_of(budget_row(reserved_connections=4)).free == 88
    assert budget_of(budget_row(reserved_connections=4, may_use_reserved=True)).free == 92
    assert budget_of(budget_row(reserved_connections=4, superuser=True)).free == 95
    role = budget_of(budget_row(role_connection_limit=10))
    assert (role.free, role.limit) == (9, "role CONNECTION LIMIT")
    database = budget_of(budget_row(role_connection_limit=10, database_connection_limit=6))
    assert (database.free, database.limit) == (4, "database CONNECTION LIMIT")
    # a superuser is held to max_connections only
    assert (
        budget_of(budget_row(superuser=True, role_connection_limit=1, database_connection_limit=1)).free == 95
    )
    assert budget_of(budget_row(clients=200)).free == 0


@pytest.mark.catalog
@pytest.mark.pg(">= 16")
def test_reserved_connections_are_left_to_the_roles_they_are_for() -> None:
    with own_cluster("pool-reserved", reserved_connections="2") as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
            admin.execute("CREATE ROLE plain_app LOGIN PASSWORD 'app-pw'")
            admin.execute(
                "CREATE ROLE trusted_app LOGIN PASSWORD 'app-pw' IN ROLE pg_use_reserved_connections"
            )
        budgets = {}
        for role in ("plain_app", "trusted_app"):
            params = conninfo_to_dict(cluster.dsn())
            params.pop("passfile", None)
            params.update(user=role, password="app-pw")
            with psycopg.connect(make_conninfo(**params)) as conn:
                budgets[role] = connection_budget(conn)
    # max_connections 20 − superuser_reserved_connections 3 (− reserved_connections 2) − this session
    assert budgets["plain_app"].free == 14 and "reserved_connections 2" in budgets["plain_app"].arithmetic
    assert budgets["trusted_app"].free == 16
