"""Prometheus: the exported rule file passes promtool, and /metrics exposes what the rules query."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pgdba.alerts.prometheus_rules import PROMQL, prometheus_rules
from pgdba.alerts.rules import load_rules
from pgdba.api.metrics import PgdbaCollector, make_metrics_router, metrics_registry
from pgdba.cli import main
from tests.conftest import TestDatabase

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool (Debian package prometheus) is not installed"
)


def _default_rules(tmp_path: Path) -> Path:
    rules = tmp_path / "pgdba.yml"
    rules.write_text(prometheus_rules(load_rules()))
    return rules


def _promtool_unit_test(rules: Path, series: str, checks: str) -> None:
    """`promtool test rules` on a rule file: `series` are input_series items, `checks` alert_rule_test items
    (YAML, indented six spaces), one sample a minute."""
    test = rules.parent / "test.yml"
    test.write_text(
        f"""
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
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
              summary: "table_growth: 1200.00 MB/h (> 500) on  appBehaviorLog"
              description: "Table growth in MB per hour, between two snapshots of table sizes"
      - eval_time: 80m
        alertname: PgdbaTableGrowthWarning
        exp_alerts:
          - exp_labels: {severity: warning, pgdba_rule: table_growth, datname: app, schemaname: public, relname: Course}
            exp_annotations:
              summary: "table_growth: 1200.00 MB/h (> 1000) on  appCourse"
              description: "Table growth in MB per hour, between two snapshots of table sizes\""""
    _promtool_unit_test(_default_rules(tmp_path), series, checks)


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
    # backups appear once a backup is recorded; the rest must be there now
    missing = (
        wanted - names - {"pgdba_last_backup_timestamp_seconds", "pgdba_last_restore_test_timestamp_seconds"}
    )
    assert missing == set()
    assert f'pg_database_size_bytes{{datname="{db.name}"}}' in text
    assert re.search(
        rf'pg_stat_user_tables_table_size_bytes{{datname="{db.name}",relname="events",schemaname="public"}} \d',
        text,
    )
    assert "pg_up 1.0" in text


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
              summary: "table_growth: 1200.00 MB/h (> 100) on  appx\\nDISABLE\\ny"
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
