"""The wal_archive_failing alert: /metrics exports pg_stat_archiver (postgres_exporter's names, plus how long
archiving has been failing), `alerts check` warns while archive_command fails, and the exported Prometheus
rule fires on the same number (promtool)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pgdba.alerts.rules import load_rules
from pgdba.alerts.values import Samples, rule_values
from pgdba.api.metrics import metrics_registry
from pgdba.embedded import EmbeddedCluster
from pgdba.history.store import HistoryStore
from pgdba.stats.archiver import ArchiverStatus
from pgdba.target import resolve_target
from tests.alerts.conftest import run_check, status_of
from tests.alerts.test_prometheus import _default_rules, _promtool_unit_test, needs_promtool
from tests.wal_archiving import archive_one, archiving_cluster, failing_archive


@pytest.fixture(scope="module")
def archiving() -> Iterator[EmbeddedCluster]:
    with archiving_cluster("wal-alert") as cluster:
        yield cluster


def _scrape(cluster: EmbeddedCluster) -> dict[str, float]:
    """/metrics of the cluster's database: each unlabelled sample's value by name."""
    text = generate_latest(metrics_registry(resolve_target(cluster.dsn()), cache_seconds=0)).decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


def test_default_rules_warn_on_any_failing_archive_and_turn_critical_after_a_day() -> None:
    rule = load_rules().rule("wal_archive_failing")
    assert (rule.metric, rule.scope, rule.op, rule.warn, rule.crit) == (
        "wal_archive_failing_hours",
        "server",
        ">",
        0,
        24,
    )


def test_metrics_export_the_archiver_counters_and_how_long_it_has_been_failing(
    archiving: EmbeddedCluster,
) -> None:
    archive_one(archiving)
    working = _scrape(archiving)
    assert working["pg_stat_archiver_archived_count"] >= 1
    assert 0 <= working["pg_stat_archiver_last_archive_age"] < 600
    assert working["pgdba_stat_archiver_failing_seconds"] == 0
    with failing_archive(archiving):
        failing = _scrape(archiving)
    assert failing["pg_stat_archiver_failed_count"] >= working["pg_stat_archiver_failed_count"] + 1
    assert 0 <= failing["pgdba_stat_archiver_last_failed_age_seconds"] < 600
    # since the last success, which came before the failure
    assert (
        failing["pgdba_stat_archiver_failing_seconds"]
        >= failing["pgdba_stat_archiver_last_failed_age_seconds"]
    )
    assert failing["pgdba_stat_archiver_failing_seconds"] > 0


def test_alerts_check_warns_while_archive_command_fails_and_resolves_after(
    archiving: EmbeddedCluster, store: HistoryStore
) -> None:
    target = resolve_target(archiving.dsn())
    with failing_archive(archiving) as wal:
        failing = status_of(run_check(target, store), "wal_archive_failing")
    assert (failing.status, failing.event, failing.object) == ("warning", "firing", "server")
    assert failing.value is not None and 0 < failing.value < 1
    assert failing.note.startswith(f"{wal} failed at ") and failing.detail["last_failed_wal"] == wal
    archive_one(archiving)
    resolved = status_of(run_check(target, store), "wal_archive_failing")
    assert (resolved.status, resolved.event, resolved.value) == ("ok", "resolved", 0.0)


@needs_promtool
def test_prometheus_rule_warns_on_a_failing_archive_and_is_critical_after_24_hours(tmp_path: Path) -> None:
    # `now`: archiving works for 5 min, then fails; `stuck`: failing and nothing archived for almost a day
    series = """
      - series: 'pgdba_stat_archiver_failing_seconds{instance="now"}'
        values: '0x4 60+60x30'
      - series: 'pgdba_stat_archiver_failing_seconds{instance="stuck"}'
        values: '86000+60x30'"""
    checks = """
      - eval_time: 3m
        alertname: PgdbaWalArchiveFailingWarning
        exp_alerts:
          - exp_labels: {severity: warning, pgdba_rule: wal_archive_failing, instance: stuck}
            exp_annotations:
              summary: "wal_archive_failing: 23.94 h (> 0) on stuck"
              description: "Hours without an archived WAL file while archive_command keeps failing (0 while archiving works)"
      - eval_time: 20m
        alertname: PgdbaWalArchiveFailingCritical
        exp_alerts:
          - exp_labels: {severity: critical, pgdba_rule: wal_archive_failing, instance: stuck}
            exp_annotations:
              summary: "wal_archive_failing: 24.22 h (> 24) on stuck"
              description: "Hours without an archived WAL file while archive_command keeps failing (0 while archiving works)"
      - eval_time: 10m
        alertname: PgdbaWalArchiveFailingWarning
        exp_alerts:
          - exp_labels: {severity: warning, pgdba_rule: wal_archive_failing, instance: now}
            exp_annotations:
              summary: "wal_archive_failing: 0.10 h (> 0) on now"
              description: "Hours without an archived WAL file while archive_command keeps failing (0 while archiving works)"
          - exp_labels: {severity: warning, pgdba_rule: wal_archive_failing, instance: stuck}
            exp_annotations:
              summary: "wal_archive_failing: 24.06 h (> 0) on stuck"
              description: "Hours without an archived WAL file while archive_command keeps failing (0 while archiving works)"
      - eval_time: 6m
        alertname: PgdbaWalArchiveFailingCritical
        exp_alerts: []"""
    _promtool_unit_test(_default_rules(tmp_path), series, checks)


def test_the_alert_names_the_failure_time_in_utc_whatever_the_servers_time_zone() -> None:
    """psycopg returns pg_stat_archiver's times in the session's TimeZone (a server in Tokyo: +09:00)."""
    tokyo = timezone(timedelta(hours=9))
    failed = datetime(2026, 11, 29, 9, 30, tzinfo=tokyo)  # 00:30 UTC
    archiver = ArchiverStatus(
        "on",
        3,
        "00000001000000000000000A",
        failed - timedelta(hours=2),
        1,
        "00000001000000000000000B",
        failed,
    )
    samples = Samples(taken_at=datetime(2026, 11, 29, 1, 30, tzinfo=UTC), database="app", archiver=archiver)
    [value] = rule_values(load_rules().rule("wal_archive_failing"), samples, None, [])
    assert value.value == pytest.approx(3.0)  # hours since the last success, 22:30 UTC the day before
    assert value.note == "00000001000000000000000B failed at 2026-11-29 00:30 UTC"
