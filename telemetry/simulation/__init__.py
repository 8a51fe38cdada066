"""Simulation: the real core and the client's real delivery rules driven through a scripted
world (service up, down, slow, erroring, refusing, unauthorized; disk full; clock steps)
held in memory. No socket, file or clock is touched. See docs/simulation.md."""

from telemetry.simulation.clock import EPOCH, SeededRandomness, SimulatedClock
from telemetry.simulation.conditions import Conditions, ServiceMode, SetCondition
from telemetry.simulation.result import EffectOutcome, PerformedEffect, SimulationResult
from telemetry.simulation.runner import SIMULATED_SERVICE_URL, simulate
from telemetry.simulation.service import ServiceRequest, SimulatedService
from telemetry.simulation.steps import Advance, Commit, End, Event, Heartbeat, Metrics, Start, Step
from telemetry.simulation.storage import BufferedEntry, NdjsonLine, RejectedEntry

__all__ = [
    "EPOCH",
    "SIMULATED_SERVICE_URL",
    "Advance",
    "BufferedEntry",
    "Commit",
    "Conditions",
    "EffectOutcome",
    "End",
    "Event",
    "Heartbeat",
    "Metrics",
    "NdjsonLine",
    "PerformedEffect",
    "RejectedEntry",
    "SeededRandomness",
    "ServiceMode",
    "ServiceRequest",
    "SetCondition",
    "SimulatedClock",
    "SimulatedService",
    "SimulationResult",
    "Start",
    "Step",
    "simulate",
]
