"""Per-statement issues for the query-optimizer report: slow, low cache hit, N+1, unstable plan.

Thresholds are keyword arguments with documented defaults; the report shows the numbers behind each issue.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgdba.stats.statements import StatementStats

# The seed's vocabulary for severity in this report.
LOW, MEDIUM, HIGH = "low", "medium", "high"


@dataclass(frozen=True)
class StatementIssue:
    type: str
    severity: str
    message: str


def slow_query(stmt: StatementStats, *, threshold_ms: float = 100.0) -> StatementIssue | None:
    """Mean execution time at or above the threshold; high when five times over it."""
    if stmt.mean_ms < threshold_ms:
        return None
    severity = HIGH if stmt.mean_ms >= 5 * threshold_ms else MEDIUM
    return StatementIssue(
        "slow_query",
        severity,
        f"Mean time {stmt.mean_ms:,.1f} ms over {stmt.calls:,} calls (threshold: {threshold_ms:g} ms)",
    )


def low_cache_hit(
    stmt: StatementStats, *, min_ratio: float = 90.0, min_blocks: int = 1000, high_below: float = 50.0
) -> StatementIssue | None:
    """Shared-buffer hit ratio below `min_ratio` % once at least `min_blocks` blocks were touched."""
    ratio = stmt.cache_hit_ratio
    if ratio is None or ratio >= min_ratio or stmt.shared_blks_hit + stmt.shared_blks_read < min_blocks:
        return None
    severity = HIGH if ratio < high_below else MEDIUM
    return StatementIssue(
        "low_cache_hit", severity, f"Cache hit ratio: {ratio:.0f}% (target: >{min_ratio:g}%)"
    )


def n_plus_one(
    stmt: StatementStats,
    *,
    is_single_table_key_lookup: bool,
    min_calls: int = 500,
    max_rows_per_call: float = 1.5,
    max_mean_ms: float = 5.0,
) -> StatementIssue | None:
    """Many fast calls of a one-row lookup by key on one table: the shape an ORM loop leaves behind."""
    if not is_single_table_key_lookup or stmt.calls < min_calls:
        return None
    if stmt.rows_per_call > max_rows_per_call or stmt.mean_ms > max_mean_ms:
        return None
    return StatementIssue(
        "n_plus_one",
        MEDIUM,
        f"{stmt.calls:,} calls returning {stmt.rows_per_call:.2f} rows each: likely one query per row of a list "
        "(N+1); fetch the rows in one query (WHERE key = ANY($1) or a JOIN)",
    )


def unstable_plan(
    stmt: StatementStats, *, max_variation: float = 1.0, min_calls: int = 20, min_mean_ms: float = 1.0
) -> StatementIssue | None:
    """Execution time that varies a lot (stddev/mean ≥ `max_variation`): plan flips, skew or cold cache."""
    if stmt.calls < min_calls or stmt.mean_ms < min_mean_ms or stmt.mean_ms == 0:
        return None
    variation = stmt.stddev_ms / stmt.mean_ms
    if variation < max_variation:
        return None
    return StatementIssue(
        "unstable_plan",
        LOW if variation < 2 * max_variation else MEDIUM,
        f"Execution time varies widely: stddev {stmt.stddev_ms:,.1f} ms vs mean {stmt.mean_ms:,.1f} ms "
        f"(min {stmt.min_ms:,.1f}, max {stmt.max_ms:,.1f})",
    )
