"""Latency, fault and quota settings: parsing, validation, seeded draws, the quota's state."""

from __future__ import annotations

import pytest

from awspar.testing.faults import (
    EndpointBehaviour,
    FaultPlanner,
    FaultRates,
    Latency,
    Quota,
    QuotaGate,
    parse_faults,
    parse_latency,
    parse_quota,
)


def test_parse_faults_and_validation() -> None:
    rates = parse_faults("slowdown=0.05, reset=0.01,truncate=0.01,stall=0.02,stall_s=3,invalid-json=0.1")
    assert rates == FaultRates(slowdown=0.05, reset=0.01, truncate=0.01, stall=0.02, stall_s=3.0, invalid_json=0.1)
    assert parse_faults("") == FaultRates() and not FaultRates().any()
    for spec, message in (("slowdown", "is not name=value"), ("bogus=1", "unknown fault 'bogus'"),
                          ("reset=x", "reset='x' is not a number"), ("reset=1.5", "not between 0 and 1"),
                          ("reset=0.6,slowdown=0.6", "add up to more than 1")):
        with pytest.raises(ValueError, match=message):
            parse_faults(spec)


def test_parse_latency_and_quota() -> None:
    assert parse_latency() == Latency() and parse_latency(50) == Latency(50)
    assert parse_latency(None, "lognormal:50,0.5") == Latency(50, 0.5)
    assert parse_latency(None, "fixed:7") == Latency(7)
    with pytest.raises(ValueError, match="not both"):
        parse_latency(5, "fixed:5")
    with pytest.raises(ValueError, match="is not 'fixed:MS'"):
        parse_latency(None, "lognormal:50")
    assert parse_quota("concurrent=3,per_minute=60") == Quota(max_concurrent=3, per_minute=60)
    with pytest.raises(ValueError, match="whole number"):
        parse_quota("concurrent=1.5")
    with pytest.raises(ValueError, match="must be >= 1"):
        Quota(per_minute=0)


def test_fault_draws_depend_on_seed_request_and_occurrence_only() -> None:
    behaviour = EndpointBehaviour(faults=FaultRates(slowdown=0.3, reset=0.2), seed=11)
    keys = [f"GET /b/k{i}" for i in range(200)]
    forward = FaultPlanner(behaviour)
    backward = FaultPlanner(behaviour)
    in_order = [forward.decide(k).fault for k in keys]
    reversed_order = [backward.decide(k).fault for k in reversed(keys)][::-1]
    assert in_order == reversed_order  # arrival order does not matter
    share = {kind: in_order.count(kind) / len(keys) for kind in ("slowdown", "reset", None)}
    assert 0.2 < share["slowdown"] < 0.4 and 0.1 < share["reset"] < 0.3 and 0.35 < share[None] < 0.65
    retry = [forward.decide(k).fault for k in keys]  # the second occurrence draws again
    assert retry != in_order
    other_seed = FaultPlanner(behaviour.replace(seed=12))
    assert [other_seed.decide(k).fault for k in keys] != in_order


def test_quota_gate_counts_concurrency_and_a_sliding_minute() -> None:
    now = [1000.0]
    gate = QuotaGate(Quota(max_concurrent=2, per_minute=3), clock=lambda: now[0])
    assert gate.try_enter() and gate.try_enter()
    assert not gate.try_enter()  # two in flight
    gate.leave()
    assert gate.try_enter()  # third call this minute
    gate.leave()
    gate.leave()
    assert not gate.try_enter()  # a fourth within the minute
    now[0] += 60.5
    assert gate.try_enter()
    unlimited = QuotaGate(None)
    assert all(unlimited.try_enter() for _ in range(1000))


def test_behaviour_validation() -> None:
    assert EndpointBehaviour().quiet
    assert not EndpointBehaviour(latency=Latency(1)).quiet
    with pytest.raises(ValueError, match="body_rate must be > 0"):
        EndpointBehaviour(body_rate=0)
    with pytest.raises(ValueError, match=">= 0"):
        Latency(-1)
