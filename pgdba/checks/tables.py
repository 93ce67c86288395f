"""Table checks: bloat, dead tuples, overdue VACUUM / ANALYZE (by autovacuum's own trigger), seq-scan-heavy
large tables, tables without a primary key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pgdba.findings import Finding, Severity
from pgdba.sql_text import qualified
from pgdba.stats.bloat import BloatEstimate
from pgdba.stats.partitions import Partition
from pgdba.stats.settings import Setting
from pgdba.stats.tables import TableStats
from pgdba.units import format_bytes


@dataclass(frozen=True)
class AutovacuumTrigger:
    """When autovacuum would act on a table: threshold + scale_factor × rows (per-table reloptions win)."""

    enabled: bool
    vacuum_threshold: float
    vacuum_scale_factor: float
    analyze_threshold: float
    analyze_scale_factor: float

    def vacuum_after(self, rows: int) -> float:
        return self.vacuum_threshold + self.vacuum_scale_factor * rows

    def analyze_after(self, rows: int) -> float:
        return self.analyze_threshold + self.analyze_scale_factor * rows


def _is_false(value: str) -> bool:
    """A boolean reloption as PostgreSQL reads it (stored as written: 'no', 'f', 'OFF', '0' … all mean false)."""
    word = value.strip().lower()
    return bool(word) and (
        word == "0"
        or "false".startswith(word)
        or "no".startswith(word)
        or (len(word) > 1 and "off".startswith(word))
    )


def autovacuum_trigger(table: TableStats, settings: Mapping[str, Setting]) -> AutovacuumTrigger:
    """The server's autovacuum settings overridden by the table's own (ALTER TABLE … SET (…))."""
    options = dict(opt.split("=", 1) for opt in table.reloptions if "=" in opt)

    def pick(name: str, default: str) -> float:
        server = settings.get(name)
        return float(options.get(name, server.value if server else default))

    server_on = settings.get("autovacuum")
    enabled = (server_on is None or server_on.value == "on") and not _is_false(
        options.get("autovacuum_enabled", "true")
    )
    return AutovacuumTrigger(
        enabled,
        pick("autovacuum_vacuum_threshold", "50"),
        pick("autovacuum_vacuum_scale_factor", "0.2"),
        pick("autovacuum_analyze_threshold", "50"),
        pick("autovacuum_analyze_scale_factor", "0.1"),
    )


def _rows(table: TableStats) -> int:
    return max(table.estimated_rows, table.live_rows)


def _autovacuum_rows(table: TableStats) -> int:
    """The row count autovacuum scales its trigger by: pg_class.reltuples, once the table was analysed."""
    return table.estimated_rows if table.estimated_rows > 0 else table.live_rows


def table_bloat_findings(
    estimates: Sequence[BloatEstimate], *, min_bytes: int = 100 * 1024**2, warning_ratio: float = 0.7
) -> list[Finding]:
    """Tables ≥ `min_bytes` (100 MB) whose estimated bloat is ≥ `warning_ratio` (70 %, Netdata's table bloat
    warning) of their heap."""
    return [
        Finding(
            "table.bloat",
            Severity.WARNING,
            f"Table bloat ~{e.bloat_ratio:.0%} ({format_bytes(e.bloat_bytes)} of {format_bytes(e.actual_bytes)})",
            e.object,
            {
                "actual_bytes": e.actual_bytes,
                "expected_bytes": e.expected_bytes,
                "bloat_ratio": round(e.bloat_ratio, 3),
                "dropped_columns": e.dropped_columns,
            },
            _bloat_advice(e),
        )
        for e in estimates
        if e.index is None and e.estimable and e.actual_bytes >= min_bytes and e.bloat_ratio >= warning_ratio
    ]


def _bloat_advice(e: BloatEstimate) -> str:
    advice = (
        "VACUUM makes the space reusable but does not shrink the file; pg_repack (online) or "
        "VACUUM FULL (locks the table) gives it back"
    )
    if e.dropped_columns:
        advice += (
            f". Part of it may be the {e.dropped_columns} dropped column(s) still stored in rows written before "
            "the DROP, which VACUUM never reclaims: only such a rewrite does"
        )
    return advice


def dead_tuple_findings(
    tables: Sequence[TableStats], *, min_dead_rows: int = 10_000, warning_ratio: float = 0.1
) -> list[Finding]:
    """≥ `min_dead_rows` dead rows making up ≥ `warning_ratio` of the table (awesome-prometheus-alerts)."""
    return [
        Finding(
            "table.dead_tuples",
            Severity.WARNING,
            f"{t.dead_rows:,} dead rows ({t.dead_ratio:.0%} of the table)",
            t.qualified_name,
            {"dead_rows": t.dead_rows, "live_rows": t.live_rows, "dead_ratio": round(t.dead_ratio, 3)},
            "VACUUM it (pgdba maintenance --apply); if this recurs, lower its autovacuum_vacuum_scale_factor",
            f"VACUUM (ANALYZE) {qualified(t.schema, t.table)};",
        )
        for t in tables
        if t.dead_rows >= min_dead_rows and t.dead_ratio >= warning_ratio
    ]


def vacuum_overdue(
    tables: Sequence[TableStats],
    settings: Mapping[str, Setting],
    now: datetime,
    *,
    max_age: timedelta = timedelta(days=1),
) -> list[Finding]:
    """Tables whose dead rows passed autovacuum's trigger (threshold + scale_factor × rows, per-table
    settings respected) and that were never vacuumed or not within `max_age` (check_postgres: 1 day)."""
    found = []
    for t in tables:
        trigger = autovacuum_trigger(t, settings)
        due = trigger.vacuum_after(_autovacuum_rows(t))
        last = t.last_vacuumed
        if t.dead_rows <= due or (last is not None and now - last <= max_age):
            continue
        when = "never vacuumed" if last is None else f"last vacuumed {(now - last).days} days ago"
        found.append(
            Finding(
                "table.vacuum_overdue",
                Severity.WARNING,
                f"Needs VACUUM: {t.dead_rows:,} dead rows > autovacuum trigger {due:,.0f}, {when}",
                t.qualified_name,
                {
                    "dead_rows": t.dead_rows,
                    "autovacuum_trigger": round(due),
                    "autovacuum_enabled": trigger.enabled,
                    "last_vacuum": last,
                },
                "Run VACUUM (ANALYZE) (pgdba maintenance --apply)"
                + ("" if trigger.enabled else "; autovacuum is disabled for this table"),
                f"VACUUM (ANALYZE) {qualified(t.schema, t.table)};",
            )
        )
    return found


def never_analysed(table: TableStats) -> bool:
    """No ANALYZE on record and no statistics either. last_analyze and last_autoanalyze are activity
    counters: pg_stat_reset() and a crash clear them, and pg_statistic keeps what the last ANALYZE gathered
    (has_stats; when it is unknown, the times alone tell)."""
    return table.last_analyzed is None and table.has_stats is not True


def analyze_overdue(
    tables: Sequence[TableStats],
    settings: Mapping[str, Setting],
    now: datetime,
    *,
    max_age: timedelta = timedelta(days=1),
) -> list[Finding]:
    """Tables with rows that were never analysed, or whose changes since the last ANALYZE passed autovacuum's
    analyze trigger more than `max_age` (1 day) after that ANALYZE: the planner works from stale numbers.
    A partitioned table whose partitions hold rows and that was never analysed is one too: autovacuum
    analyses only its partitions, and estimates over the whole table (a GROUP BY, a join) are guesses.
    A table with statistics but no ANALYZE time (the counters were reset since) is judged by its changes
    alone, counted since that reset."""
    found = [_partitioned_never_analysed(t) for t in tables if t.partition_rows > 0 and never_analysed(t)]
    for t in tables:
        if t.kind == "partitioned table":
            continue  # no row counters of its own: only the never-analysed rule above applies
        trigger = autovacuum_trigger(t, settings)
        due = trigger.analyze_after(_autovacuum_rows(t))
        last = t.last_analyzed
        never = never_analysed(t) and _rows(t) + t.modified_since_analyze > 0
        stale = t.modified_since_analyze > due and (last is None or now - last > max_age)
        if not (never or stale):
            continue
        found.append(
            Finding(
                "table.analyze_overdue",
                Severity.WARNING,
                "Never analysed" if never else _stale_title(t),
                t.qualified_name,
                {
                    "modified_since_analyze": t.modified_since_analyze,
                    "autovacuum_trigger": round(due),
                    "last_analyze": last,
                },
                "Run ANALYZE (pgdba maintenance --apply)",
                f"VACUUM (ANALYZE) {qualified(t.schema, t.table)};",
            )
        )
    return found


def _stale_title(t: TableStats) -> str:
    if t.last_analyzed is None:  # analysed before the counters were reset: changes counted since the reset
        return (
            f"Stale statistics: {t.modified_since_analyze:,} rows changed since the statistics counters were "
            "reset (the last ANALYZE was before)"
        )
    return f"Stale statistics: {t.modified_since_analyze:,} rows changed since the last ANALYZE"


def _partitioned_never_analysed(t: TableStats) -> Finding:
    return Finding(
        "table.analyze_overdue",
        Severity.WARNING,
        f"Partitioned table never analysed ({t.partition_rows:,} rows in its partitions)",
        t.qualified_name,
        {"partition_rows": t.partition_rows, "last_analyze": None},
        "Run ANALYZE on it after loading and then periodically: autovacuum never analyses a partitioned "
        "table, only its partitions, so the planner guesses row counts and distinct values for the whole "
        "table (GROUP BY, joins)",
        f"ANALYZE {qualified(t.schema, t.table)};",
    )


def seq_scan_heavy(
    tables: Sequence[TableStats],
    partitions: Mapping[tuple[str, str], Sequence[Partition]] | None = None,
    *,
    min_rows: int = 10_000,
    min_seq_scans: int = 50,
    min_seq_share: float = 0.5,
) -> list[Finding]:
    """Tables of ≥ `min_rows` rows read by ≥ `min_seq_scans` sequential scans making up ≥ `min_seq_share` of
    all its scans: some query filters it without an index. The partitions of a partitioned table (`partitions`:
    pgdba.stats.partitions.partition_trees) are judged together, as that table: a query on it scans each
    partition it reads, and the index that serves it is created on it (one finding, not one per partition)."""
    root_of = {(p.schema, p.name): root for root, parts in (partitions or {}).items() for p in parts}
    groups: dict[tuple[str, str], list[TableStats]] = {}
    for t in tables:
        if t.kind != "partitioned table":  # no scans or rows of its own: its partitions have them
            groups.setdefault(root_of.get((t.schema, t.table), (t.schema, t.table)), []).append(t)
    found = []
    for (schema, name), members in groups.items():
        seq_scans = sum(t.seq_scans for t in members)
        scans = seq_scans + sum(t.index_scans for t in members)
        rows = sum(_rows(t) for t in members)
        if rows < min_rows or seq_scans < min_seq_scans or seq_scans / scans < min_seq_share:
            continue
        partitioned = (schema, name) in (partitions or {})
        of, whose = (
            (f"its {len(members)} partitions' {rows:,} rows", "their")
            if partitioned
            else (f"{rows:,} rows", "its")
        )
        metrics: dict[str, object] = {
            "seq_scans": seq_scans,
            "index_scans": scans - seq_scans,
            "rows": rows,
            "avg_rows_per_seq_scan": sum(t.seq_rows_read for t in members) // max(seq_scans, 1),
        }
        if partitioned:
            metrics["partitions"] = len(members)
        found.append(
            Finding(
                "table.seq_scan_heavy",
                Severity.WARNING,
                f"{seq_scans:,} sequential scans of {of} ({seq_scans / scans:.0%} of {whose} scans)",
                f"{schema}.{name}",
                metrics,
                "Find the queries filtering it (pgdba queries slow) and index their WHERE columns "
                "(pgdba advise indexes)",
            )
        )
    return found


def missing_primary_keys(tables: Sequence[TableStats]) -> list[Finding]:
    """Tables without a primary key: rows cannot be addressed reliably, logical replication cannot
    replicate their UPDATEs and DELETEs, and ORMs need one (a materialized view cannot have one). A
    partitioned table's partitions are not named: the key is added to it, which adds it to each of them."""
    return [
        Finding(
            "table.no_primary_key",
            Severity.WARNING,
            "No primary key",
            t.qualified_name,
            {"rows": max(_rows(t), t.partition_rows)},
            "Add a primary key (ALTER TABLE … ADD PRIMARY KEY, or an identity column)"
            + (
                "; on a partitioned table it includes the partition key's columns"
                if t.kind == "partitioned table"
                else ""
            ),
        )
        for t in tables
        if not t.has_primary_key and t.kind != "materialized view" and not t.is_partition
    ]
