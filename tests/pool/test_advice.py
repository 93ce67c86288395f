"""The advice arithmetic: pure functions, no server."""

from __future__ import annotations

import pytest

from pgdba.errors import InputError
from pgdba.pool.advice import DEFAULT_POOL_SIZE, AdviceInputs, headroom_for, pool_size_advice
from pgdba.pool.load_test import SizeResult, percentile, recommend_pool_size


def inputs(**overrides: object) -> AdviceInputs:
    base: dict[str, object] = {"max_connections": 100, "reserved_connections": 3, "other_clients": 2}
    base.update(overrides)
    return AdviceInputs(**base)  # type: ignore[arg-type]


def test_headroom_is_ten_percent_with_a_floor_of_three() -> None:
    assert headroom_for(inputs(max_connections=100)) == 10
    assert headroom_for(inputs(max_connections=20)) == 3
    assert headroom_for(inputs(max_connections=100, headroom=0)) == 0


def test_server_limit_subtracts_reserved_headroom_and_other_clients() -> None:
    advice = pool_size_advice(inputs(max_connections=100, reserved_connections=3, other_clients=7))
    assert advice.available_connections == 100 - 3 - 10 - 7


def test_lowering_max_connections_lowers_the_advice() -> None:
    rich = pool_size_advice(inputs(max_connections=200, peak_calls_per_s=2000, mean_call_ms=10))
    poor = pool_size_advice(inputs(max_connections=20, peak_calls_per_s=2000, mean_call_ms=10))
    assert rich.per_instance == 60  # 2000/s × 10 ms = 20 busy, × 3 burst
    assert poor.per_instance == 20 - 3 - 3 - 2
    assert poor.pooler_needed and not rich.pooler_needed
    assert [f.code for f in poor.findings] == ["pool.pooler_needed"]


def test_more_instances_split_the_total_and_eventually_need_a_pooler() -> None:
    one = pool_size_advice(inputs(peak_calls_per_s=400, mean_call_ms=5))
    four = pool_size_advice(inputs(peak_calls_per_s=400, mean_call_ms=5, instances=4))
    assert one.per_instance == 6 and one.total == 6  # the reference's class-start example: 2 busy × 3
    assert four.per_instance == 2 and four.total == 8
    crowded = pool_size_advice(inputs(peak_calls_per_s=400, mean_call_ms=5, instances=100))
    assert crowded.server_cap_per_instance == 0
    assert crowded.pooler_needed
    assert crowded.findings[0].severity.value == "critical"


def test_slower_measured_queries_need_bigger_pools() -> None:
    fast = pool_size_advice(inputs(peak_calls_per_s=400, mean_call_ms=5))
    slow = pool_size_advice(inputs(peak_calls_per_s=400, mean_call_ms=50))
    assert (fast.per_instance, slow.per_instance) == (6, 60)
    assert slow.demand_source == "little"


def test_cores_rule_caps_littles_law_and_says_why() -> None:
    advice = pool_size_advice(inputs(peak_calls_per_s=400, mean_call_ms=50, server_cpus=4))
    assert advice.per_instance == 8
    assert advice.demand_source == "cores"
    assert any("cores rule" in note for note in advice.notes)


def test_cores_rule_alone_when_the_workload_is_unknown() -> None:
    assert pool_size_advice(inputs(server_cpus=2)).per_instance == 4
    unknown = pool_size_advice(inputs())
    assert unknown.per_instance == DEFAULT_POOL_SIZE and unknown.demand_source == "default"
    assert any("CPU count unknown" in note for note in unknown.notes)


def test_workers_bound_the_pool() -> None:
    advice = pool_size_advice(inputs(peak_calls_per_s=400, mean_call_ms=50, workers_per_instance=4))
    assert advice.per_instance == 4 and advice.demand_source == "workers"


def test_instances_times_pool_over_the_server_limit_is_critical() -> None:
    ok = pool_size_advice(inputs(max_connections=100, current_pool_size=20, instances=4))
    over = pool_size_advice(inputs(max_connections=100, current_pool_size=20, instances=5))
    assert "pool.oversubscribed" not in [f.code for f in ok.findings]  # 80 ≤ 85
    finding = next(f for f in over.findings if f.code == "pool.oversubscribed")
    assert finding.metrics == {
        "instances": 5,
        "pool_size": 20,
        "total": 100,
        "available": 85,
        "binding_limit": "server",
    }
    assert finding.title.endswith("the server allows 85")


def test_a_roles_connection_limit_binds_like_the_databases() -> None:
    # the audit's case: CONNECTION LIMIT 10 on the role, 6 instances with a pool of 5 each
    advice = pool_size_advice(
        inputs(server_cpus=2, instances=6, current_pool_size=5, role_connection_limit=10, role_name="webapp")
    )
    assert advice.available_connections == 10 and advice.binding_limit == "role"
    assert advice.total <= 10
    step = next(s for s in advice.steps if s.rule == "role connection limit")
    assert step.formula == "CONNECTION LIMIT 10 − other sessions of role webapp 0 = 10"
    finding = next(f for f in advice.findings if f.code == "pool.oversubscribed")
    assert (
        finding.title == "6 instances × pool 5 = 30 connections, role webapp's CONNECTION LIMIT 10 allows 10"
    )
    assert 'too many connections for role "webapp"' in str(finding.recommendation)
    pooler = next(f for f in advice.findings if f.code == "pool.pooler_needed")
    assert "raise the role's CONNECTION LIMIT" in str(pooler.recommendation)
    # its other sessions count against it; a limit the server limit is below binds nothing
    crowded = pool_size_advice(inputs(role_connection_limit=10, other_clients_of_role=4))
    assert crowded.available_connections == 6
    loose = pool_size_advice(inputs(role_connection_limit=90))
    assert loose.binding_limit == "server" and loose.available_connections == 85


def test_every_step_of_the_arithmetic_is_shown() -> None:
    advice = pool_size_advice(inputs(peak_calls_per_s=400, mean_call_ms=5, server_cpus=8))
    rules = [s.rule for s in advice.steps]
    assert rules == ["server limit", "server limit per instance", "cores rule", "Little's law", "recommended"]
    assert "400 calls/s × 5.00 ms = 2.00 busy" in advice.steps[3].formula


def test_nonsense_inputs_are_rejected() -> None:
    with pytest.raises(InputError, match="instances"):
        inputs(instances=0)
    with pytest.raises(InputError, match="server CPUs"):
        inputs(server_cpus=0)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def result(size: int, p99: float, *, failed: int = 0, mode: str = "pool") -> SizeResult:
    return SizeResult(
        pool_size=size,
        mode=mode,
        requests=100,
        ok=100 - failed,
        errors=failed,
        timeouts=0,
        overloaded=0,
        connection_errors=0,
        not_run=0,
        duration_s=1.0,
        throughput_per_s=100.0,
        p50_ms=p99 / 2,
        p95_ms=p99,
        p99_ms=p99,
        max_ms=p99,
        wait_p99_ms=0.0,
        peak_server_connections=size,
        peak_active_connections=size,
    )


def test_recommends_the_smallest_size_within_ten_percent_of_the_best_p99() -> None:
    size, why = recommend_pool_size(
        [result(5, 200.0), result(10, 108.0), result(20, 100.0), result(40, 104.0)]
    )
    assert size == 10
    assert "within 10%" in why


def test_a_size_whose_peak_stayed_below_it_is_flagged_and_never_recommended() -> None:
    reached = result(16, 120.0)
    nominal = result(110, 100.0)
    nominal.peak_server_connections = 42  # the audit's pool of 110 that only ever had 42 connections
    assert (reached.size_reached, nominal.size_reached) == (True, False)
    assert nominal.to_dict()["size_reached"] is False
    assert result(0, 10.0, mode="direct").size_reached is None
    size, why = recommend_pool_size([reached, nominal])
    assert size == 16
    assert "stayed below the size: 110 (peak 42)" in why
    size, why = recommend_pool_size([nominal])
    assert size is None and why.startswith("no pool size served every request")


def test_sizes_with_errors_and_direct_connections_are_never_recommended() -> None:
    size, _ = recommend_pool_size(
        [result(0, 10.0, mode="direct"), result(5, 50.0, failed=1), result(10, 80.0)]
    )
    assert size == 10
    assert recommend_pool_size([result(5, 50.0, failed=3)])[0] is None


def test_each_instance_keeps_at_least_two_connections_unless_it_has_one_worker() -> None:
    spread = pool_size_advice(inputs(server_cpus=2, instances=6))
    assert spread.per_instance == 2 and spread.total == 12
    assert "floor" in [s.rule for s in spread.steps]
    assert pool_size_advice(inputs(server_cpus=2, instances=6, workers_per_instance=1)).per_instance == 1
