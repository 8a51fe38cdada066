"""Scenarios of the run-id counters and the self-metrics counts: custom ids accepted,
renamed when already active, refused for each reason; what the service ends up holding."""

from __future__ import annotations

import re

from telemetry.core import run_id_metrics
from telemetry.simulation import End, Event, Metrics, SetCondition, Start, simulate
from tests.simulation.helpers import sim_config


def test_custom_run_ids_are_counted_renamed_and_refused_as_the_spec_says() -> None:
    result = simulate(
        [
            Start(run_id="nightly", label="first"),
            Start(run_id="nightly", label="again"),  # still active: renamed
            End("first"),
            Start(run_id="nightly", label="reused"),  # ended: the id is free again
            Start(run_id="", label="empty"),
            Start(run_id="a/b", label="slash"),
            Start(run_id="x" * 256, label="long"),
            Start(label="plain"),
        ],
        sim_config(),
        seed=7,
    )
    assert run_id_metrics(result.state.counters) == {
        "custom_accepted": 3,
        "generated": 4,
        "rejected": {"empty": 1, "too_long": 1, "invalid_chars": 1, "total": 3},
        "duplicates_detected": 1,
        "total_runs": 7,
        "custom_percentage": 42.86,
    }
    ids = result.run_ids
    assert ids["first"] == ids["reused"] == "nightly"
    assert re.fullmatch(r"nightly-duplicate-[0-9a-f]{8}", ids["again"])
    generated = r"20260101T000000Z-agent-[0-9a-f]{8}"
    assert all(re.fullmatch(generated, ids[label]) for label in ("empty", "slash", "long", "plain"))
    # Two runs share the id `nightly` in the service: distinct event ids, both stored.
    assert sorted(row["run_id"] for row in result.service_rows) == sorted(ids.values())
    assert result.self_metrics["delivery.delivered"] == 8


def test_buffered_entries_and_deliveries_are_counted_through_an_outage() -> None:
    result = simulate(
        [
            Start(label="a"),
            SetCondition(service="down"),
            Start(label="b"),
            Metrics("b", {"items_discovered": 4}),
            End("a"),
            End("b", "failed", {"items_failed": 4}),
        ],
        sim_config(breaker_cooldown_s=60.0),
    )
    metrics = result.self_metrics
    assert metrics["delivery.delivered"] == 1 and metrics["buffer.appended"] == 3
    assert metrics["delivery.fallback.unavailable"] == 1 and metrics["delivery.fallback.breaker_open"] == 2
    assert [item.entry.record.status for item in result.buffer] == ["running", "success", "failure"]  # type: ignore[union-attr]
    assert result.buffer[-1].entry.record.items_discovered == 4  # type: ignore[union-attr]


def test_events_for_unknown_runs_are_kept_warned_about_and_counted() -> None:
    result = simulate([Event("nobody", "step"), Event("nobody", "step"), End("nobody")], sim_config())
    metrics = result.self_metrics
    assert metrics["log_event.unknown_run"] == 2 and metrics["end_run.unknown_run"] == 1
    assert metrics["log.repeated"] == 1  # the same warning is logged once
    assert [line.kind for line in result.ndjson] == ["event", "event"]
