"""The simulation against the real thing: the same workload through a real `TelemetryClient`
facing a real fault (closed port, hung socket, 503, 422, wrong token; real sockets, files
and clocks) and through the simulation facing the same condition ends with the same
self-metrics and the same buffer and rejected entries. The simulation models sync delivery
(the caller's own requests), so the real client here is in sync mode."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from telemetry import TelemetryClient
from telemetry.simulation import SetCondition, SimulationResult, simulate
from tests.shell.helpers import buffer_entries, fast_config
from tests.shell.test_client_faults import run_three as run_three_for_real
from tests.simulation.helpers import run_three, sim_config
from tests.support.receiver import HungPort, Receiver, Reply, closed_port_url
from tests.support.service import ServiceProcess

# The NDJSON writer's own counters: its thread and file are not simulated.
_NOT_SIMULATED = ("ndjson.",)


@contextmanager
def faulty_url(mode: str, service_factory: Any) -> Iterator[tuple[str, str | None]]:
    """A real service URL (and token) in the fault `mode`."""
    if mode == "down":
        yield closed_port_url(), None
    elif mode == "slow":
        with HungPort() as hung:
            yield hung.url, None
    elif mode == "erroring":
        with Receiver(Reply(503, {"detail": "store unavailable"})) as receiver:
            yield receiver.url, None
    elif mode == "refusing":
        with Receiver(Reply(422, {"detail": "agent_name: too odd"})) as receiver:
            yield receiver.url, None
    else:
        service: ServiceProcess = service_factory(auth_token="s3cret")
        yield service.url, "wrong"


def compared(metrics: dict[str, int]) -> dict[str, int]:
    return {name: count for name, count in metrics.items() if not name.startswith(_NOT_SIMULATED)}


def simulated_files(result: SimulationResult) -> tuple[list[Any], list[Any]]:
    """(operation, status, items_succeeded) of each buffered and each rejected entry."""
    return (
        [(i.entry.operation, i.entry.record.status, i.entry.record.items_succeeded) for i in result.buffer],  # type: ignore[union-attr]
        [(i.entry.operation, i.entry.record.status, i.entry.record.items_succeeded) for i in result.rejected],  # type: ignore[union-attr]
    )


@pytest.mark.parametrize("mode", ["down", "slow", "erroring", "refusing", "unauthorized"])
def test_the_simulation_ends_where_the_real_client_ends(mode: str, tmp_path: Path, service_factory: Any) -> None:
    reason = "agent_name: too odd" if mode == "refusing" else "store unavailable"
    status = {"erroring": 503, "refusing": 422}.get(mode)
    with faulty_url(mode, service_factory) as (url, token):
        client = TelemetryClient(fast_config(url, base_dir=tmp_path / "base", api_token=token, breaker_cooldown_s=60.0, delivery="sync"))
        try:
            run_three_for_real(client)
        finally:
            client.close()
    real_buffer = tmp_path / "base" / "buffer"
    real_files = tuple(
        [(e.operation, e.record.status, e.record.items_succeeded) for e in buffer_entries(folder)]
        for folder in (real_buffer, real_buffer / "rejected")
    )
    steps = [SetCondition(service=mode, status=status, reason=reason), *run_three()]  # type: ignore[arg-type]
    result = simulate(steps, sim_config(breaker_cooldown_s=60.0))
    assert compared(result.self_metrics) == compared(client.self_metrics())
    assert simulated_files(result) == real_files
