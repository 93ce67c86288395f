"""Prometheus alerting rules for the metrics `pgdba serve` exposes at /metrics (postgres_exporter names).

One alert per rule and severity (PgdbaDatabaseSizeWarning, …Critical). Per-table overrides become their own
alerts: a bare name ("BehaviorLog") on `relname` in any schema, a schema-qualified one ("public.orders") on
`schemaname` and `relname`; the generic alert leaves those tables out (a qualified override only that
schema's table, with `unless on (schemaname, relname)`). Hysteresis has no Prometheus equivalent and is not
exported; `for` is. Thresholds are written exactly (repr), never rounded.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass

from pgdba.alerts.rules import Rule, RuleSet, format_duration, format_number, table_key_parts

# A table's size: a table with storage (partitions too) in one family, a partitioned table (its partitions'
# summed) in the other, so a sum over the first counts each byte once. The check judges both, so do the rules.
TABLE_SIZE_FAMILIES = ("pg_stat_user_tables_table_size_bytes", "pg_partitioned_table_size_bytes")


def _either_table_size(template: str) -> str:
    """`template` (holding {family}) over both size families, joined with `or` (their tables differ)."""
    return "(" + " or ".join(template.replace("{family}", family) for family in TABLE_SIZE_FAMILIES) + ")"


# PromQL for each metric, in the rule's unit; {sel} is where a per-table label matcher goes.
PROMQL: dict[str, str] = {
    "database_size_gb": "pg_database_size_bytes / 1073741824",
    "table_growth_mb_per_hour": _either_table_size("deriv({family}{sel}[{window}])") + " * 3600 / 1048576",
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
        " and " + _either_table_size("{family}{sel}") + " > {min_table_bytes}"
    ),
    "replication_lag_seconds": "pg_replication_lag_seconds",
    "inactive_replication_slots": "count by (instance) (pg_replication_slots_active == 0)",
    # since the last success, else (none ever succeeded) since the first failure: a job failing since it was
    # set up ages too, as in the check
    "backup_age_hours": (
        "(time() - (pgdba_last_backup_timestamp_seconds or pgdba_backup_failing_since_timestamp_seconds)) / 3600"
    ),
    # ... and when no restore test was ever recorded, since the first backup (never restored, overdue)
    "restore_test_age_days": (
        "(time() - (pgdba_last_restore_test_timestamp_seconds"
        " or pgdba_restore_test_failing_since_timestamp_seconds"
        " or pgdba_backups_untested_since_timestamp_seconds)) / 86400"
    ),
    "restore_test_failed": "pgdba_last_restore_test_failed",
    "wal_archive_failing_hours": "pgdba_stat_archiver_failing_seconds / 3600",
    "partition_runway_days": "(pgdba_partition_end_timestamp_seconds{sel} - time()) / 86400",
}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _safe_part(name: str) -> str:
    """A name as letters, digits and _ (as Prometheus requires of an alert name); a name that had other
    characters gets a short hash of it."""
    safe = re.sub(r"[^a-z0-9_]", "_", name.lower())
    if safe != name.lower():
        safe += "_" + _short_hash(name)
    return safe


def _short_hash(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _table_suffixes(tables: list[str]) -> dict[str, str]:
    """Each override's part of its alert names: the table ("BehaviorLog"), schema and table for a qualified
    key ("public.orders" → PublicOrders). Two keys that would share one (public.orders and public_orders)
    each get a short hash of their key, so two overrides never share an alert name."""
    plain = {}
    for table in tables:
        schema, name = table_key_parts(table)
        parts = [name] if schema is None else [schema, name]
        plain[table] = _camel("_".join(_safe_part(part) for part in parts))
    uses = Counter(plain.values())
    return {
        table: suffix if uses[suffix] == 1 else f"{suffix}{_short_hash(table).capitalize()}"
        for table, suffix in plain.items()
    }


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
            values[name] = format_number(max(float(rule.param(name)), 1))
    if "min_dead_rows" in template:
        values["min_dead_rows"] = format_number(float(rule.param("min_dead_rows")))
        values["min_table_bytes"] = format_number(float(rule.param("min_table_mb")) * 1048576)
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


@dataclass(frozen=True)
class _Scope:
    """The series one alert of a rule watches: label matchers, and the (schema, table) pairs it leaves out."""

    matchers: tuple[str, ...]
    suffix: str
    warn: float | None
    crit: float | None
    for_seconds: float
    enabled: bool = True
    excluded: tuple[tuple[str, str], ...] = ()

    @property
    def selector(self) -> str:
        return "{" + ",".join(self.matchers) + "}" if self.matchers else ""

    def unless(self) -> str:
        """` unless on (schemaname, relname) (…)` leaving out the excluded schema-qualified tables."""
        if not self.excluded:
            return ""
        # every table /metrics exposes has a size series, in one family or the other
        tables = " or ".join(
            _either_table_size(
                "{family}" + f"{{schemaname={_promql_string(schema)},relname={_promql_string(name)}}}"
            )
            for schema, name in self.excluded
        )
        return f" unless on (schemaname, relname) ({tables})"


def _scopes(rule: Rule) -> list[_Scope]:
    """The generic alert's scope and one per table override. A bare override (relname) is left out of the
    generic alert by name; a schema-qualified one only for its schema (and out of a bare override of the
    same name too, as the check gives the qualified key precedence)."""
    if not rule.tables:
        return [_Scope((), "", rule.warn, rule.crit, rule.for_seconds)]
    keys = {table: table_key_parts(table) for table in rule.tables}
    bare = [name for schema, name in keys.values() if schema is None]
    qualified = [(schema, name) for schema, name in keys.values() if schema is not None]
    # a regex in a PromQL string: escape regex metacharacters, then quote it as a string
    generic = (f"relname!~{_promql_string('|'.join(re.escape(name) for name in bare))}",) if bare else ()
    scopes = [_Scope(generic, "", rule.warn, rule.crit, rule.for_seconds, True, tuple(qualified))]
    suffixes = _table_suffixes(list(rule.tables))
    for table, th in rule.tables.items():
        schema, name = keys[table]
        if schema is None:
            matchers: tuple[str, ...] = (f"relname={_promql_string(name)}",)
            excluded = tuple(pair for pair in qualified if pair[1] == name)
        else:
            matchers = (f"schemaname={_promql_string(schema)}", f"relname={_promql_string(name)}")
            excluded = ()
        scopes.append(
            _Scope(matchers, suffixes[table], th.warn, th.crit, th.for_seconds, th.enabled, excluded)
        )
    return scopes


def _alerts_for(rule: Rule) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for scope in _scopes(rule):
        if not scope.enabled:
            continue
        for severity, threshold in (("warning", scope.warn), ("critical", scope.crit)):
            if threshold is None:
                continue
            number = format_number(threshold)
            alert: dict[str, object] = {
                "alert": f"Pgdba{_camel(rule.name)}{scope.suffix}{severity.capitalize()}",
                "expr": f"({_expr(rule, scope.selector)}) {rule.op} {number}{scope.unless()}",
            }
            if scope.for_seconds > 0:
                alert["for"] = format_duration(scope.for_seconds)
            alert["labels"] = {"severity": severity, "pgdba_rule": rule.name}
            # a boolean is yes or no (as `pgdba alerts check` prints it), not "1.00 boolean (>= 1)"
            value = (
                "{{ if eq $value 1.0 }}yes{{ else }}no{{ end }}"
                if rule.unit == "boolean"
                else f'{{{{ $value | printf "%.2f" }}}} {rule.unit} ({rule.op} {number})'
            )
            alert["annotations"] = {
                "summary": f"{rule.name}: {value}"
                # the instance, then the database and the schema-qualified table where the series has them
                + " on {{ $labels.instance }}{{ with $labels.datname }} {{ . }}{{ end }}"
                + "{{ with $labels.relname }} {{ with $labels.schemaname }}{{ . }}.{{ end }}{{ . }}{{ end }}",
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
