"""GET /metrics?db=NAME: each monitored database can be scraped, as multi-target exporters allow."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from pgdba.api.app import create_app
from pgdba.api.metrics import MetricsByDatabase
from pgdba.api.settings import ApiSettings, UnknownDatabase
from pgdba.embedded import EmbeddedCluster
from pgdba.target import Target, resolve_target
from tests.alerts.test_prometheus import _default_rules, _promtool_unit_test, needs_promtool
from tests.conftest import TestDatabase


@pytest.fixture
def second(pg_cluster: EmbeddedCluster) -> Iterator[Target]:
    """A second database on the test cluster holding a table the first one does not have."""
    name = f"second_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(pg_cluster.dsn(name), autocommit=True) as conn:
        conn.execute("CREATE TABLE only_in_second (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO only_in_second SELECT i, repeat('x', 200) FROM generate_series(1, 5000) i")
    yield resolve_target(pg_cluster.dsn(name))
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def two_databases(seeded: TestDatabase, second: Target) -> TestClient:
    settings = ApiSettings(seeded.target, databases={"app": seeded.target, "second": second})
    return TestClient(create_app(settings))


def _series(text: str, family: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of one metric family, by their sorted labels."""
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for metric in text_string_to_metric_families(text)
        for sample in metric.samples
        if sample.name == family
    }


def _relnames(text: str) -> set[str]:
    return {dict(labels)["relname"] for labels in _series(text, "pg_stat_user_tables_table_size_bytes")}


def _datnames(text: str) -> set[str]:
    return {dict(labels)["datname"] for labels in _series(text, "pg_database_size_bytes")}


def test_metrics_db_parameter_serves_that_databases_metrics(
    two_databases: TestClient, seeded: TestDatabase, second: Target
) -> None:
    response = two_databases.get("/metrics", params={"db": "second"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert _datnames(response.text) == {second.database}
    assert "only_in_second" in _relnames(response.text)
    assert "lesson" not in _relnames(response.text)


def test_metrics_without_db_still_serves_the_default_database(
    two_databases: TestClient, seeded: TestDatabase
) -> None:
    text = two_databases.get("/metrics").text
    assert _datnames(text) == {seeded.name}
    assert "lesson" in _relnames(text) and "only_in_second" not in _relnames(text)
    assert _datnames(two_databases.get("/metrics", params={"db": "app"}).text) == {seeded.name}


def test_each_databases_collection_is_cached_between_scrapes(
    two_databases: TestClient, second: Target
) -> None:
    first = two_databases.get("/metrics", params={"db": "second"}).text
    two_databases.get("/metrics")  # the default database's scrape does not reset the second's cache
    with psycopg.connect(second.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE created_after_the_first_scrape (id int)")
    again = two_databases.get("/metrics", params={"db": "second"}).text
    assert _series(again, "pgdba_scrape_duration_seconds") == _series(first, "pgdba_scrape_duration_seconds")
    assert "created_after_the_first_scrape" not in _relnames(again)


def test_unknown_db_is_a_one_line_404_naming_only_the_configured_names(
    seeded: TestDatabase, pg_cluster: EmbeddedCluster
) -> None:
    secret = resolve_target(pg_cluster.dsn("postgres") + "&password=hunter2-secret")
    client = TestClient(
        create_app(ApiSettings(seeded.target, databases={"app": seeded.target, "ops": secret}))
    )
    response = client.get("/metrics", params={"db": "nope"})
    assert response.status_code == 404
    assert response.json() == {
        "error": "UnknownDatabase",
        "detail": "no monitored database named 'nope'; configured: app, ops",
    }
    assert "hunter2" not in response.text and "127.0.0.1" not in response.text


@pytest.mark.parametrize(
    "hostile",
    ["x" * 5000, "app\n", "app\r\nX-Injected: 1", "a\x00b", "../app", "app name", ""],
    ids=["very-long", "trailing-newline", "crlf", "nul", "path", "space", "empty"],
)
def test_hostile_db_values_are_refused_with_422(two_databases: TestClient, hostile: str) -> None:
    response = two_databases.get("/metrics", params={"db": hostile})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "db"]
    assert "X-Injected" not in response.headers


def test_collectors_are_made_on_first_scrape_and_unknown_names_make_none(
    seeded: TestDatabase, second: Target
) -> None:
    settings = ApiSettings(seeded.target, databases={"app": seeded.target, "second": second})
    by_database = MetricsByDatabase(settings.target, settings.target_for, cache_seconds=60)
    assert by_database.collector_count == 1  # the default database, as before
    for name in ("nope", "other"):
        with pytest.raises(UnknownDatabase):
            by_database.registry_for(name)
    assert by_database.collector_count == 1
    second_registry = by_database.registry_for("second")
    assert by_database.registry_for("second") is second_registry
    assert by_database.registry_for("app") is by_database.registry_for(None)  # one database, one collector
    assert by_database.collector_count == 2


@needs_promtool
def test_exported_connection_rule_counts_each_server_once_with_the_readmes_relabelling(
    tmp_path: Path,
) -> None:
    # two databases of one server scraped through one pgdba: both scrapes report the server's sessions
    # (pg_stat_activity covers every database); the README's relabelling gives each its own `instance`
    scrapes = []
    for instance in ("production", "analytics"):
        for datname in ("appdb", "otherdb"):
            scrapes.append(
                f'      - series: \'pg_stat_activity_count{{instance="{instance}",datname="{datname}",'
                "state=\"idle\"}'\n        values: '25x10 45x10'"
            )
        for name, value in (("max_connections", 100), ("superuser_reserved_connections", 3)):
            scrapes.append(
                f"      - series: 'pg_settings_{name}{{instance=\"{instance}\"}}'\n"
                f"        values: '{value}x20'"
            )
    # 50 of 97 usable slots is 51.5 %: no alert (a sum over both scrapes would say 103 %); 90 is 92.8 %
    checks = """
      - eval_time: 5m
        alertname: PgdbaConnectionUsageCritical
        exp_alerts: []
      - eval_time: 15m
        alertname: PgdbaConnectionUsageCritical
        exp_alerts:
          - exp_labels: {severity: critical, pgdba_rule: connection_usage, instance: analytics}
            exp_annotations:
              summary: "connection_usage: 92.78 % (> 90) on analytics"
              description: "Client connections as % of max_connections minus the reserved ones"
          - exp_labels: {severity: critical, pgdba_rule: connection_usage, instance: production}
            exp_annotations:
              summary: "connection_usage: 92.78 % (> 90) on production"
              description: "Client connections as % of max_connections minus the reserved ones\""""
    _promtool_unit_test(_default_rules(tmp_path), "\n" + "\n".join(scrapes), checks)


def test_a_schema_whose_name_holds_a_dot_keeps_it_in_the_labels(
    two_databases: TestClient, second: Target
) -> None:
    with psycopg.connect(second.dsn, autocommit=True) as conn:
        conn.execute('CREATE SCHEMA "my.app"')
        conn.execute('CREATE TABLE "my.app"."user.events" (id int PRIMARY KEY)')
    text = two_databases.get("/metrics", params={"db": "second"}).text
    labels = {
        (dict(key)["schemaname"], dict(key)["relname"])
        for key in _series(text, "pg_stat_user_tables_table_size_bytes")
    }
    assert ("my.app", "user.events") in labels
    assert ("public", "only_in_second") in labels
