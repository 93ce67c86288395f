"""`advise_pool`: read the server's limits through a pgdba session, then run the advice arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgdba.findings import SCHEMA_VERSION
from pgdba.pool.advice import AdviceInputs, PoolAdvice, check_advice_options, pool_size_advice
from pgdba.pool.server_limits import ServerLimits, server_limits
from pgdba.server import load_server_facts
from pgdba.target import Target, session


@dataclass
class PoolAdviceReport:
    limits: ServerLimits
    inputs: AdviceInputs
    advice: PoolAdvice

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "server": self.limits.to_dict(),
            "inputs": self.inputs.__dict__,
            **self.advice.to_dict(),
        }


def advise_pool(
    target: Target,
    *,
    instances: int = 1,
    workers_per_instance: int | None = None,
    application_name: str | None = None,
    server_cpus: int | None = None,
    peak_calls_per_s: float | None = None,
    mean_call_ms: float | None = None,
    current_pool_size: int | None = None,
    headroom: int | None = None,
    burst_factor: float = 3.0,
) -> PoolAdviceReport:
    """Pool size advice for `instances` copies of an application; mean_call_ms overrides the measured one.

    A value out of range (negative, non-finite, absurdly large) is an InputError before the server is asked.
    Without `current_pool_size`, a Prisma URL's connection_limit is the pool size configured now."""
    from_url = current_pool_size is None and target.connection_limit is not None
    if from_url:
        current_pool_size = target.connection_limit
    check_advice_options(
        instances=instances,
        workers_per_instance=workers_per_instance,
        server_cpus=server_cpus,
        peak_calls_per_s=peak_calls_per_s,
        mean_call_ms=mean_call_ms,
        current_pool_size=current_pool_size,
        headroom=headroom,
        burst_factor=burst_factor,
    )
    with session(target) as conn:
        facts = load_server_facts(conn)
        limits = server_limits(
            conn, facts, application_name=application_name, server_cpus=server_cpus, target=target
        )
    inputs = AdviceInputs(
        max_connections=limits.max_connections,
        reserved_connections=limits.reserved_total,
        other_clients=limits.other_clients,
        database_connection_limit=limits.database_connection_limit,
        other_clients_in_database=limits.other_clients_in_database,
        role_connection_limit=limits.role_connection_limit,
        other_clients_of_role=limits.other_clients_of_role,
        role_name=limits.role_name or None,
        instances=instances,
        workers_per_instance=workers_per_instance,
        mean_call_ms=mean_call_ms if mean_call_ms is not None else limits.mean_call_ms,
        peak_calls_per_s=peak_calls_per_s,
        server_cpus=limits.server_cpus,
        current_pool_size=current_pool_size,
        headroom=headroom,
        burst_factor=burst_factor,
    )
    advice = pool_size_advice(inputs)
    if limits.statements_note:
        advice.notes.append(limits.statements_note)
    advice.notes.append(f"server CPUs: {limits.server_cpus_source}")
    if from_url:
        advice.notes.append(
            f"pool size per instance: {current_pool_size}, the connection string's connection_limit (Prisma's "
            "pool); --pool-size overrides it"
        )
    if limits.hidden_sessions:
        advice.notes.append(
            f"{limits.hidden_sessions} sessions of other roles are hidden from this role (grant it "
            "pg_read_all_stats or pg_monitor): counted as client connections, which may include a few "
            "background workers or logical walsenders"
        )
    if peak_calls_per_s is None and limits.average_calls_per_s is not None:
        advice.notes.append(
            f"observed average since the statistics reset: {limits.average_calls_per_s:.1f} calls/s — "
            "a surge peaks far above its average: give --peak-rate for Little's law"
        )
    if not application_name:
        advice.notes.append(
            "no --application-name: every current client connection counts as another client "
            "(name the application so its own connections are not subtracted twice)"
        )
    return PoolAdviceReport(limits, inputs, advice)
