"""What a simulation returns: every effect the core asked for with what became of it, the
reply of every step, the final core state, the self-metrics, and what the world holds at
the end (service rows and requests, buffer, rejected entries, NDJSON lines)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

from telemetry.core.decision import Reply
from telemetry.core.state import RegistryState
from telemetry.effects.records import BufferEntry, CommitEntry
from telemetry.effects.vocabulary import Effect
from telemetry.service.store import Row
from telemetry.simulation.service import ServiceRequest
from telemetry.simulation.storage import BufferedEntry, NdjsonLine, RejectedEntry

EffectOutcome = Literal["done", "failed", "fell_back", "refused"]


@attrs.frozen
class PerformedEffect:
    """One effect as performed: the index of the step that caused it, the simulated
    second it finished at, and its outcome."""

    step: int
    at_s: float
    effect: Effect
    outcome: EffectOutcome


@attrs.frozen
class SimulationResult:
    """Everything a scenario can check, all plain data."""

    effects: tuple[PerformedEffect, ...]
    replies: tuple[Reply, ...]
    run_ids: Mapping[str, str]
    state: RegistryState
    self_metrics: Mapping[str, int]
    service_rows: tuple[Row, ...]
    requests: tuple[ServiceRequest, ...]
    buffer: tuple[BufferedEntry, ...]
    rejected: tuple[RejectedEntry, ...]
    ndjson: tuple[NdjsonLine, ...]
    elapsed_s: float

    def row(self, run: str) -> Row:
        """The one stored row of a run (by label or run id); KeyError unless exactly one."""
        run_id = self.run_ids.get(run, run)
        found = [row for row in self.service_rows if row["run_id"] == run_id]
        if len(found) != 1:
            raise KeyError(f"{len(found)} rows for run {run_id!r}")
        return found[0]

    def outcomes(self, kind: type | None = None) -> list[tuple[str, EffectOutcome]]:
        """(effect type name, outcome) of every performed effect, or of those of `kind`."""
        return [(type(p.effect).__name__, p.outcome) for p in self.effects if kind is None or isinstance(p.effect, kind)]

    def summary(self) -> dict[str, Any]:
        """A readable digest: outcomes, replies, rows, buffer, metrics (for docs and logs)."""
        return {
            "elapsed_s": self.elapsed_s,
            "effects": [f"step {p.step} @{p.at_s:g}s {type(p.effect).__name__}: {p.outcome}" for p in self.effects],
            "replies": list(self.replies),
            "service_rows": {row["run_id"]: row["status"] for row in self.service_rows},
            "requests": [f"@{r.at_s:g}s {r.method} {r.path} -> {r.answer}" for r in self.requests],
            "buffer": [_described(item.entry) for item in self.buffer],
            "rejected": [f"{_described(item.entry)}: {item.reason}" for item in self.rejected],
            "self_metrics": dict(self.self_metrics),
        }


def _described(entry: BufferEntry | CommitEntry) -> str:
    if isinstance(entry, CommitEntry):
        return f"commit {entry.run_id}"
    return f"{entry.operation} {entry.record.run_id}"
