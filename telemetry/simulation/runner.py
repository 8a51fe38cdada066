"""`simulate(steps, config, seed)`: run a scenario through the real core and the client's
real delivery rules in a simulated world, and return what happened. No socket, file or
clock is touched; the same steps, configuration and seed give the same result."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from telemetry.core.decision import Reply
from telemetry.effects.vocabulary import Effect
from telemetry.shell.config import TelemetryConfig
from telemetry.shell.observer import Performed
from telemetry.simulation.clock import EPOCH, SimulatedClock
from telemetry.simulation.conditions import SetCondition
from telemetry.simulation.facade import SimulatedClient
from telemetry.simulation.port import SimulatedRuntime
from telemetry.simulation.result import PerformedEffect, SimulationResult
from telemetry.simulation.steps import Advance, Step
from telemetry.simulation.world import World

SIMULATED_SERVICE_URL = "http://simulated.invalid:8765"
"""The service URL of the default configuration: any well-formed URL will do, none is dialled."""


class EffectRecorder:
    """The interpreter's observer: each performed effect with its step, time and outcome."""

    def __init__(self, clock: SimulatedClock) -> None:
        self._clock = clock
        self.step = 0
        self.effects: list[PerformedEffect] = []

    def performed(self, effect: Effect, outcome: Performed) -> None:
        self.effects.append(PerformedEffect(self.step, self._clock.monotonic(), effect, outcome))


def simulate(
    steps: Iterable[Step], config: TelemetryConfig | None = None, seed: int = 0, start: datetime = EPOCH
) -> SimulationResult:
    """Run `steps` in order; `config` gives the client's timeouts, breaker cooldown and
    settings (its paths are never used), `seed` the event ids and nonces, `start` the
    simulated wall time at the beginning."""
    world = World(config or TelemetryConfig(api_url=SIMULATED_SERVICE_URL), seed, start)
    recorder = EffectRecorder(world.clock)
    runtime = SimulatedRuntime(world, recorder)
    client = SimulatedClient(world, runtime.perform)
    replies: list[Reply] = []
    for index, step in enumerate(steps):
        recorder.step = index
        runtime.catch_up()
        if isinstance(step, (Advance, SetCondition)):
            _change_world(world, step)
            replies.append(None)
        else:
            replies.append(client.take(step))
    runtime.catch_up()
    return SimulationResult(
        effects=tuple(recorder.effects),
        replies=tuple(replies),
        run_ids=dict(client.run_ids),
        state=client.state,
        self_metrics=world.metrics.snapshot(),
        service_rows=world.service.rows(),
        requests=tuple(world.service.requests),
        buffer=tuple(world.buffer.pending),
        rejected=tuple(world.buffer.rejected),
        ndjson=tuple(world.ndjson.lines),
        elapsed_s=world.clock.monotonic(),
    )


def _change_world(world: World, step: Advance | SetCondition) -> None:
    if isinstance(step, Advance):
        world.clock.advance(step.seconds)
    else:
        world.change(step)
