"""A seeded database with a little workload, and clients of the API over it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

import pgdba.demo as demo_package
from pgdba.advisor.workload import queries_from_statements
from pgdba.alerts.check import check_alerts
from pgdba.alerts.rules import load_rules
from pgdba.api.app import create_app
from pgdba.api.settings import ApiSettings
from pgdba.backup import find_backup, open_storage, record_restore_test, restore_test, run_backup
from pgdba.demo.build import build_demo_database, create_demo_database
from pgdba.demo.workload import run_workload
from pgdba.embedded import EmbeddedCluster
from pgdba.history.snapshot import take_snapshot
from pgdba.history.store import open_store
from pgdba.pool.load_test import LoadTestConfig, LoadTestReport, surge_load_test
from pgdba.pool.workload import StatementWorkload
from pgdba.render import to_json
from pgdba.server import load_server_facts
from pgdba.target import Target, resolve_target, session
from tests.conftest import TestDatabase

TOKEN = "test-token-5f0c2a"
DEMO_PRISMA = Path(demo_package.__file__).parent / "schema.prisma"


def run_lesson_workload(db: TestDatabase, rounds: int = 5) -> None:
    with db.connect() as conn:
        for course in range(rounds):
            conn.execute("SELECT id, title FROM lesson WHERE course_id = %s", (course,))
        if conn.info.server_version >= 150000:
            conn.execute("SELECT pg_stat_force_next_flush()")


@pytest.fixture
def seeded(db: TestDatabase) -> TestDatabase:
    with db.connect() as conn:
        # autovacuum off: its 500 dead rows pass autovacuum's trigger (450), and the maintenance plan the
        # tests read must not lose them to a worker's visit in the middle of a test
        conn.execute(
            "CREATE TABLE lesson (id serial PRIMARY KEY, course_id int, title text) WITH (autovacuum_enabled = off)"
        )
        conn.execute("CREATE INDEX lesson_title_idx ON lesson (title)")
        conn.execute(
            "INSERT INTO lesson (course_id, title) SELECT i % 20, 't' || i FROM generate_series(1, 2000) i"
        )
        conn.execute("DELETE FROM lesson WHERE id % 4 = 0")
    run_lesson_workload(db)
    return db


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    return str(tmp_path / "history.sqlite3")


@pytest.fixture
def client(seeded: TestDatabase, store_path: str) -> TestClient:
    return TestClient(create_app(ApiSettings(seeded.target, history_store=store_path)))


@pytest.fixture
def token_client(seeded: TestDatabase, store_path: str) -> TestClient:
    app = create_app(ApiSettings(seeded.target, token=TOKEN, history_store=store_path))
    return TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})


@dataclass
class LiveDashboard:
    """`pgdba serve` in a subprocess on a free loopback port, over a small demo database."""

    url: str
    target: Target
    store: str

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, headers={"Authorization": f"Bearer {TOKEN}"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 180.0
) -> None:
    """Poll /healthz until the server answers (or fail with its stderr if it exits)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"pgdba serve exited: {log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)  # not synchronisation: the poll interval of a readiness check
    raise AssertionError(f"pgdba serve did not answer within {timeout_s:.0f} s")


def small_pool_bench(target: Target) -> LoadTestReport:
    """A surge load test small enough for a test: two pool sizes, a read-only statement."""
    workload = StatementWorkload(("SELECT count(*) FROM pg_class",), name="catalog-count")
    config = LoadTestConfig(pool_sizes=(2, 4), clients=8, requests=40, time_limit_s=20)
    return surge_load_test(target, workload, config)


@pytest.fixture
def workload_recorded(live_dashboard: LiveDashboard) -> None:
    """The demo's workload in pg_stat_statements, for pages that advise on it (Indexes). live_dashboard is
    built once per test process, and a test file that ran since may have reset pg_stat_statements for the
    whole cluster (several do): the workload is played again then."""
    with session(live_dashboard.target) as conn:
        if queries_from_statements(conn, load_server_facts(conn)):
            return
    run_workload(live_dashboard.target, rounds=2, workers=2)


@pytest.fixture(scope="session")
def live_dashboard(
    pg_cluster: EmbeddedCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveDashboard]:
    admin = resolve_target(pg_cluster.dsn())
    name = f"demo_{uuid.uuid4().hex[:10]}"
    target = create_demo_database(admin, name)
    build_demo_database(target, scale=0.02)
    store = str(tmp_path_factory.mktemp("history") / "history.sqlite3")
    with open_store(store) as history:
        # snapshots between traffic, as cron would take them; the last traffic is the Queries page's delta
        for _ in range(2):
            run_workload(target, rounds=2, workers=2)
            with session(target) as conn:
                take_snapshot(conn, load_server_facts(conn), history, target.key)
        run_workload(target, rounds=2, workers=2)
        check_alerts(target, history, load_rules())  # the Alerts page shows what the last check recorded
    backups = tmp_path_factory.mktemp("backups")
    storage = open_storage(f"file://{backups}")
    taken = find_backup(storage, run_backup(target, storage).backup_id, target.database)
    record_restore_test(storage, taken, restore_test(storage, taken, target), store)
    bench = tmp_path_factory.mktemp("bench") / "pool-bench.json"
    bench.write_text(to_json(small_pool_bench(target).to_dict()))
    server_log = tmp_path_factory.mktemp("serve") / "stderr.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # with a token, so the browser goes through Basic auth and schemathesis can reach the POST actions
    env = {**os.environ, "PGDBA_TOKEN": TOKEN}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pgdba",
            "serve",
            "--dsn",
            target.dsn,
            "--port",
            str(port),
            "--store",
            store,
            "--pool-bench",
            str(bench),
            "--backup-storage",
            f"file://{backups}",
            "--schema-source",
            f"prisma:{DEMO_PRISMA}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=server_log.open("wb"),  # a file, not a pipe: a full pipe would block the server
    )
    try:
        wait_until_serving(url, process, server_log)
        yield LiveDashboard(url, target, store)
    finally:
        process.terminate()
        process.wait(timeout=30)
        with admin.connect(apply=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
