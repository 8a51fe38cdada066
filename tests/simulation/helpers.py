"""Scenario building blocks shared by the simulation tests: the real fault tests' workload
as steps, and configurations with the real tests' short timeouts."""

from __future__ import annotations

from typing import Any

from telemetry.shell.config import TelemetryConfig
from telemetry.simulation import SIMULATED_SERVICE_URL, End, Event, SimulationResult, Start, Step
from telemetry.effects.records import BufferEntry
from tests.shell.helpers import FAST


def sim_config(**overrides: Any) -> TelemetryConfig:
    """The real client tests' configuration (`tests.shell.helpers.FAST`), on the simulated service."""
    return TelemetryConfig(**{"api_url": SIMULATED_SERVICE_URL, **FAST, **overrides})


def run_three() -> list[Step]:
    """`tests.shell.test_client_faults.run_three` as steps: three runs started, evented, ended."""
    steps: list[Step] = []
    for number in range(3):
        label = f"r{number}"
        steps += [
            Start("agent", "job", label=label, fields={"items_discovered": number}),
            Event(label, "step", {"n": number}),
            End(label, fields={"items_succeeded": number}),
        ]
    return steps


def assert_all_buffered(result: SimulationResult) -> None:
    """`tests.shell.test_client_faults.assert_all_buffered`, on the simulated buffer."""
    entries = [item.entry for item in result.buffer]
    assert all(isinstance(entry, BufferEntry) for entry in entries)
    run_ids = [result.run_ids[f"r{number}"] for number in range(3)]
    assert [(e.operation, e.record.run_id) for e in entries if isinstance(e, BufferEntry)] == [
        (operation, run_id) for run_id in run_ids for operation in ("create", "update")
    ]
    ends = [e for e in entries if isinstance(e, BufferEntry) and e.operation == "update"]
    assert all(e.record.status == "success" and "status" in e.fields for e in ends)
    assert [e.record.items_succeeded for e in ends] == [0, 1, 2]
