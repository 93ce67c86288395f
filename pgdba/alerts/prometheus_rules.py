"""Prometheus alerting rules for the metrics `pgdba serve` exposes at /metrics (postgres_exporter names).

One alert per rule and severity (PgdbaDatabaseSizeWarning, …Critical). Per-table overrides become their own
alerts on `relname`, and the generic alert leaves those tables out. Hysteresis has no Prometheus
equivalent and is not exported; `for` is.
"""

from __future__ import annotations

import hashlib
import json
import re

from pgdba.alerts.rules import Rule, RuleSet, format_duration

# PromQL for each metric, in the rule's unit; {sel} is where a per-table label matcher goes.
PROMQL: dict[str, str] = {
    "database_size_gb": "pg_database_size_bytes / 1073741824",
    "table_growth_mb_per_hour": "deriv(pg_stat_user_tables_table_size_bytes{sel}[{window}]) * 3600 / 1048576",
    "connection_usage_percent": (
        "100 * sum by (instance) (pg_stat_activity_count)"
        " / on (instance) max by (instance) (pg_settings_max_connections - pg_settings_superuser_reserved_connections)"
    ),
    "slow_query_mean_ms": (
        "1000 * max by (instance, datname) ("
        "rate(pg_stat_statements_seconds_total[5m]) / rate(pg_stat_statements_calls_total[5m]))"
    ),
    # min_blocks / min_transactions gate as the check does: a nearly idle database has no ratio worth an alarm
    "cache_hit_ratio_percent": (
        "100 * rate(pg_stat_database_blks_hit[5m])"
        " / (rate(pg_stat_database_blks_hit[5m]) + rate(pg_stat_database_blks_read[5m]) > 0)"
        " and increase(pg_stat_database_blks_hit[5m]) + increase(pg_stat_database_blks_read[5m])"
        " >= {min_blocks}"
    ),
    "disk_usage_percent": (
        "100 * pgdba_data_directory_filesystem_used_bytes"
        " / (pgdba_data_directory_filesystem_used_bytes + pgdba_data_directory_filesystem_avail_bytes)"
    ),
    "xid_age_percent": "100 * max by (instance) (pg_database_wraparound_age_datfrozenxid_seconds) / 2147483648",
    "longest_transaction_seconds": "max by (instance) (pg_stat_activity_max_tx_duration)",
    "idle_in_transaction_seconds": "max by (instance) (pgdba_stat_activity_max_idle_in_transaction_seconds)",
    "blocked_sessions": "pgdba_blocked_sessions",
    "deadlocks_per_minute": "rate(pg_stat_database_deadlocks[5m]) * 60",
    "rollback_ratio_percent": (
        "100 * rate(pg_stat_database_xact_rollback[5m])"
        " / (rate(pg_stat_database_xact_rollback[5m]) + rate(pg_stat_database_xact_commit[5m]) > 0)"
        " and increase(pg_stat_database_xact_rollback[5m]) + increase(pg_stat_database_xact_commit[5m])"
        " >= {min_transactions}"
    ),
    "dead_tuple_ratio_percent": (
        "100 * pg_stat_user_tables_n_dead_tup{sel}"
        " / (pg_stat_user_tables_n_live_tup{sel} + pg_stat_user_tables_n_dead_tup{sel} > 0)"
        " and pg_stat_user_tables_n_dead_tup{sel} > {min_dead_rows}"
        " and pg_stat_user_tables_table_size_bytes{sel} > {min_table_bytes}"
    ),
    "replication_lag_seconds": "pg_replication_lag_seconds",
    "inactive_replication_slots": "count by (instance) (pg_replication_slots_active == 0)",
    "backup_age_hours": "(time() - pgdba_last_backup_timestamp_seconds) / 3600",
    "restore_test_age_days": "(time() - pgdba_last_restore_test_timestamp_seconds) / 86400",
    "wal_archive_failing_hours": "pgdba_stat_archiver_failing_seconds / 3600",
}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _table_suffix(table: str) -> str:
    """A table's part of an alert name (letters and digits only, as Prometheus requires); a name that had
    other characters gets a short hash, so two tables never share an alert name."""
    relname = _relname(table)
    safe = re.sub(r"[^a-z0-9_]", "_", relname.lower())
    if safe != relname.lower():
        safe += "_" + hashlib.sha256(relname.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return _camel(safe)


def _promql_string(text: str) -> str:
    """A PromQL string literal: JSON's escapes are Go's; non-ASCII stays UTF-8 (Go refuses escaped surrogates)."""
    return json.dumps(text, ensure_ascii=False)


def _expr(rule: Rule, selector: str) -> str:
    template = PROMQL[rule.metric]
    values = {"sel": selector}
    if "window" in template:
        values["window"] = format_duration(rule.param_seconds("window"))
    for name in ("min_blocks", "min_transactions"):
        if "{" + name + "}" in template:
            values[name] = f"{max(float(rule.param(name)), 1):g}"
    if "min_dead_rows" in template:
        values["min_dead_rows"] = f"{float(rule.param('min_dead_rows')):g}"
        values["min_table_bytes"] = f"{float(rule.param('min_table_mb')) * 1048576:g}"
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def _relname(table: str) -> str:
    return table.split(".", 1)[-1]


def _alerts_for(rule: Rule) -> list[dict[str, object]]:
    overridden = [t for t, th in rule.tables.items()]
    selectors: list[tuple[str, str, float | None, float | None, float, bool]] = []
    if overridden:
        # a regex in a PromQL string: escape regex metacharacters, then quote it as a string
        names = "|".join(re.escape(_relname(t)) for t in overridden)
        selectors.append(
            (f"{{relname!~{_promql_string(names)}}}", "", rule.warn, rule.crit, rule.for_seconds, True)
        )
        for table, th in rule.tables.items():
            selectors.append(
                (
                    f"{{relname={_promql_string(_relname(table))}}}",
                    _table_suffix(table),
                    th.warn,
                    th.crit,
                    th.for_seconds,
                    th.enabled,
                )
            )
    else:
        selectors.append(("", "", rule.warn, rule.crit, rule.for_seconds, True))
    out: list[dict[str, object]] = []
    for selector, suffix, warn, crit, for_s, enabled in selectors:
        if not enabled:
            continue
        for severity, threshold in (("warning", warn), ("critical", crit)):
            if threshold is None:
                continue
            alert: dict[str, object] = {
                "alert": f"Pgdba{_camel(rule.name)}{suffix}{severity.capitalize()}",
                "expr": f"({_expr(rule, selector)}) {rule.op} {threshold:g}",
            }
            if for_s > 0:
                alert["for"] = format_duration(for_s)
            alert["labels"] = {"severity": severity, "pgdba_rule": rule.name}
            alert["annotations"] = {
                "summary": f'{rule.name}: {{{{ $value | printf "%.2f" }}}} {rule.unit} ({rule.op} {threshold:g})'
                + " on {{ $labels.instance }} {{ $labels.datname }}{{ $labels.relname }}",
                "description": rule.summary,
            }
            out.append(alert)
    return out


def _yaml_scalar(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid double-quoted YAML scalar


def prometheus_rules(rules: RuleSet) -> str:
    """The rule set as a Prometheus rule file (YAML)."""
    lines = [
        "# Prometheus alerting rules generated by `pgdba alerts export prometheus`.",
        "# Metrics: pgdba serve's /metrics (postgres_exporter names where one exists, pgdba_* otherwise).",
        "groups:",
        "  - name: pgdba",
        "    rules:",
    ]
    for rule in rules.enabled:
        for alert in _alerts_for(rule):
            lines.append(f"      - alert: {alert['alert']}")
            lines.append(f"        expr: {_yaml_scalar(alert['expr'])}")
            if "for" in alert:
                lines.append(f"        for: {alert['for']}")
            lines.append("        labels:")
            for key, value in alert["labels"].items():  # type: ignore[attr-defined]
                lines.append(f"          {key}: {_yaml_scalar(value)}")
            lines.append("        annotations:")
            for key, value in alert["annotations"].items():  # type: ignore[attr-defined]
                lines.append(f"          {key}: {_yaml_scalar(value)}")
    return "\n".join(lines) + "\n"
