"""Scenarios of the breaker and the failover to the buffer, in simulated time: each mirrors
a fault test that makes the failure happen with real processes and sockets, and checks the
same observable numbers without any I/O."""

from __future__ import annotations

import pytest

from telemetry.effects.vocabulary import AppendNdjson, PatchRun, PostRun
from telemetry.simulation import Advance, SetCondition, Start, simulate
from tests.simulation.helpers import assert_all_buffered, run_three, sim_config


def test_a_refused_connection_opens_the_breaker_once_and_buffers_every_start_and_end() -> None:
    """Mirrors tests/shell/test_client_faults.py::test_refused_service_buffers_every_start_and_end."""
    result = simulate([SetCondition(service="down"), *run_three()], sim_config())
    assert_all_buffered(result)
    metrics = result.self_metrics
    assert metrics["breaker.opened"] == 1 and metrics["delivery.fallback.unavailable"] == 1
    assert metrics["delivery.fallback.breaker_open"] == 5
    assert len(result.ndjson) == 9
    assert [r.answer for r in result.requests] == ["refused"]  # only the first delivery dialled


def test_a_hung_service_costs_one_read_timeout_then_deliveries_go_straight_to_the_buffer() -> None:
    """Mirrors tests/shell/test_client_faults.py::test_hung_service_costs_one_timeout_then_goes_straight_to_the_buffer
    and ::test_hung_http_server_is_detected_by_the_read_timeout (one request reached it)."""
    config = sim_config(breaker_cooldown_s=60.0)
    result = simulate([SetCondition(service="slow"), *run_three()], config)
    assert_all_buffered(result)
    metrics = result.self_metrics
    assert metrics["delivery.fallback.unavailable"] == 1 and metrics["breaker.short_circuited"] == 5
    assert len(result.requests) == 1
    # The agent waited once, for one read timeout; the five later deliveries cost no time.
    assert result.elapsed_s == config.read_timeout_s
    deliveries = [p for p in result.effects if isinstance(p.effect, (PostRun, PatchRun))]
    assert [p.outcome for p in deliveries] == ["fell_back"] * 6
    assert {p.at_s for p in deliveries} == {config.read_timeout_s}


@pytest.mark.parametrize(("status", "reason"), [(500, "boom"), (503, ""), (429, "slow down")])
def test_server_errors_and_throttling_open_the_breaker_and_buffer(status: int, reason: str) -> None:
    """Mirrors tests/shell/test_client_faults.py::test_server_errors_and_throttling_are_buffered."""
    steps = [SetCondition(service="erroring", status=status, reason=reason), *run_three()]
    result = simulate(steps, sim_config(breaker_cooldown_s=60.0))
    assert_all_buffered(result)
    assert result.self_metrics["breaker.opened"] == 1
    assert [r.answer for r in result.requests] == [str(status)]


def test_a_probe_after_the_cooldown_closes_the_breaker_and_deliveries_resume() -> None:
    """Mirrors tests/shell/test_client_faults.py::test_the_breaker_closes_again_once_a_probe_reaches_the_service."""
    config = sim_config(breaker_cooldown_s=0.2)
    result = simulate(
        [
            SetCondition(service="slow"),
            Start("agent", "first"),  # hangs, times out, opens the breaker
            SetCondition(service="up"),
            Start("agent", "too-soon"),  # within the cooldown: straight to the buffer, no probe
            Advance(0.2),
            Start("agent", "while-open"),  # after the cooldown: starts the probe, still buffered
            Start("agent", "after"),
        ],
        config,
    )
    metrics = result.self_metrics
    assert metrics["breaker.opened"] == 1 and metrics["breaker.probe_ok"] == 1
    assert metrics["breaker.short_circuited"] == 2
    paths = [(r.method, r.path) for r in result.requests]
    assert paths == [("POST", "/api/v1/runs"), ("GET", "/health"), ("POST", "/api/v1/runs")]
    assert [row["job_type"] for row in result.service_rows] == ["after"]
    assert [item.entry.record.job_type for item in result.buffer] == ["first", "too-soon", "while-open"]  # type: ignore[union-attr]


def test_a_probe_that_times_out_reopens_the_breaker_for_another_cooldown() -> None:
    config = sim_config(breaker_cooldown_s=1.0, read_timeout_s=0.5)
    result = simulate(
        [
            SetCondition(service="slow"),
            Start(label="a"),  # waits 0.5 s: opens the breaker at 0.5
            Advance(1.0),
            Start(label="b"),  # 1.5 s: the probe starts; it will time out at 2.0
            Advance(1.0),
            Start(label="c"),  # 2.5 s: the probe failed at 2.0 and reopened it until 3.0
            SetCondition(service="up"),
            Advance(0.5),
            Start(label="d"),  # 3.0 s: another probe, which reaches the service
            Start(label="e"),  # delivered
        ],
        config,
    )
    metrics = result.self_metrics
    assert metrics["breaker.probe_failed"] == 1 and metrics["breaker.probe_ok"] == 1
    assert metrics["breaker.short_circuited"] == 3
    assert [row["run_id"] for row in result.service_rows] == [result.run_ids["e"]]
    assert result.elapsed_s == 3.0  # the agent never waited for a probe
    assert [r.at_s for r in result.requests if r.path == "/health"] == [2.0, 3.0]


def test_every_effect_is_reported_with_its_outcome_in_order() -> None:
    result = simulate([SetCondition(service="down"), *run_three()[:3]], sim_config())
    assert result.outcomes() == [
        ("PostRun", "fell_back"),
        ("AppendNdjson", "done"),
        ("AppendNdjson", "done"),
        ("PatchRun", "fell_back"),
        ("AppendNdjson", "done"),
    ]
    assert [p.step for p in result.effects] == [1, 1, 2, 3, 3]
    assert all(isinstance(p.effect, AppendNdjson) for p in result.effects if p.outcome == "done")
