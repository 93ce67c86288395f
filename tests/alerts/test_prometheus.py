"""Prometheus: the exported rule file passes promtool, and /metrics exposes what the rules query."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pgdba.alerts.metrics import BACKUP_KIND, RESTORE_TEST_KIND
from pgdba.alerts.prometheus_rules import PROMQL, prometheus_rules
from pgdba.alerts.rules import load_rules
from pgdba.api.metrics import PgdbaCollector, make_metrics_router, metrics_registry
from pgdba.cli import main
from pgdba.history.store import HistoryStore
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import eventually, publish_stats

MB = 1024**2
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool (Debian package prometheus) is not installed"
)


def _default_rules(tmp_path: Path) -> Path:
    rules = tmp_path / "pgdba.yml"
    rules.write_text(prometheus_rules(load_rules()))
    return rules


def _promtool_unit_test(rules: Path, series: str, checks: str, *, interval: str = "1m") -> None:
    """`promtool test rules` on a rule file: `series` are input_series items, `checks` alert_rule_test items
    (YAML, indented six spaces), one sample and one rule evaluation per `interval` (a test spanning days
    takes 1h: promtool evaluates every rule at each step)."""
    test = rules.parent / "test.yml"
    test.write_text(
        f"""
rule_files: [{rules}]
evaluation_interval: {interval}
tests:
  - interval: {interval}
    input_series:
{series}
    alert_rule_test:
{checks}
"""
    )
    assert PROMTOOL is not None
    proc = subprocess.run([PROMTOOL, "test", "rules", str(test)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_promtool
def test_promtool_accepts_the_exported_rules(tmp_path: Path, rules_file: Callable[[str], Path]) -> None:
    user = rules_file(
        "[[rule]]\nname = 'table_growth'\n[rule.tables.\"public.audit_log\"]\nwarn = 100\nfor = '10m'\n"
    )
    out = tmp_path / "pgdba.yml"
    assert main(["alerts", "export", "prometheus", "--rules", str(user), "--out", str(out)]) == 0
    assert PROMTOOL is not None
    proc = subprocess.run([PROMTOOL, "check", "rules", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = sum(
        (r.warn is not None)
        + (r.crit is not None)
        + sum((t.warn is not None) + (t.crit is not None) for t in r.tables.values())
        for r in load_rules(user).enabled
    )
    assert f"SUCCESS: {expected} rules found" in proc.stdout
    text = out.read_text()
    assert 'relname=\\"audit_log\\"' in text and "for: 10m" in text


@needs_promtool
def test_promtool_unit_test_fires_the_behaviorlog_growth_alert(tmp_path: Path) -> None:
    # +20 MiB a minute = 1200 MiB/h: over BehaviorLog's 500 MB/h, under the 1000 of other tables
    series = """
      - series: 'pg_stat_user_tables_table_size_bytes{datname="app",schemaname="public",relname="BehaviorLog"}'
        values: '0+20971520x90'
      - series: 'pg_stat_user_tables_table_size_bytes{datname="app",schemaname="public",relname="Course"}'
        values: '0+20971520x90'"""
    checks = """
      - eval_time: 80m
        alertname: PgdbaTableGrowthBehaviorlogWarning
        exp_alerts:
          - exp_labels: {severity: warning, pgdba_rule: table_growth, datname: app, schemaname: public, relname: BehaviorLog}
            exp_annotations:
              summary: "table_growth: 1200.00 MB/h (> 500) on  app public.BehaviorLog"
              description: "Table growth in MB per hour, between two snapshots of table sizes"
      - eval_time: 80m
        alertname: PgdbaTableGrowthWarning
        exp_alerts:
          - exp_labels: {severity: warning, pgdba_rule: table_growth, datname: app, schemaname: public, relname: Course}
            exp_annotations:
              summary: "table_growth: 1200.00 MB/h (> 1000) on  app public.Course"
              description: "Table growth in MB per hour, between two snapshots of table sizes\""""
    _promtool_unit_test(_default_rules(tmp_path), series, checks)


@needs_promtool
def test_a_schema_qualified_override_alerts_on_that_schemas_table_only(
    tmp_path: Path, rules_file: Callable[[str], Path]
) -> None:
    user = rules_file(
        "[[rule]]\nname = 'table_growth'\nwarn = 10\n[rule.tables.\"public.orders\"]\nwarn = 50\n"
    )
    rules = tmp_path / "pgdba.yml"
    assert main(["alerts", "export", "prometheus", "--rules", str(user), "--out", str(rules)]) == 0
    text = rules.read_text()
    assert 'schemaname=\\"public\\",relname=\\"orders\\"' in text
    assert 'relname!~\\"BehaviorLog\\"' in text  # the bare override's name only, not orders
    # +1 MiB a minute = 60 MB/h in both schemas: over the public.orders override (50) and the generic 10;
    # archive.orders is the generic rule's, public.orders its override's only
    series = """
      - series: 'pg_stat_user_tables_table_size_bytes{datname="app",schemaname="public",relname="orders"}'
        values: '0+1048576x90'
      - series: 'pg_stat_user_tables_table_size_bytes{datname="app",schemaname="archive",relname="orders"}'
        values: '0+1048576x90'"""
    description = load_rules(user).rule("table_growth").summary
    checks = f"""
      - eval_time: 80m
        alertname: PgdbaTableGrowthPublicOrdersWarning
        exp_alerts:
          - exp_labels: {{severity: warning, pgdba_rule: table_growth, datname: app, schemaname: public, relname: orders}}
            exp_annotations:
              summary: "table_growth: 60.00 MB/h (> 50) on  app public.orders"
              description: {json.dumps(description)}
      - eval_time: 80m
        alertname: PgdbaTableGrowthWarning
        exp_alerts:
          - exp_labels: {{severity: warning, pgdba_rule: table_growth, datname: app, schemaname: archive, relname: orders}}
            exp_annotations:
              summary: "table_growth: 60.00 MB/h (> 10) on  app archive.orders"
              description: {json.dumps(description)}"""
    _promtool_unit_test(rules, series, checks)


@needs_promtool
def test_a_partitioned_tables_growth_fires_on_its_own_size_family_as_in_the_check(tmp_path: Path) -> None:
    # events grows 1200 MiB/h, each of its two partitions 600: the check judges the partitioned table (over the
    # generic 1000 MB/h) and each partition (under it); so must the exported rule
    series = """
      - series: 'pg_partitioned_table_size_bytes{datname="app",schemaname="public",relname="events"}'
        values: '0+20971520x90'
      - series: 'pg_stat_user_tables_table_size_bytes{datname="app",schemaname="public",relname="events_0"}'
        values: '0+10485760x90'
      - series: 'pg_stat_user_tables_table_size_bytes{datname="app",schemaname="public",relname="events_1"}'
        values: '0+10485760x90'"""
    checks = """
      - eval_time: 80m
        alertname: PgdbaTableGrowthWarning
        exp_alerts:
          - exp_labels: {severity: warning, pgdba_rule: table_growth, datname: app, schemaname: public, relname: events}
            exp_annotations:
              summary: "table_growth: 1200.00 MB/h (> 1000) on  app public.events"
              description: "Table growth in MB per hour, between two snapshots of table sizes\""""
    _promtool_unit_test(_default_rules(tmp_path), series, checks)


@needs_promtool
def test_a_qualified_override_of_a_partitioned_table_is_left_out_of_the_generic_alert(
    tmp_path: Path, rules_file: Callable[[str], Path]
) -> None:
    user = rules_file("[[rule]]\nname = 'table_growth'\n[rule.tables.\"public.events\"]\nwarn = 500\n")
    rules = tmp_path / "pgdba.yml"
    rules.write_text(prometheus_rules(load_rules(user)))
    # 1200 MB/h: over the override (500) and the generic 1000, which must leave public.events to its override
    series = """
      - series: 'pg_partitioned_table_size_bytes{datname="app",schemaname="public",relname="events"}'
        values: '0+20971520x90'"""
    description = load_rules(user).rule("table_growth").summary
    checks = f"""
      - eval_time: 80m
        alertname: PgdbaTableGrowthPublicEventsWarning
        exp_alerts:
          - exp_labels: {{severity: warning, pgdba_rule: table_growth, datname: app, schemaname: public, relname: events}}
            exp_annotations:
              summary: "table_growth: 1200.00 MB/h (> 500) on  app public.events"
              description: {json.dumps(description)}
      - eval_time: 80m
        alertname: PgdbaTableGrowthWarning
        exp_alerts: []"""
    _promtool_unit_test(rules, series, checks)


@needs_promtool
def test_thresholds_are_exported_exactly_not_rounded_to_six_digits(
    tmp_path: Path, rules_file: Callable[[str], Path]
) -> None:
    user = rules_file("[[rule]]\nname = 'database_size'\nwarn = 1234567.8\ncrit = 2345678.9\n")
    rules = tmp_path / "pgdba.yml"
    rules.write_text(prometheus_rules(load_rules(user)))
    text = rules.read_text()
    assert "> 1234567.8" in text and "1.23457e+06" not in text
    assert "pg_partitioned_table_size_bytes) > 104857600" in text  # dead_tuples' min_table_mb = 100 MiB
    # 1234567.85 GB is over 1234567.8 (the rounded 1234570 would hide it), 1234567.75 GB is not
    series = """
      - series: 'pg_database_size_bytes{datname="over"}'
        values: '1325607135110758.5x10'
      - series: 'pg_database_size_bytes{datname="under"}'
        values: '1325607027736576x10'"""
    description = load_rules(user).rule("database_size").summary
    checks = f"""
      - eval_time: 5m
        alertname: PgdbaDatabaseSizeWarning
        exp_alerts:
          - exp_labels: {{severity: warning, pgdba_rule: database_size, datname: over}}
            exp_annotations:
              summary: "database_size: 1234567.85 GB (> 1234567.8) on  over"
              description: {json.dumps(description)}"""
    _promtool_unit_test(rules, series, checks)


def _alert(rule: str, severity: str, summary: str) -> str:
    description = load_rules().rule(rule).summary
    return f"""
          - exp_labels: {{severity: {severity}, pgdba_rule: {rule}}}
            exp_annotations:
              summary: {json.dumps(summary)}
              description: {json.dumps(description)}"""


@needs_promtool
def test_backup_and_restore_test_alerts_fire_when_nothing_ever_succeeded(tmp_path: Path) -> None:
    # promtool's clock starts at 0: backups failing since then, no success; at 60 h both backup alerts fire.
    # Restore tests: one passed at 0, the newest failed: the failure is critical although the pass is recent.
    # One sample and evaluation an hour: a minute's would be 3 600 evaluations of every rule
    series = """
      - series: 'pgdba_backup_failing_since_timestamp_seconds'
        values: '0x100'
      - series: 'pgdba_last_backup_failed'
        values: '1x100'
      - series: 'pgdba_last_restore_test_timestamp_seconds'
        values: '0x100'
      - series: 'pgdba_restore_test_failing_since_timestamp_seconds'
        values: '3600x100'
      - series: 'pgdba_last_restore_test_failed'
        values: '1x100'"""
    checks = f"""
      - eval_time: 60h
        alertname: PgdbaBackupAgeWarning
        exp_alerts:{_alert("backup_age", "warning", "backup_age: 60.00 h (> 26) on ")}
      - eval_time: 60h
        alertname: PgdbaBackupAgeCritical
        exp_alerts:{_alert("backup_age", "critical", "backup_age: 60.00 h (> 50) on ")}
      - eval_time: 60h
        alertname: PgdbaRestoreTestAgeWarning
        exp_alerts: []
      - eval_time: 60h
        alertname: PgdbaRestoreTestFailedCritical
        exp_alerts:{_alert("restore_test_failed", "critical", "restore_test_failed: yes on ")}"""
    _promtool_unit_test(_default_rules(tmp_path), series, checks, interval="1h")
    # a success newer than the first failure wins: 4 h old, no backup alert
    series = """
      - series: 'pgdba_last_backup_timestamp_seconds'
        values: '201600x100'
      - series: 'pgdba_backup_failing_since_timestamp_seconds'
        values: '0x100'"""
    checks = """
      - eval_time: 60h
        alertname: PgdbaBackupAgeWarning
        exp_alerts: []"""
    _promtool_unit_test(_default_rules(tmp_path), series, checks, interval="1h")


@needs_promtool
def test_restore_test_age_fires_on_backups_that_were_never_restore_tested(tmp_path: Path) -> None:
    # backups since 0 (the newest an hour old), no restore test ever recorded: at 10 days the weekly test is
    # 2 days late. One sample and evaluation an hour: a minute's would be 14 400 evaluations of every rule
    series = """
      - series: 'pgdba_last_backup_timestamp_seconds'
        values: '0+3600x300'
      - series: 'pgdba_backups_untested_since_timestamp_seconds'
        values: '0x300'"""
    checks = f"""
      - eval_time: 10d
        alertname: PgdbaRestoreTestAgeWarning
        exp_alerts:{_alert("restore_test_age", "warning", "restore_test_age: 10.00 days (> 8) on ")}
      - eval_time: 10d
        alertname: PgdbaRestoreTestAgeCritical
        exp_alerts: []"""
    _promtool_unit_test(_default_rules(tmp_path), series, checks, interval="1h")


@pytest.mark.catalog
def test_metrics_expose_when_backups_have_gone_untested(db: TestDatabase, tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite3"
    now = datetime.now(UTC)
    first_backup = now - timedelta(days=12)
    with HistoryStore(history) as store:
        store.add_record(db.target.key, BACKUP_KIND, {"ok": False, "status": "failed"}, recorded_at=now)
        for at in (first_backup, now - timedelta(days=1)):
            store.add_record(db.target.key, BACKUP_KIND, {"ok": True}, recorded_at=at)
        store.add_record(db.target.key, BACKUP_KIND, {"ok": False}, recorded_at=now - timedelta(days=13))

    def exported() -> dict[str, float]:
        text = generate_latest(metrics_registry(db.target, store=history, cache_seconds=0)).decode()
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if "untested" in sample.name
        }

    # the first successful backup, not the failed attempt before it
    assert exported() == {
        "pgdba_backups_untested_since_timestamp_seconds": pytest.approx(first_backup.timestamp())
    }
    with HistoryStore(history) as store:
        store.add_record(db.target.key, RESTORE_TEST_KIND, {"passed": False}, recorded_at=now)
    assert exported() == {}  # a restore test is recorded: its own age and failure series take over


@pytest.mark.catalog
def test_metrics_expose_failed_backups_and_restore_tests_for_the_age_and_failure_rules(
    db: TestDatabase, tmp_path: Path
) -> None:
    history = tmp_path / "history.sqlite3"
    now = datetime.now(UTC)
    first_failure = now - timedelta(hours=30)
    with HistoryStore(history) as store:
        for at in (first_failure, now - timedelta(hours=1)):
            store.add_record(db.target.key, BACKUP_KIND, {"ok": False, "status": "failed"}, recorded_at=at)
        store.add_record(db.target.key, RESTORE_TEST_KIND, {"passed": False}, recorded_at=now)
    text = generate_latest(metrics_registry(db.target, store=history, cache_seconds=0)).decode()
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if "backup" in sample.name or "restore_test" in sample.name
    }
    assert samples == {
        "pgdba_backup_failing_since_timestamp_seconds": pytest.approx(first_failure.timestamp()),
        "pgdba_last_backup_failed": 1.0,
        "pgdba_restore_test_failing_since_timestamp_seconds": pytest.approx(now.timestamp()),
        "pgdba_last_restore_test_failed": 1.0,
    }


@needs_promtool
def test_prometheus_cache_hit_alert_needs_min_blocks_like_the_check(tmp_path: Path) -> None:
    # an idle database: 1 block hit and 2 read a minute is a 33 % hit ratio over 15 blocks in 5 min, far
    # below min_blocks (100): `alerts check` gives no verdict, the exported rule must not fire either
    series = """
      - series: 'pg_stat_database_blks_hit{datname="idle"}'
        values: '0+1x30'
      - series: 'pg_stat_database_blks_read{datname="idle"}'
        values: '0+2x30'
      - series: 'pg_stat_database_blks_hit{datname="busy"}'
        values: '0+1000x30'
      - series: 'pg_stat_database_blks_read{datname="busy"}'
        values: '0+2000x30'"""
    checks = """
      - eval_time: 20m
        alertname: PgdbaCacheHitRatioCritical
        exp_alerts:
          - exp_labels: {severity: critical, pgdba_rule: cache_hit_ratio, datname: busy}
            exp_annotations:
              summary: "cache_hit_ratio: 33.33 % (< 50) on  busy"
              description: "Shared-buffer hit % of blocks read since the last check\""""
    _promtool_unit_test(_default_rules(tmp_path), series, checks)


@needs_promtool
def test_prometheus_rollback_alert_needs_min_transactions_like_the_check(tmp_path: Path) -> None:
    # one rollback among three transactions a minute is 33 % but only 15 transactions in 5 min (< 100)
    series = """
      - series: 'pg_stat_database_xact_commit{datname="idle"}'
        values: '0+2x30'
      - series: 'pg_stat_database_xact_rollback{datname="idle"}'
        values: '0+1x30'
      - series: 'pg_stat_database_xact_commit{datname="busy"}'
        values: '0+200x30'
      - series: 'pg_stat_database_xact_rollback{datname="busy"}'
        values: '0+100x30'"""
    checks = """
      - eval_time: 20m
        alertname: PgdbaRollbackRatioCritical
        exp_alerts:
          - exp_labels: {severity: critical, pgdba_rule: rollback_ratio, datname: busy}
            exp_annotations:
              summary: "rollback_ratio: 33.33 % (> 10) on  busy"
              description: "Rolled-back share of transactions since the last check\""""
    _promtool_unit_test(_default_rules(tmp_path), series, checks)


@pytest.mark.catalog
def test_metrics_expose_every_series_the_exported_rules_query(db: TestDatabase) -> None:
    db.execute("CREATE TABLE events AS SELECT g AS id FROM generate_series(1, 1000) AS g")
    db.execute("SELECT count(*) FROM events")
    text = generate_latest(metrics_registry(db.target, cache_seconds=0)).decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    for sample_name in ("pg_stat_statements_calls_total", "pg_stat_statements_seconds_total"):
        assert sample_name in text
    wanted = set()
    for expr in PROMQL.values():
        wanted |= set(re.findall(r"\b((?:pg|pgdba)_[a-z_]+)", expr))
    wanted = {w.removesuffix("_total") for w in wanted}
    # backups and restore tests appear once one is recorded; the rest must be there now
    recorded = {name for name in wanted if "backup" in name or "restore_test" in name}
    assert recorded == {
        f"pgdba_{series}"
        for job in ("backup", "restore_test")
        for series in (f"last_{job}_timestamp_seconds", f"{job}_failing_since_timestamp_seconds")
    } | {"pgdba_last_restore_test_failed", "pgdba_backups_untested_since_timestamp_seconds"}
    assert wanted - names - recorded == set()
    assert f'pg_database_size_bytes{{datname="{db.name}"}}' in text
    assert re.search(
        rf'pg_stat_user_tables_table_size_bytes{{datname="{db.name}",relname="events",schemaname="public"}} \d',
        text,
    )
    assert "pg_up 1.0" in text


@pytest.mark.catalog
def test_a_partitioned_tables_summed_size_has_its_own_family_so_a_sum_counts_each_byte_once(
    db: TestDatabase,
) -> None:
    db.execute(
        "CREATE TABLE events (id bigint NOT NULL, payload text) PARTITION BY HASH (id);"
        "CREATE TABLE events_0 PARTITION OF events FOR VALUES WITH (MODULUS 2, REMAINDER 0);"
        "CREATE TABLE events_1 PARTITION OF events FOR VALUES WITH (MODULUS 2, REMAINDER 1);"
        "CREATE TABLE plain AS SELECT g AS id FROM generate_series(1, 1000) AS g;"
        "INSERT INTO events SELECT g, repeat('event', 100) FROM generate_series(1, 6000) AS g"
    )
    text = generate_latest(metrics_registry(db.target, cache_seconds=0, top_tables=1000)).decode()

    def family(name: str) -> dict[str, float]:
        return {
            sample.labels["relname"]: sample.value
            for metric in text_string_to_metric_families(text)
            for sample in metric.samples
            if sample.name == name
        }

    tables = family("pg_stat_user_tables_table_size_bytes")
    partitioned = family("pg_partitioned_table_size_bytes")
    assert set(tables) == {"events_0", "events_1", "plain"}
    assert partitioned == {"events": tables["events_0"] + tables["events_1"]}
    with db.connect() as conn:
        row = conn.execute(
            "SELECT sum(pg_total_relation_size(oid)) FROM pg_class"
            " WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
        ).fetchone()
    assert row is not None and sum(tables.values()) == row[0] > 1024**2  # every byte once
    assert {"events", "events_0", "plain"} <= set(family("pg_stat_user_tables_n_live_tup"))


def test_collection_is_cached_between_scrapes(db: TestDatabase) -> None:
    collector = PgdbaCollector(db.target, cache_seconds=60)
    first = list(collector.collect())
    second = list(collector.collect())
    assert collector.collections == 1
    assert [m.name for m in first] == [m.name for m in second]


def test_unreachable_database_gives_pg_up_0_not_an_error(db: TestDatabase) -> None:
    from pgdba.target import Target

    target = Target(f"host=127.0.0.1 port=1 dbname={db.name} user=postgres", connect_timeout_s=2)
    text = generate_latest(metrics_registry(target)).decode()
    assert "pg_up 0.0" in text and "pgdba_scrape_error" in text


def test_metrics_router_serves_the_exposition_format(db: TestDatabase) -> None:
    app = FastAPI()
    app.include_router(make_metrics_router(db.target))
    response = TestClient(app).get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "pg_database_size_bytes" in response.text


@needs_promtool
def test_hostile_table_names_in_overrides_give_valid_rules_that_fire_for_that_table(
    tmp_path: Path, rules_file: Callable[[str], Path]
) -> None:
    hostile = ("x\nDISABLE\ny", 'say "hi"', "it's", "two words", "a|b.*")
    overrides = "".join(f"tables.{json.dumps(name)} = {{ warn = 100 }}\n" for name in hostile)
    user = rules_file(f"[[rule]]\nname = 'table_growth'\n{overrides}")
    rules = tmp_path / "pgdba.yml"
    assert main(["alerts", "export", "prometheus", "--rules", str(user), "--out", str(rules)]) == 0
    assert PROMTOOL is not None
    check = subprocess.run([PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    names = re.findall(r"^      - alert: (.*)$", rules.read_text(), flags=re.M)
    assert all(re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", name) for name in names)
    assert len(names) == len(set(names))
    alert = next(n for n in names if n.startswith("PgdbaTableGrowthXDisableY") and n.endswith("Warning"))
    # the per-table alert fires for the table with the newline; the generic one leaves it out
    series = (
        'pg_stat_user_tables_table_size_bytes{datname="app",schemaname="public",relname="x\\nDISABLE\\ny"}'
    )
    checks = f"""
      - eval_time: 80m
        alertname: {alert}
        exp_alerts:
          - exp_labels: {{severity: warning, pgdba_rule: table_growth, datname: app, schemaname: public, relname: "x\\nDISABLE\\ny"}}
            exp_annotations:
              summary: "table_growth: 1200.00 MB/h (> 100) on  app public.x\\nDISABLE\\ny"
              description: "Table growth in MB per hour, between two snapshots of table sizes"
      - eval_time: 80m
        alertname: PgdbaTableGrowthWarning
        exp_alerts: []"""
    _promtool_unit_test(
        rules,
        f"""
      - series: {json.dumps(series)}
        values: '0+20971520x90'""",
        checks,
    )


@needs_promtool
@pytest.mark.catalog
def test_a_table_of_exactly_min_table_mb_is_below_the_dead_tuple_gate_in_the_check_and_the_rule(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(
        "CREATE TABLE attempt (id int PRIMARY KEY) WITH (autovacuum_enabled = off);"
        "INSERT INTO attempt SELECT generate_series(1, 2000); DELETE FROM attempt WHERE id <= 1000;"
    )
    with db.connect() as conn:
        publish_stats(conn)
        row = conn.execute("SELECT pg_total_relation_size('attempt')").fetchone()
    assert row is not None
    size = int(row[0])

    def gate(name: str, table_bytes: int) -> Path:  # min_table_mb to the byte: dividing by 2^20 is exact
        rules = tmp_path / f"{name}.toml"
        rules.write_text(
            f"[[rule]]\nname = 'dead_tuples'\nmin_dead_rows = 0\nmin_table_mb = {table_bytes / MB!r}\n"
        )
        return rules

    at_size = gate("at_size", size)
    alert = eventually(
        lambda: _dead_tuple_alert(db, at_size, capsys), lambda found: found["detail"]["dead_rows"] == 1000
    )
    assert alert["value"] == 0.0 and alert["note"] == "below the size gate", alert
    over = _dead_tuple_alert(db, gate("below_size", size - 1), capsys)
    assert over["value"] == 50.0 and over["level"] == "critical", over
    # the exported rule at the same gate, given the same table, stays silent too
    exported = tmp_path / "pgdba.yml"
    exported.write_text(prometheus_rules(load_rules(at_size)))
    series = f"""
      - series: 'pg_stat_user_tables_n_dead_tup{{schemaname="public",relname="attempt"}}'
        values: '1000x10'
      - series: 'pg_stat_user_tables_n_live_tup{{schemaname="public",relname="attempt"}}'
        values: '1000x10'
      - series: 'pg_stat_user_tables_table_size_bytes{{schemaname="public",relname="attempt"}}'
        values: '{size}x10'"""
    silent = """
      - eval_time: 5m
        alertname: PgdbaDeadTuplesCritical
        exp_alerts: []"""
    _promtool_unit_test(exported, series, silent)
    fires = """
      - eval_time: 5m
        alertname: PgdbaDeadTuplesCritical
        exp_alerts:
          - exp_labels: {severity: critical, pgdba_rule: dead_tuples, schemaname: public, relname: attempt}
            exp_annotations:
              summary: "dead_tuples: 50.00 % (> 20) on  public.attempt"
              description: "Dead rows as % of all rows, on large tables\""""
    _promtool_unit_test(exported, series.replace(f"'{size}x10'", f"'{size + 1}x10'"), fires)


def _dead_tuple_alert(db: TestDatabase, rules: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["alerts", "check", "--dsn", db.dsn, "--rules", str(rules), "--format", "json"]) in (0, 1)
    alerts = json.loads(capsys.readouterr().out)["alerts"]
    (alert,) = [a for a in alerts if a["rule"] == "dead_tuples" and a["object"] == "public.attempt"]
    return dict(alert)
