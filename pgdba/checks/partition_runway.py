"""A table partitioned by a time range that is about to run out of partitions: past the last one's upper
bound every INSERT fails ("no partition of relation … found for row"), an outage the day the month turns
(the user's BehaviorLog, partitioned by month, whose next month nobody created).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

from pgdba.advisor.candidates import identifier_prefix
from pgdba.findings import Finding, Severity
from pgdba.sql_text import qualified
from pgdba.stats.partition_runway import PartitionRunway

# a name suffix that spells the partition's lower bound (`behavior_log_2026_12`, pg_partman's `p20261201`)
_NAME_FORMATS = (
    "%Y_%m_%d_%H%M",
    "%Y%m%d_%H%M",
    "%Y%m%d%H%M",
    "%Y_%m_%d",
    "%Y%m%d",
    "%Y-%m-%d",
    "%Y_%m",
    "%Y%m",
    "%Y-%m",
    "%Y",
)
# the partitions the SQL creates are made with a short lock wait: CREATE TABLE … PARTITION OF takes an
# ACCESS EXCLUSIVE lock on the table for a moment, and waiting behind a long query would queue every query
# of the table behind it
LOCK_TIMEOUT = "5s"


def partition_runway_findings(
    runways: Sequence[PartitionRunway], *, warning_days: float = 7.0, critical_days: float = 1.0
) -> list[Finding]:
    """Range-partitioned tables (a date or timestamp key) whose partitions end within `critical_days`
    (critical, or already past: INSERTs of now fail) or within `warning_days` (warning; less than two
    partitions' widths ahead counts only when that is shorter: a daily table kept four days ahead is
    healthy). None where a DEFAULT partition or one up to MAXVALUE takes the rows; info only where no row was
    inserted into the last partition since the statistics reset (a table nobody writes any more)."""
    found: list[Finding] = []
    for runway in runways:
        if runway.takes_every_row:
            continue
        if runway.covered_until is None:
            found.append(_no_partition(runway))
            continue
        left = runway.covered_until - runway.now
        width = runway.covered_until - runway.last_lower if runway.last_lower is not None else None
        warn = timedelta(days=warning_days)
        if width is not None and width > timedelta(0):
            warn = min(warn, 2 * width)
        if left >= warn:
            continue
        severity = Severity.CRITICAL if left < timedelta(days=critical_days) else Severity.WARNING
        if runway.archive:  # said, not alarmed
            severity = Severity.INFO
        found.append(_runway(runway, left, severity))
    return found


def _no_partition(runway: PartitionRunway) -> Finding:
    return Finding(
        "capacity.partition_runway",
        Severity.CRITICAL,
        "Partitioned table has no partition for a time range: every INSERT fails",
        runway.qualified_name,
        {"partitions": runway.partitions, "key": runway.key_column},
        f"Create its partitions by {runway.key_column} range (or a DEFAULT partition)",
    )


def _runway(runway: PartitionRunway, left: timedelta, severity: Severity) -> Finding:
    assert runway.covered_until is not None
    until = runway.covered_until.strftime("%Y-%m-%d %H:%M %Z").strip()
    if left <= timedelta(0):
        title = f"INSERTs fail now: no partition takes rows with {runway.key_column} ≥ {until}"
    else:
        title = (
            f"Partitions end in {_duration(left)}: INSERTs of rows with {runway.key_column} ≥ {until} will "
            "fail"
        )
    if severity is Severity.INFO:
        title += " (no row inserted into the last partition since the statistics reset: an archive?)"
    steps = _next_partitions(runway)
    recommendation = (
        "Create the next partitions ahead of time, and keep doing it (pg_partman, or a scheduled job): each "
        "CREATE TABLE … PARTITION OF takes an ACCESS EXCLUSIVE lock on the table for a moment, so run them "
        "with a short lock_timeout and retry; or add a DEFAULT partition (rows then land there, and "
        "creating their partition later has to move them)"
    )
    if runway.last_partitioned:
        recommendation += f". {runway.last_name} is partitioned in turn: " + (
            f"each next one is too, {runway.last_partition_key}, with partitions of the same bounds"
            if steps
            else "create the next one the same way, with its own partitions (their bounds change with it, "
            "so pgdba does not write them)"
        )
    return Finding(
        "capacity.partition_runway",
        severity,
        title,
        runway.qualified_name,
        {
            "covered_until": runway.covered_until.isoformat(),
            "days_left": round(left.total_seconds() / 86400, 2),
            "partitions": runway.partitions,
            "last_partition": f"{runway.last_schema}.{runway.last_name}",
            "partition_step": runway.step,
            "last_partition_inserts": runway.last_inserts,
        },
        recommendation,
        "\n".join([f"SET lock_timeout = '{LOCK_TIMEOUT}';", *steps]) if steps else None,
    )


def _next_partitions(runway: PartitionRunway) -> list[str]:
    """CREATE TABLE … PARTITION OF for each next step from where the partitions end to the runway wanted
    (next_bounds), named as the last partition is (its lower bound's date in its name, replaced). A last
    partition partitioned in turn by a key without the time column (`HASH (user_id)`, a LIST of regions) is
    followed with its partitions: each next one is partitioned the same way, its partitions have the same
    bounds and names with the new partition's. Nothing (advice only) where those bounds would have to move
    with time, a partition of the last one is partitioned again, or a name cannot be derived."""
    assert runway.last_name is not None and runway.last_schema is not None
    if runway.last_partitioned and not _follows_sub_partitions(runway):
        return []
    statements = []
    for lower, upper in itertools.pairwise(runway.next_bounds):
        name = _partition_name(runway, lower)
        partitioned_by = f" PARTITION BY {runway.last_partition_key}" if runway.last_partitioned else ""
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {qualified(runway.last_schema, name)} PARTITION OF "
            f"{qualified(runway.schema, runway.table)} FOR VALUES FROM ({_literal(lower)}) TO "
            f"({_literal(upper)}){partitioned_by};"
        )
        for child in runway.last_children:  # (none unless the last partition is partitioned)
            child_name = _sub_partition_name(runway, child.name, name, lower)
            assert child_name is not None  # _follows_sub_partitions derived each
            statements.append(
                f"CREATE TABLE IF NOT EXISTS {qualified(child.schema, child_name)} PARTITION OF "
                f"{qualified(runway.last_schema, name)} {child.bound};"
            )
    return statements


def _follows_sub_partitions(runway: PartitionRunway) -> bool:
    """The last partition's own partitions can be made again for the next one: a key without the time
    column, one level only, and each partition's name derivable."""
    if runway.last_key_follows_time or not runway.last_children:
        return False
    if any(child.partitioned for child in runway.last_children) or len(runway.next_bounds) < 2:
        return False
    lower, name = runway.next_bounds[0], _partition_name(runway, runway.next_bounds[0])
    return all(_sub_partition_name(runway, c.name, name, lower) for c in runway.last_children)


def _sub_partition_name(runway: PartitionRunway, child: str, new_parent: str, lower: str) -> str | None:
    """A partition of the last partition, renamed for the new one: the last partition's name at its start
    replaced by the new one's (`behavior_log_2026_12_p0` → `behavior_log_2027_01_p0`), else the date in it
    that spells the last partition's lower bound replaced; None when neither is in it."""
    last_name = runway.last_name or ""
    if child.startswith(last_name) and len(child) > len(last_name):
        return identifier_prefix(new_parent + child[len(last_name) :])
    spelled = _spelled_lower(runway)
    if spelled is not None and spelled[1] in child:
        pattern, text = spelled
        return identifier_prefix(child.replace(text, datetime.fromisoformat(lower).strftime(pattern), 1))
    return None


def _spelled_lower(runway: PartitionRunway) -> tuple[str, str] | None:
    """The date format, and its text, with which the last partition's name ends in its lower bound."""
    last_name, last_lower = runway.last_name or "", runway.last_lower
    if last_lower is None:
        return None
    for pattern in _NAME_FORMATS:
        spelled = last_lower.strftime(pattern)
        if last_name.endswith(spelled):
            return pattern, spelled
    return None


def _partition_name(runway: PartitionRunway, lower: str) -> str:
    """The name of the partition starting at `lower`: the last partition's name with the date in it
    spelling its own lower bound replaced by `lower`'s, else `<table>_<yyyymmdd>` (`_hhmm` too within a
    day)."""
    start = datetime.fromisoformat(lower)
    spelled = _spelled_lower(runway)
    if spelled is not None:
        pattern, text = spelled
        return identifier_prefix((runway.last_name or "")[: -len(text)] + start.strftime(pattern))
    suffix = start.strftime("%Y%m%d") + (start.strftime("_%H%M") if start.hour or start.minute else "")
    return identifier_prefix(f"{runway.table}_{suffix}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _duration(left: timedelta) -> str:
    if left >= timedelta(days=2):
        return f"{left.days} days"
    hours = left.total_seconds() / 3600
    return f"{hours:.0f} hours" if hours >= 1 else f"{max(left.total_seconds() / 60, 0):.0f} minutes"
