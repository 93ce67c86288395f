"""The partition_runway alert: a table range-partitioned by a time column whose partitions end within a
week warns (`alerts check`), /metrics exports where its partitions end, and the exported Prometheus rule
fires on the same number (promtool)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pgdba.alerts.rules import load_rules
from pgdba.api.metrics import metrics_registry
from pgdba.history.store import HistoryStore
from tests.alerts.conftest import run_check, status_of
from tests.alerts.test_prometheus import _default_rules, _promtool_unit_test, needs_promtool
from tests.checkup.helpers import current_date
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import eventually, publish_stats


def test_default_rule_warns_a_week_ahead_and_is_critical_a_day_ahead() -> None:
    rule = load_rules().rule("partition_runway")
    assert (rule.metric, rule.scope, rule.op, rule.warn, rule.crit) == (
        "partition_runway_days",
        "table",
        "<",
        7,
        1,
    )


@pytest.mark.catalog
def test_alerts_check_and_metrics_see_partitions_that_end_in_three_days(
    db: TestDatabase, store: HistoryStore
) -> None:
    today = current_date(db)
    lower, upper = today - timedelta(days=7), today + timedelta(days=3)
    with db.connect() as conn:
        conn.execute("CREATE TABLE visit (at date NOT NULL) PARTITION BY RANGE (at)")
        conn.execute(f"CREATE TABLE visit_now PARTITION OF visit FOR VALUES FROM ('{lower}') TO ('{upper}')")
        conn.execute(
            "CREATE TABLE archive (at date NOT NULL) PARTITION BY RANGE (at);"
            "CREATE TABLE archive_2020 PARTITION OF archive FOR VALUES FROM ('2020-01-01') TO ('2021-01-01')"
        )
        conn.execute("INSERT INTO visit VALUES (%s)", (today,))
        publish_stats(conn)
    result = eventually(  # (the INSERT reaches the statistics a moment later on PostgreSQL 14)
        lambda: run_check(db.target, store),
        lambda r: any(s.object == "public.visit" and s.status == "warning" for s in r.statuses),
    )
    status = status_of(result, "partition_runway", "public.visit")
    assert (status.status, status.event) == ("warning", "firing")
    assert status.value is not None and 2 <= status.value <= 3
    assert status.note.startswith("public.visit_now ends at ")
    # the archive (no INSERT into its last partition) is charted, never alarmed
    archive = status_of(result, "partition_runway", "public.archive")
    assert (archive.status, archive.value) == ("unknown", None)
    assert archive.note.startswith("not watched: no INSERT into its last partition")
    text = generate_latest(metrics_registry(db.target, cache_seconds=0)).decode()
    ends = {
        s.labels["relname"]: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "pgdba_partition_end_timestamp_seconds"
    }
    assert set(ends) == {"visit"}
    assert status.detail["covered_until"].startswith(str(upper))


@needs_promtool
def test_prometheus_rule_warns_within_a_week_and_is_critical_within_a_day(tmp_path: Path) -> None:
    # time() is 0 at the start of a promtool test: `soon` ends in 5 days, `gone` ended before it
    series = """
      - series: 'pgdba_partition_end_timestamp_seconds{datname="app",schemaname="public",relname="soon"}'
        values: '432000x10'
      - series: 'pgdba_partition_end_timestamp_seconds{datname="app",schemaname="public",relname="gone"}'
        values: '0x10'
      - series: 'pgdba_partition_end_timestamp_seconds{datname="app",schemaname="public",relname="far"}'
        values: '2592000x10'"""
    checks = """
      - eval_time: 0m
        alertname: PgdbaPartitionRunwayWarning
        exp_alerts:
          - exp_labels: {severity: warning, pgdba_rule: partition_runway, datname: app, schemaname: public, relname: soon}
            exp_annotations:
              summary: "partition_runway: 5.00 days (< 7) on  app public.soon"
              description: "Days until the last partition of a time-partitioned table ends: INSERTs past it fail"
          - exp_labels: {severity: warning, pgdba_rule: partition_runway, datname: app, schemaname: public, relname: gone}
            exp_annotations:
              summary: "partition_runway: 0.00 days (< 7) on  app public.gone"
              description: "Days until the last partition of a time-partitioned table ends: INSERTs past it fail"
      - eval_time: 0m
        alertname: PgdbaPartitionRunwayCritical
        exp_alerts:
          - exp_labels: {severity: critical, pgdba_rule: partition_runway, datname: app, schemaname: public, relname: gone}
            exp_annotations:
              summary: "partition_runway: 0.00 days (< 1) on  app public.gone"
              description: "Days until the last partition of a time-partitioned table ends: INSERTs past it fail\""""
    _promtool_unit_test(_default_rules(tmp_path), series, checks)
