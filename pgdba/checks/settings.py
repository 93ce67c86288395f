"""Settings that matter for an OLTP web workload, each with the reason.

Without the machine's RAM (pgdba reads only the database), memory advice compares against PostgreSQL's
defaults and against what the statistics show (temp files, cache hits), never against a guessed RAM size.
"""

from __future__ import annotations

from collections.abc import Mapping

from pgdba.findings import Finding, Severity
from pgdba.stats.database import DatabaseStats
from pgdba.stats.settings import Setting
from pgdba.units import format_bytes

DEFAULT_SHARED_BUFFERS = 128 * 1024**2
DEFAULT_EFFECTIVE_CACHE_SIZE = 4 * 1024**3


def _finding(
    name: str, severity: Severity, title: str, value: str, recommendation: str, sql: str | None
) -> Finding:
    return Finding(f"settings.{name}", severity, title, name, {"value": value}, recommendation, sql)


def settings_findings(
    settings: Mapping[str, Setting],
    db: DatabaseStats | None,
    *,
    min_temp_files: int = 100,
    ssd_random_page_cost: float = 1.1,
) -> list[Finding]:
    """shared_buffers, work_mem, effective_cache_size, random_page_cost, autovacuum and track_io_timing."""
    found: list[Finding] = []

    def get(name: str) -> Setting | None:
        return settings.get(name)

    shared = get("shared_buffers")
    shared_bytes = shared.bytes() if shared else None
    if shared_bytes is not None and shared_bytes <= DEFAULT_SHARED_BUFFERS:
        found.append(
            _finding(
                "shared_buffers",
                Severity.INFO,
                f"shared_buffers is {format_bytes(shared_bytes)}, PostgreSQL's default",
                format_bytes(shared_bytes),
                "Give it about 25 % of the server's RAM (needs a restart)",
                "ALTER SYSTEM SET shared_buffers = '…';  -- 25 % of RAM, then restart",
            )
        )
    work_mem = get("work_mem")
    if work_mem and db is not None and db.temp_files >= min_temp_files:
        found.append(
            _finding(
                "work_mem",
                Severity.WARNING,
                f"{db.temp_files:,} temp files ({format_bytes(db.temp_bytes)}) with work_mem "
                f"{format_bytes(work_mem.bytes() or 0)}",
                format_bytes(work_mem.bytes() or 0),
                "Sorts and hashes spill to disk: raise work_mem (per sort, per connection — mind "
                "max_connections), or raise it only for the reporting queries",
                None,
            )
        )
    ecs = get("effective_cache_size")
    ecs_bytes = ecs.bytes() if ecs else None
    if ecs_bytes is not None and shared_bytes is not None and ecs_bytes < shared_bytes:
        found.append(
            _finding(
                "effective_cache_size",
                Severity.WARNING,
                f"effective_cache_size ({format_bytes(ecs_bytes)}) is below shared_buffers",
                format_bytes(ecs_bytes),
                "Set it to about 50-75 % of RAM: the planner under-costs index scans otherwise",
                None,
            )
        )
    elif ecs is not None and ecs.is_default:
        found.append(
            _finding(
                "effective_cache_size",
                Severity.INFO,
                "effective_cache_size is the default 4 GB",
                format_bytes(ecs_bytes or 0),
                "Set it to about 50-75 % of RAM so the planner knows how much the OS caches",
                None,
            )
        )
    rpc = get("random_page_cost")
    if rpc is not None and float(rpc.value) >= 4.0:
        found.append(
            _finding(
                "random_page_cost",
                Severity.INFO,
                f"random_page_cost is {rpc.value} (tuned for spinning disks)",
                rpc.value,
                f"On SSD or cloud storage use {ssd_random_page_cost:g}: index scans are priced too high otherwise",
                f"ALTER SYSTEM SET random_page_cost = {ssd_random_page_cost:g}; SELECT pg_reload_conf();",
            )
        )
    for name in ("autovacuum", "track_counts"):
        s = get(name)
        if s is not None and s.value != "on":
            found.append(
                _finding(
                    name,
                    Severity.CRITICAL,
                    f"{name} is off",
                    s.value,
                    "Without autovacuum dead rows pile up and transaction IDs are never frozen (wraparound)",
                    f"ALTER SYSTEM SET {name} = on; SELECT pg_reload_conf();",
                )
            )
    tio = get("track_io_timing")
    if tio is not None and tio.value != "on":
        found.append(
            _finding(
                "track_io_timing",
                Severity.INFO,
                "track_io_timing is off",
                tio.value,
                "Turn it on to see how much of each query's time is disk reads (cheap on modern kernels)",
                "ALTER SYSTEM SET track_io_timing = on; SELECT pg_reload_conf();",
            )
        )
    return found
