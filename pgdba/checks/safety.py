"""Safety checks: wraparound, sequence exhaustion, long and idle-in-transaction sessions, lock chains,
connection headroom, replication slots and lag."""

from __future__ import annotations

from collections.abc import Sequence

from pgdba.findings import Finding, Severity
from pgdba.statement_text import shortened
from pgdba.stats.activity import ConnectionUsage, SessionActivity
from pgdba.stats.database import WraparoundAge
from pgdba.stats.replication import ReplicationSlot, StandbyLag
from pgdba.stats.sequences import SequenceStats
from pgdba.units import format_bytes

XID_LIMIT = 2**31  # transaction IDs (and multixacts) wrap around at 2^31 of age


def _query(text: str, width: int = 100) -> str:
    return shortened(text, width)


def wraparound(
    ages: Sequence[WraparoundAge],
    *,
    warning_age: int = 650_000_000,
    critical_age: int = 1_300_000_000,
    freeze_margin: float = 1.25,
) -> list[Finding]:
    """Databases whose oldest unfrozen transaction ID or multixact is ≥ `warning_age` old (PgHero warns with
    fewer than 1.5 B left of the 2.1 B limit) or ≥ `critical_age` (check_postgres's txn_wraparound warning).

    A server whose autovacuum_freeze_max_age (autovacuum_multixact_freeze_max_age) was raised lets ages grow
    that far by design before its anti-wraparound vacuum starts: the warning then begins at `freeze_margin`
    times that setting (the vacuum should have frozen the oldest table by then), never past `critical_age`.
    With PostgreSQL's defaults (200 M, 400 M) the warning stays at `warning_age`."""
    found = []
    for a in ages:
        for kind, age, setting, freeze_max_age, code in (
            ("transaction ID", a.xid_age, "autovacuum_freeze_max_age", a.freeze_max_age, "safety.wraparound"),
            (
                "multixact",
                a.mxid_age,
                "autovacuum_multixact_freeze_max_age",
                a.multixact_freeze_max_age,
                "safety.multixact_wraparound",
            ),
        ):
            warn_from = max(warning_age, min(critical_age, int(freeze_max_age * freeze_margin)))
            if age < warn_from:
                continue
            raised = warn_from > warning_age
            found.append(
                Finding(
                    code,
                    Severity.CRITICAL if age >= critical_age else Severity.WARNING,
                    f"{kind} age {age:,} ({age / XID_LIMIT:.0%} of the wraparound limit)"
                    + (f"; {setting} is {freeze_max_age:,}" if raised else ""),
                    a.object,
                    {"age": age, "limit": XID_LIMIT, "remaining": XID_LIMIT - age, "warning_age": warn_from},
                    "Find what blocks freezing (long transactions, prepared transactions, replication slots) "
                    "and run VACUUM (FREEZE) on the oldest tables",
                )
            )
    return found


def sequence_exhaustion(
    sequences: Sequence[SequenceStats], *, warning_ratio: float = 0.85, critical_ratio: float = 0.95
) -> list[Finding]:
    """Sequences that used ≥ `warning_ratio` (check_postgres: 85 %) or ≥ `critical_ratio` (95 %) of their range
    — the range of the column they feed when that is smaller (int4 column, bigint sequence). A CYCLE sequence
    counts only when that column is narrower: it cycles by design, but the column overflows first."""
    found = []
    for s in sequences:
        ratio = s.used_ratio
        narrower = s.narrower_column
        # CYCLE restarts at the sequence's own bound: a narrower column overflows before that
        if ratio is None or (s.cycle and not narrower) or ratio < warning_ratio:
            continue
        found.append(
            Finding(
                "safety.sequence_exhaustion",
                Severity.CRITICAL if ratio >= critical_ratio else Severity.WARNING,
                f"Sequence {ratio:.0%} used ({s.last_value:,} of {s.limit:,})"
                + (f", feeding {s.owner_column_type} column {s.owner_column}" if narrower else ""),
                s.qualified_name,
                {
                    "last_value": s.last_value,
                    "max_value": s.effective_max,
                    "used_ratio": round(ratio, 4),
                    "column_type": s.owner_column_type,
                },
                "Migrate the column to bigint"
                if narrower or s.data_type != "bigint"
                else "Plan a new key range before it runs out",
            )
        )
    return found


def long_running_queries(
    sessions: Sequence[SessionActivity], *, warning_seconds: float = 60.0, critical_seconds: float = 300.0
) -> list[Finding]:
    """Active queries running ≥ `warning_seconds` (PgHero: 60 s) or ≥ `critical_seconds` (pgwatch: 300 s)."""
    return [
        Finding(
            "safety.long_running",
            Severity.CRITICAL if (s.query_seconds or 0) >= critical_seconds else Severity.WARNING,
            f"Query running for {s.query_seconds:,.0f} s (pid {s.pid}, {s.user})",
            f"pid {s.pid}",
            {
                "pid": s.pid,
                "seconds": round(s.query_seconds or 0, 1),
                "database": s.database,
                "query": _query(s.query),
            },
            "Check it is expected; stop it with SELECT pg_cancel_backend(pid) if not",
            f"SELECT pg_cancel_backend({s.pid});",
        )
        for s in sessions
        if s.state == "active" and (s.query_seconds or 0) >= warning_seconds
    ]


def idle_in_transaction(
    sessions: Sequence[SessionActivity], *, warning_seconds: float = 60.0, critical_seconds: float = 600.0
) -> list[Finding]:
    """Sessions idle inside an open transaction for ≥ `warning_seconds`: they hold locks and stop VACUUM from
    removing dead rows."""
    return [
        Finding(
            "safety.idle_in_transaction",
            Severity.CRITICAL if (s.state_seconds or 0) >= critical_seconds else Severity.WARNING,
            f"Idle in transaction for {s.state_seconds:,.0f} s (pid {s.pid}, {s.user}, {s.application or '?'})",
            f"pid {s.pid}",
            {
                "pid": s.pid,
                "idle_seconds": round(s.state_seconds or 0, 1),
                "transaction_seconds": round(s.xact_seconds or 0, 1),
                "last_query": _query(s.query),
            },
            "Fix the application path that leaves transactions open; set idle_in_transaction_session_timeout",
            f"SELECT pg_terminate_backend({s.pid});",
        )
        for s in sessions
        if s.state in ("idle in transaction", "idle in transaction (aborted)")
        and (s.state_seconds or 0) >= warning_seconds
    ]


def blocked_sessions(
    sessions: Sequence[SessionActivity], *, warning_seconds: float = 5.0, critical_seconds: float = 60.0
) -> list[Finding]:
    """Lock chains: one finding per root blocker (a session blocking others while not blocked itself), with
    every session waiting behind it ≥ `warning_seconds`; critical once one waited `critical_seconds`
    (check_postgres lockwait: 1 min)."""
    by_pid = {s.pid: s for s in sessions}
    waiting = [s for s in sessions if s.blocked_by and (s.query_seconds or 0) >= warning_seconds]
    chains: dict[int, list[SessionActivity]] = {}
    depth: dict[int, int] = {}
    for s in waiting:
        root, seen, level = s.pid, set(), 0
        while by_pid.get(root) and by_pid[root].blocked_by and root not in seen:
            seen.add(root)
            root = by_pid[root].blocked_by[0]
            level += 1
        chains.setdefault(root, []).append(s)
        depth[root] = max(depth.get(root, 0), level)
    found = []
    for root, victims in chains.items():
        blocker = by_pid.get(root)
        longest = max(v.query_seconds or 0 for v in victims)
        found.append(
            Finding(
                "safety.blocked_sessions",
                Severity.CRITICAL if longest >= critical_seconds else Severity.WARNING,
                f"pid {root} blocks {len(victims)} session(s), longest wait {longest:,.0f} s"
                + (f" (chain depth {depth[root]})" if depth[root] > 1 else ""),
                f"pid {root}",
                {
                    "blocker_pid": root,
                    "blocker_state": blocker.state if blocker else None,
                    "blocker_query": _query(blocker.query) if blocker else None,
                    "blocked_pids": [v.pid for v in victims],
                    "longest_wait_seconds": round(longest, 1),
                    "chain_depth": depth[root],
                },
                "End the blocking transaction (commit it, or pg_terminate_backend if it is stuck)",
                f"SELECT pg_terminate_backend({root});",
            )
        )
    return found


def connection_headroom(
    usage: ConnectionUsage, *, warning_ratio: float = 0.8, critical_ratio: float = 0.9
) -> list[Finding]:
    """Client connections ≥ `warning_ratio` (80 %) / `critical_ratio` (90 %) of max_connections minus the
    reserved slots (Netdata / awesome-prometheus-alerts)."""
    if usage.used_ratio < warning_ratio:
        return []
    return [
        Finding(
            "safety.connections",
            Severity.CRITICAL if usage.used_ratio >= critical_ratio else Severity.WARNING,
            f"{usage.connections} of {usage.usable} usable connections in use ({usage.used_ratio:.0%})",
            "server",
            {
                "connections": usage.connections,
                "max_connections": usage.max_connections,
                "reserved": usage.reserved,
                "used_ratio": round(usage.used_ratio, 3),
            },
            "Put a pooler in front (pgbouncer) or shrink application pools; see `pgdba pool advise`",
        )
    ]


def inactive_replication_slots(
    slots: Sequence[ReplicationSlot], *, critical_bytes: int = 10 * 1024**3
) -> list[Finding]:
    """Slots with no consumer: they keep WAL (and old rows, for logical slots) forever. Critical once they
    retain `critical_bytes` (10 GB) of WAL."""
    return [
        Finding(
            "safety.inactive_slot",
            Severity.CRITICAL if (s.retained_bytes or 0) >= critical_bytes else Severity.WARNING,
            f"Inactive {s.slot_type} replication slot retaining {format_bytes(s.retained_bytes or 0)} of WAL",
            s.name,
            {"slot_type": s.slot_type, "retained_bytes": s.retained_bytes, "database": s.database},
            "Reconnect its consumer, or drop the slot if it is gone",
            f"SELECT pg_drop_replication_slot('{s.name}');",
        )
        for s in slots
        if not s.active
    ]


def replication_lag(
    standbys: Sequence[StandbyLag],
    *,
    warning_seconds: float = 5.0,
    critical_seconds: float = 60.0,
    warning_bytes: int = 10 * 1024**2,
) -> list[Finding]:
    """Standbys replaying ≥ `warning_seconds` (awesome-prometheus-alerts: 5 s) or ≥ `warning_bytes`
    (pgwatch: 10 MB) behind; critical from `critical_seconds`."""
    found = []
    for s in standbys:
        seconds = s.replay_lag_seconds or 0.0
        lag_bytes = s.replay_lag_bytes or 0
        if seconds < warning_seconds and lag_bytes < warning_bytes:
            continue
        found.append(
            Finding(
                "safety.replication_lag",
                Severity.CRITICAL if seconds >= critical_seconds else Severity.WARNING,
                f"Standby {s.application or s.client} is {seconds:,.1f} s / {format_bytes(lag_bytes)} behind",
                s.application or (s.client or "standby"),
                {"lag_seconds": round(seconds, 2), "lag_bytes": lag_bytes, "state": s.state},
                "Check the standby's I/O and network, and long queries on it holding replay back",
            )
        )
    return found
