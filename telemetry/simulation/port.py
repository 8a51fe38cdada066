"""The simulated delivery port, and the client's real shell parts wired to it: the
delivery rules (`telemetry.shell.delivery`), the breaker and its counting (`ServiceGuard`,
on the simulated clock), the buffer sink and the interpreter, all the real ones. Only
the world differs: the service, the buffer and the NDJSON backup are in memory.

The probe: the real client probes the service from a background thread while the agent
carries on. Here it starts when the breaker asks for it, takes its answer from the
service at once and lands when its simulated duration is over (a read timeout when the
service is slow); the breaker learns of it at the first call after that moment, as of
that moment."""

from __future__ import annotations

from typing import Any

from telemetry.effects.records import CommitDetails, RunRecord
from telemetry.effects.vocabulary import AppendBuffer, Effect
from telemetry.shell.blocking_port import BufferSink
from telemetry.shell.delivery import PortDelivery, Report
from telemetry.shell.interpreter import Interpreter
from telemetry.shell.observer import EffectObserver
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.service_api import Outcome
from telemetry.shell.service_link import ServiceGuard
from telemetry.simulation.storage import SimulatedBuffer
from telemetry.simulation.world import World


class SimulatedPort:
    """The `DeliveryPort` of a simulation: its awaits never suspend."""

    def __init__(self, world: World, sink: BufferSink[SimulatedBuffer]) -> None:
        self._world = world
        self._sink = sink
        self._probe: tuple[float, object] | None = None  # when it lands, and its answer
        self._landing_at: float | None = None
        config = world.config
        self._guard = ServiceGuard(config.api_url, config.breaker_cooldown_s, world.metrics, self._breaker_clock)

    @property
    def metrics(self) -> SelfMetrics:
        return self._world.metrics

    async def create(self, record: RunRecord) -> Outcome:
        return self._world.service.create(record)

    async def patch(self, record: RunRecord, fields: tuple[str, ...]) -> Outcome:
        return self._world.service.patch(record, fields)

    async def associate_commit(self, event_id: str, commit: CommitDetails) -> Outcome:
        return self._world.service.associate_commit(event_id, commit)

    async def find_runs(self, run_id: str) -> list[dict[str, Any]] | Outcome:
        return self._world.service.find_runs(run_id)

    async def admit(self) -> bool:
        self.land_probe()
        verdict = self._guard.admit()
        if verdict == "probe":
            answer, duration_s = self._world.service.probe()
            self._probe = (self._world.clock.monotonic() + duration_s, answer)
            self.land_probe()
        return verdict == "send"

    async def settle(self, outcome: object) -> None:
        self._guard.settle(outcome)

    async def fallback(self, effect: AppendBuffer | None, why: str) -> bool:
        return self._sink.fallback(effect, why)

    async def reject(self, effect: AppendBuffer | None, reason: str) -> None:
        self._sink.reject(effect, reason)

    async def may_be_buffered(self, run_id: str) -> bool:
        # As the threaded client asks: whether the buffer holds any run, not this one.
        return self._world.buffer.holds_runs()

    def land_probe(self) -> None:
        """Tell the breaker the probe's answer once its moment has come."""
        if self._probe is None or self._probe[0] > self._world.clock.monotonic():
            return
        self._landing_at, answer = self._probe
        self._probe = None
        try:
            self._guard.probed(answer)
        finally:
            self._landing_at = None

    def _breaker_clock(self) -> float:
        return self._world.clock.monotonic() if self._landing_at is None else self._landing_at


class SimulatedRuntime:
    """The real interpreter and delivery rules over the simulated port and world."""

    def __init__(self, world: World, observer: EffectObserver) -> None:
        sink = BufferSink(world.buffer, world.metrics, world.clock.now)
        self.port = SimulatedPort(world, sink)
        self.interpreter = Interpreter(PortDelivery(self.port), sink, world.ndjson, None, world.metrics, observer)

    def perform(self, effects: tuple[Effect, ...], report: Report) -> None:
        """Perform `effects` in order; a commit's settlement goes to `report`."""
        self.interpreter.run(effects, report)

    def catch_up(self) -> None:
        """Bring the world's background work up to the present (a probe that has landed)."""
        self.port.land_probe()
