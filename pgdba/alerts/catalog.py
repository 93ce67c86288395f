"""The metrics alert rules can watch: their scope, unit and the parameters a rule may set for them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MetricSpec:
    name: str
    scope: str  # server, database or table
    unit: str
    description: str
    params: dict[str, float | str] = field(default_factory=dict)


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("database_size_gb", "database", "GB", "pg_database_size of the target database, GB"),
        MetricSpec(
            "table_growth_mb_per_hour",
            "table",
            "MB/h",
            "growth of pg_total_relation_size (a partitioned table: its partitions' summed) between two "
            "table_sizes snapshots",
            {"window": "1h", "top_tables": 50.0},
        ),
        MetricSpec(
            "connection_usage_percent",
            "server",
            "%",
            "client backends / (max_connections - superuser_reserved_connections - reserved_connections)",
        ),
        MetricSpec(
            "slow_query_mean_ms",
            "database",
            "ms",
            "highest mean time of a statement over the calls since the last check",
            {"min_calls": 1.0},
        ),
        MetricSpec(
            "cache_hit_ratio_percent",
            "database",
            "%",
            "blks_hit / (blks_hit + blks_read) since the last check",
            {"min_blocks": 100.0},
        ),
        MetricSpec(
            "disk_usage_percent",
            "server",
            "%",
            "used / (used + available) of the fullest filesystem of the data directory, pg_wal and tablespaces",
        ),
        MetricSpec("xid_age_percent", "server", "%", "max age(datfrozenxid) / 2^31"),
        MetricSpec(
            "longest_transaction_seconds",
            "server",
            "s",
            "now() - xact_start of the oldest client transaction",
        ),
        MetricSpec(
            "idle_in_transaction_seconds",
            "server",
            "s",
            "now() - state_change of the longest idle-in-transaction session",
        ),
        MetricSpec(
            "blocked_sessions", "server", "sessions", "sessions whose pg_blocking_pids() is not empty"
        ),
        MetricSpec(
            "deadlocks_per_minute",
            "database",
            "/min",
            "pg_stat_database.deadlocks per minute since the last check",
        ),
        MetricSpec(
            "rollback_ratio_percent",
            "database",
            "%",
            "xact_rollback / (xact_commit + xact_rollback) since the last check",
            {"min_transactions": 100.0},
        ),
        MetricSpec(
            "dead_tuple_ratio_percent",
            "table",
            "%",
            "n_dead_tup / (n_live_tup + n_dead_tup) of tables over min_table_mb with over min_dead_rows dead rows",
            {"min_dead_rows": 10000.0, "min_table_mb": 100.0, "top_tables": 50.0},
        ),
        MetricSpec(
            "replication_lag_seconds", "server", "s", "replay lag of the slowest standby, or of this standby"
        ),
        MetricSpec("inactive_replication_slots", "server", "slots", "replication slots with active = false"),
        MetricSpec(
            "backup_age_hours",
            "server",
            "h",
            "hours since the newest successful 'backup' history record (none ever succeeded: since the first "
            "failed one)",
        ),
        MetricSpec(
            "restore_test_age_days",
            "server",
            "days",
            "days since the newest successful 'restore_test' history record (none ever passed: since the "
            "first failed one; none ever recorded: since the first successful backup)",
        ),
        MetricSpec(
            "restore_test_failed",
            "server",
            "boolean",
            "1 when the newest 'restore_test' history record failed, 0 when it passed",
        ),
        MetricSpec(
            "wal_archive_failing_hours",
            "server",
            "h",
            "hours without an archived WAL file while the archiver's newest attempt failed (pg_stat_archiver); "
            "0 while archiving works or is off",
        ),
        MetricSpec(
            "partition_runway_days",
            "table",
            "days",
            "days until the last partition of a table range-partitioned by a date or timestamp column ends "
            "(INSERTs past it fail; 0 with no partition at all); not a table with a DEFAULT or MAXVALUE "
            "partition, nor one whose last partition took no INSERT since the statistics reset",
        ),
    )
}

SCOPES = ("server", "database", "table")
OPS = (">", ">=", "<", "<=")
