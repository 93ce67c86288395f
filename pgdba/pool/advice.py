"""Pool size advice: pure arithmetic over the server's limits and the application's shape (no I/O).

Three rules, each shown with its numbers:
- headroom: connections kept free for admin and monitoring, on top of the reserved slots;
- Little's law: busy connections ≈ arrival rate × in-database time per call, times a burst factor;
- the cores rule (PostgreSQL wiki, HikariCP): CPU-bound work runs no faster with more than
  2 × cores + spindles active connections; extra connections only queue inside the server.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from pgdba.findings import Finding, Severity
from pgdba.pool.input_ranges import check_finite, check_whole
from pgdba.pool.server_limits import MAX_BACKENDS

# node-postgres and HikariCP both default to 10 when nothing is known about the workload
DEFAULT_POOL_SIZE = 10

# what a DBA can mean; beyond these an input is a typo, and inf/nan never reach the arithmetic
MAX_INSTANCES = 10_000
MAX_WORKERS_PER_INSTANCE = 1_000_000
MAX_SERVER_CPUS = 10_000
MAX_PEAK_CALLS_PER_S = 1e7
MAX_CALL_MS = 86_400_000.0  # a day
MAX_BURST_FACTOR = 100.0
MAX_HEADROOM_FRACTION = 0.9


def check_advice_options(
    *,
    instances: int = 1,
    workers_per_instance: int | None = None,
    server_cpus: int | None = None,
    peak_calls_per_s: float | None = None,
    mean_call_ms: float | None = None,
    current_pool_size: int | None = None,
    headroom: int | None = None,
    burst_factor: float = 3.0,
) -> None:
    """The user's side of the advice, checked before any server is asked: an InputError names the first
    value out of range (the API answers it with 422)."""
    check_whole(instances, "instances", 1, MAX_INSTANCES)
    check_whole(workers_per_instance, "workers per instance", 1, MAX_WORKERS_PER_INSTANCE)
    check_whole(server_cpus, "server CPUs", 1, MAX_SERVER_CPUS)
    check_finite(peak_calls_per_s, "peak rate (calls/s)", 0, MAX_PEAK_CALLS_PER_S)
    check_finite(mean_call_ms, "call time (ms)", 0, MAX_CALL_MS)
    check_whole(current_pool_size, "pool size", 1, MAX_BACKENDS)
    check_whole(headroom, "headroom (connections)", 0, MAX_BACKENDS)
    check_finite(burst_factor, "burst factor", 1, MAX_BURST_FACTOR)


@dataclass(frozen=True)
class AdviceInputs:
    """Everything the arithmetic needs; measured values come from ServerLimits, the rest from the user."""

    max_connections: int
    reserved_connections: int
    other_clients: int
    instances: int = 1
    # the current database's CONNECTION LIMIT (None or -1: none) and the other clients already in it
    database_connection_limit: int | None = None
    other_clients_in_database: int = 0
    # the application role's CONNECTION LIMIT (None or -1: none) and its other sessions, in any database
    role_connection_limit: int | None = None
    other_clients_of_role: int = 0
    role_name: str | None = None
    workers_per_instance: int | None = None
    mean_call_ms: float | None = None
    peak_calls_per_s: float | None = None
    server_cpus: int | None = None
    current_pool_size: int | None = None
    headroom: int | None = None
    headroom_fraction: float = 0.10
    headroom_min: int = 3
    burst_factor: float = 3.0
    effective_spindles: int = 0
    # one slow request must not block every other request of an instance
    min_per_instance: int = 2

    def __post_init__(self) -> None:
        check_advice_options(
            instances=self.instances,
            workers_per_instance=self.workers_per_instance,
            server_cpus=self.server_cpus,
            peak_calls_per_s=self.peak_calls_per_s,
            mean_call_ms=self.mean_call_ms,
            current_pool_size=self.current_pool_size,
            headroom=self.headroom,
            burst_factor=self.burst_factor,
        )
        check_whole(self.max_connections, "max_connections", 1, MAX_BACKENDS)
        check_whole(self.reserved_connections, "reserved connections", 0, MAX_BACKENDS)
        check_whole(self.other_clients, "other clients", 0, MAX_BACKENDS)
        check_whole(self.database_connection_limit, "database connection limit", -1, MAX_BACKENDS)
        check_whole(self.other_clients_in_database, "other clients in the database", 0, MAX_BACKENDS)
        check_whole(self.role_connection_limit, "role connection limit", -1, MAX_BACKENDS)
        check_whole(self.other_clients_of_role, "other sessions of the role", 0, MAX_BACKENDS)
        check_finite(self.headroom_fraction, "headroom fraction", 0, MAX_HEADROOM_FRACTION)
        check_whole(self.headroom_min, "minimum headroom", 0, MAX_BACKENDS)
        check_whole(self.effective_spindles, "effective spindles", 0, MAX_SERVER_CPUS)
        check_whole(self.min_per_instance, "minimum per instance", 1, MAX_BACKENDS)


@dataclass(frozen=True)
class AdviceStep:
    """One line of the shown arithmetic."""

    rule: str
    formula: str
    value: float | int | None


@dataclass
class PoolAdvice:
    per_instance: int
    total: int
    instances: int
    available_connections: int
    server_cap_per_instance: int
    demand_per_instance: int
    demand_source: str
    pooler_needed: bool
    # which limit available_connections comes from: "server" (max_connections less the reserved slots,
    # headroom and other clients), "database" or "role" (its CONNECTION LIMIT less the others counted in it)
    binding_limit: str = "server"
    steps: list[AdviceStep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["findings"] = [f.to_dict() for f in self.findings]
        return data


def headroom_for(inputs: AdviceInputs) -> int:
    if inputs.headroom is not None:
        return inputs.headroom
    return max(inputs.headroom_min, math.ceil(inputs.headroom_fraction * inputs.max_connections))


def _within_connection_limits(
    inputs: AdviceInputs, available: int, steps: list[AdviceStep]
) -> tuple[int, str]:
    """A database's or a role's CONNECTION LIMIT refuses non-superusers past it ("too many connections for
    database" / "for role") whatever max_connections says; superusers are exempt, so no headroom is kept
    inside it. Returns the connections left and which limit binds: "server", "database" or "role"."""
    binding = "server"
    limits = (
        (
            "database",
            inputs.database_connection_limit,
            inputs.other_clients_in_database,
            "other clients in this database",
        ),
        (
            "role",
            inputs.role_connection_limit,
            inputs.other_clients_of_role,
            f"other sessions of role {inputs.role_name}"
            if inputs.role_name
            else "other sessions of the role",
        ),
    )
    for name, limit, others, whose in limits:
        if limit is None or limit < 0:
            continue
        within = max(0, limit - others)
        if within >= available:
            continue
        steps.append(
            AdviceStep(
                f"{name} connection limit", f"CONNECTION LIMIT {limit} − {whose} {others} = {within}", within
            )
        )
        available, binding = within, name
    return available, binding


def _limit_words(binding: str, inputs: AdviceInputs) -> tuple[str, str, str]:
    """The binding limit as a finding names it: what allows the connections, the error a connection past
    it gets, and what to raise."""
    if binding == "role":
        role = inputs.role_name
        return (
            f"role {role}'s CONNECTION LIMIT {inputs.role_connection_limit} allows"
            if role
            else f"the role's CONNECTION LIMIT {inputs.role_connection_limit} allows",
            f'too many connections for role "{role}"' if role else "too many connections for role",
            "the role's CONNECTION LIMIT",
        )
    if binding == "database":
        return (
            f"the database's CONNECTION LIMIT {inputs.database_connection_limit} allows",
            "too many connections for database",
            "the database's CONNECTION LIMIT",
        )
    return "the server allows", "sorry, too many clients already", "max_connections"


def pool_size_advice(inputs: AdviceInputs) -> PoolAdvice:
    """The pool size per instance and in total, whether a pooler is needed, and why."""
    steps: list[AdviceStep] = []
    notes: list[str] = []
    n = inputs.instances

    headroom = headroom_for(inputs)
    available = max(0, inputs.max_connections - inputs.reserved_connections - headroom - inputs.other_clients)
    steps.append(
        AdviceStep(
            "server limit",
            f"max_connections {inputs.max_connections} − reserved {inputs.reserved_connections} "
            f"− headroom {headroom} − other clients {inputs.other_clients} = {available}",
            available,
        )
    )
    available, binding = _within_connection_limits(inputs, available, steps)
    server_cap = available // n
    steps.append(
        AdviceStep("server limit per instance", f"⌊{available} / {n} instances⌋ = {server_cap}", server_cap)
    )

    cores_total: int | None = None
    cores_per_instance: int | None = None
    if inputs.server_cpus is not None:
        cores_total = 2 * inputs.server_cpus + inputs.effective_spindles
        cores_per_instance = max(1, math.ceil(cores_total / n))
        steps.append(
            AdviceStep(
                "cores rule",
                f"2 × {inputs.server_cpus} cores + {inputs.effective_spindles} spindles = {cores_total} "
                f"active in total; ⌈{cores_total} / {n}⌉ = {cores_per_instance} per instance",
                cores_per_instance,
            )
        )
    else:
        notes.append("server CPU count unknown (pass --server-cpus): the cores rule is not applied")

    demand: int
    source: str
    # what the server needs in total, whatever the instance count: the size of a pooler's server-side pool
    total_demand: int
    if inputs.mean_call_ms is not None and inputs.peak_calls_per_s is not None:
        busy = inputs.peak_calls_per_s * inputs.mean_call_ms / 1000.0
        little_total = max(1, math.ceil(busy * inputs.burst_factor))
        demand = max(1, math.ceil(little_total / n))
        total_demand = little_total if cores_total is None else min(little_total, cores_total)
        source = "little"
        steps.append(
            AdviceStep(
                "Little's law",
                f"{inputs.peak_calls_per_s:g} calls/s × {inputs.mean_call_ms:.2f} ms = {busy:.2f} busy; "
                f"× burst {inputs.burst_factor:g} → {little_total} in total; "
                f"⌈{little_total} / {n}⌉ = {demand} per instance",
                demand,
            )
        )
        if cores_per_instance is not None and demand > cores_per_instance:
            notes.append(
                f"Little's law asks for {demand} per instance, more than the cores rule's {cores_per_instance}: "
                "for CPU-bound queries extra connections only queue inside the server — make the queries "
                "faster or accept queueing in the pool; wait-bound work (locks, I/O) may use more"
            )
            demand = cores_per_instance
            source = "cores"
    elif cores_per_instance is not None and cores_total is not None:
        demand = cores_per_instance
        total_demand = cores_total
        source = "cores"
        notes.append("no peak rate or measured call time: sized by the cores rule alone (give --peak-rate)")
    else:
        demand = DEFAULT_POOL_SIZE
        total_demand = DEFAULT_POOL_SIZE
        source = "default"
        notes.append(
            f"neither the workload nor the CPU count is known: starting from the common default {DEFAULT_POOL_SIZE}"
        )

    if inputs.workers_per_instance is not None and inputs.workers_per_instance < demand:
        steps.append(
            AdviceStep(
                "workers",
                f"{inputs.workers_per_instance} workers per instance hold at most one connection each: "
                f"min({demand}, {inputs.workers_per_instance}) = {inputs.workers_per_instance}",
                inputs.workers_per_instance,
            )
        )
        demand = inputs.workers_per_instance
        source = "workers"
    if inputs.workers_per_instance is not None:
        total_demand = min(total_demand, inputs.workers_per_instance * n)

    if demand < inputs.min_per_instance and (
        inputs.workers_per_instance is None or inputs.workers_per_instance >= inputs.min_per_instance
    ):
        steps.append(
            AdviceStep(
                "floor",
                f"max({demand}, {inputs.min_per_instance}) = {inputs.min_per_instance}: one slow request "
                "must not block the whole instance",
                inputs.min_per_instance,
            )
        )
        demand = inputs.min_per_instance

    per_instance = min(demand, server_cap)
    pooler_needed = server_cap < demand
    steps.append(
        AdviceStep(
            "recommended",
            f"min(demand {demand}, server limit {server_cap}) = {per_instance} per instance; "
            f"× {n} = {per_instance * n} in total",
            per_instance,
        )
    )

    findings: list[Finding] = []
    allows, refusal, to_raise = _limit_words(binding, inputs)
    if pooler_needed:
        server_side_pool = min(max(total_demand, min(inputs.min_per_instance, demand * n)), available)
        findings.append(
            Finding(
                code="pool.pooler_needed",
                severity=Severity.CRITICAL if server_cap == 0 else Severity.WARNING,
                title=(
                    f"{n} instances need {demand} connections each but "
                    + (
                        f"the server has room for {server_cap} each"
                        if binding == "server"
                        else f"{allows} {server_cap} each"
                    )
                ),
                metrics={
                    "demand_per_instance": demand,
                    "server_cap_per_instance": server_cap,
                    "instances": n,
                    "server_side_pool": server_side_pool,
                    "binding_limit": binding,
                },
                recommendation=(
                    "put PgBouncer in transaction mode between the instances and PostgreSQL "
                    f"(default_pool_size ≈ {server_side_pool}: the server-side need in total, not "
                    f"instances × pool), or raise {to_raise}, or run fewer instances"
                ),
            )
        )
    if inputs.current_pool_size is not None and inputs.current_pool_size * n > available:
        findings.append(
            Finding(
                code="pool.oversubscribed",
                severity=Severity.CRITICAL,
                title=(
                    f"{n} instances × pool {inputs.current_pool_size} = {n * inputs.current_pool_size} "
                    f"connections, {allows} {available}"
                ),
                metrics={
                    "instances": n,
                    "pool_size": inputs.current_pool_size,
                    "total": n * inputs.current_pool_size,
                    "available": available,
                    "binding_limit": binding,
                },
                recommendation=(
                    f"under a surge the last instances get '{refusal}'; use at most {server_cap} per instance"
                ),
            )
        )
    return PoolAdvice(
        per_instance=per_instance,
        total=per_instance * n,
        instances=n,
        available_connections=available,
        server_cap_per_instance=server_cap,
        demand_per_instance=demand,
        demand_source=source,
        pooler_needed=pooler_needed,
        binding_limit=binding,
        steps=steps,
        notes=notes,
        findings=findings,
    )
