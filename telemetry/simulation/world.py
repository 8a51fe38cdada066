"""The simulated world one scenario runs in: its clock and randomness, the conditions of
the moment, the service, the buffer, the NDJSON backup and the client's self-metrics."""

from __future__ import annotations

from datetime import datetime

from telemetry.shell.config import TelemetryConfig
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.simulation.clock import EPOCH, SeededRandomness, SimulatedClock
from telemetry.simulation.conditions import Conditions, SetCondition
from telemetry.simulation.service import SimulatedService
from telemetry.simulation.storage import SimulatedBuffer, SimulatedNdjson


class World:
    """Everything outside the core, simulated; one per scenario."""

    def __init__(self, config: TelemetryConfig, seed: int, start: datetime = EPOCH) -> None:
        self.config = config
        self.clock = SimulatedClock(start)
        self.randomness = SeededRandomness(seed)
        self.conditions = Conditions()
        self.service = SimulatedService(self.clock, self._current, config.read_timeout_s)
        self.buffer = SimulatedBuffer(self._current)
        self.ndjson = SimulatedNdjson()
        self.metrics = SelfMetrics()

    def change(self, step: SetCondition) -> None:
        self.conditions = step.applied_to(self.conditions)

    def _current(self) -> Conditions:
        return self.conditions
