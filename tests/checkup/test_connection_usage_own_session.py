"""Connection use leaves pgdba's own session out, everywhere it is reported: the collector, the check-up's
connection headroom, `alerts check` and the Prometheus /metrics series (as the API's Connections page does).

A private cluster (max_connections 20, 3 reserved: 17 usable) so that no other test's session is counted."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pgdba.alerts.check import check_alerts
from pgdba.alerts.rules import load_rules
from pgdba.api.metrics import metrics_registry
from pgdba.checkup import run_checkup
from pgdba.embedded import EmbeddedCluster
from pgdba.history.store import HistoryStore
from pgdba.stats.activity import connection_usage
from pgdba.target import resolve_target
from tests.clusters import own_cluster

APPLICATION_SESSIONS = 5
USABLE = 20 - 3  # max_connections - superuser_reserved_connections
APP_ROLE = "app_owner"
APP_PASSWORD = "app-pw-for-the-test"
OTHER_CLIENT_BACKENDS = """
SELECT count(*)
  FROM pg_stat_activity
 WHERE backend_type = 'client backend'
   AND pid <> pg_backend_pid()
"""
WAIT_FOR_CLIENT_BACKENDS = f"""
DO $$
BEGIN
  FOR i IN 1..400 LOOP
    EXIT WHEN ({OTHER_CLIENT_BACKENDS}) = current_setting('pgdba_test.expected')::int;
    PERFORM pg_stat_clear_snapshot();
    PERFORM pg_sleep(0.025);
  END LOOP;
END $$
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmbeddedCluster]:
    with own_cluster("own-session") as started:
        with psycopg.connect(started.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{APP_PASSWORD}'")
        yield started


def _application_dsn(cluster: EmbeddedCluster) -> str:
    return f"postgresql://{APP_ROLE}:{APP_PASSWORD}@127.0.0.1:{cluster.port}/postgres"


def _client_backends_are(cluster: EmbeddedCluster, expected: int) -> None:
    """Wait (bounded, polling the server) until exactly `expected` client sessions other than the poller
    exist: a closed client's backend leaves pg_stat_activity a moment after the client."""
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("SELECT set_config('pgdba_test.expected', %s, false)", (str(expected),))
        conn.execute(WAIT_FOR_CLIENT_BACKENDS)
        found = conn.execute(OTHER_CLIENT_BACKENDS).fetchone()
    assert found == (expected,), f"expected {expected} other client sessions, found {found}"


@pytest.fixture
def application(cluster: EmbeddedCluster) -> Iterator[int]:
    """APPLICATION_SESSIONS sessions of an ordinary role, open for the test."""
    _client_backends_are(cluster, 0)
    with ExitStack() as stack:
        for _ in range(APPLICATION_SESSIONS):
            stack.enter_context(psycopg.connect(_application_dsn(cluster), autocommit=True))
        _client_backends_are(cluster, APPLICATION_SESSIONS)
        yield APPLICATION_SESSIONS


@pytest.mark.catalog
def test_connection_usage_does_not_count_pgdbas_own_session(
    cluster: EmbeddedCluster, application: int
) -> None:
    with resolve_target(cluster.dsn()).connect() as conn:
        usage = connection_usage(conn)
    assert (usage.connections, usage.usable) == (application, USABLE)


@pytest.mark.catalog
def test_checkup_connection_headroom_counts_the_application_not_pgdba(
    cluster: EmbeddedCluster, application: int
) -> None:
    target = resolve_target(cluster.dsn())
    options = {"safety.connections": {"warning_ratio": 0.0, "critical_ratio": 2.0}}  # always reported
    result = run_checkup(target, options=options, only={"safety.connections"})
    [finding] = [f for f in result.report.findings if f.code == "safety.connections"]
    assert finding.metrics["connections"] == application
    assert finding.title.startswith(f"{application} of {USABLE} usable connections in use")
    # the threshold the application's own load reaches is crossed; one more session is not
    at_load = {"safety.connections": {"warning_ratio": (application + 1) / USABLE, "critical_ratio": 2.0}}
    assert run_checkup(target, options=at_load, only={"safety.connections"}).report.findings == []


@pytest.mark.catalog
def test_alerts_check_and_metrics_leave_pgdbas_own_session_out(
    cluster: EmbeddedCluster, application: int, tmp_path: Path
) -> None:
    target = resolve_target(cluster.dsn())
    with HistoryStore(tmp_path / "history.sqlite3") as store:
        result = check_alerts(target, store, load_rules())
    [status] = [s for s in result.statuses if s.rule.name == "connection_usage"]
    assert status.detail["clients"] == application
    assert status.value == pytest.approx(100.0 * application / USABLE)
    text = generate_latest(metrics_registry(target)).decode()
    counts = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "pg_stat_activity_count"
    ]
    assert sum(counts) == application  # what the exported PromQL sums over max_connections - reserved


@pytest.mark.catalog
def test_headroom_is_full_not_overfull_when_the_application_holds_every_usable_slot(
    cluster: EmbeddedCluster,
) -> None:
    _client_backends_are(cluster, 0)
    with ExitStack() as stack:
        for _ in range(USABLE):
            stack.enter_context(psycopg.connect(_application_dsn(cluster), autocommit=True))
        _client_backends_are(cluster, USABLE)
        # the superuser's session takes a reserved slot, which the application can never use
        result = run_checkup(resolve_target(cluster.dsn()), only={"safety.connections"})
    [finding] = result.report.findings
    assert finding.metrics["connections"] == USABLE
    assert finding.metrics["used_ratio"] == 1.0
