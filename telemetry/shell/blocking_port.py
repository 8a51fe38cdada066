"""The delivery port of threaded code: the service's blocking calls (`ServiceApi`) behind
the breaker of `ServiceLink`, and the buffer directory (`BufferSink`), as coroutines that
never suspend, for `run_blocking`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telemetry.effects.records import CommitDetails, RunRecord
from telemetry.effects.vocabulary import AppendBuffer
from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.edge import now
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.service_api import Outcome, ServiceApi
from telemetry.shell.service_link import ServiceLink


class BufferSink:
    """Writes buffer entries: the fallback of a delivery, or a refused one to `rejected/`."""

    def __init__(self, directory: BufferDirectory, metrics: SelfMetrics) -> None:
        self.directory = directory
        self._metrics = metrics

    def append(self, effect: AppendBuffer) -> None:
        self.directory.append(effect.entry, now().isoformat())
        self._metrics.increment("buffer.appended")

    def fallback(self, effect: AppendBuffer | None, why: str) -> bool:
        """Run a delivery's fallback: True if the entry is on disk. Never raises (a failure
        is counted and logged once)."""
        self._metrics.increment(f"delivery.fallback.{why}")
        if effect is None:
            return False
        try:
            self.append(effect)
        except Exception as error:
            self._metrics.swallowed(
                f"AppendBuffer.{type(error).__name__}", error, "could not write to the buffer directory; the run is only in the NDJSON backup"
            )
            return False
        return True

    def reject(self, effect: AppendBuffer | None, reason: str) -> None:
        """Keep what the service refused in `rejected/`, with its reason; never raises."""
        self._metrics.swallowed("delivery.refused", reason, "the service refused a run; it is kept in buffer/rejected with the reason")
        if effect is None:
            return
        try:
            self.directory.reject(self.directory.append(effect.entry, now().isoformat()), reason)
            self._metrics.increment("buffer.rejected")
        except Exception as error:
            self._metrics.swallowed(f"reject.{type(error).__name__}", error, "could not keep a refused run in buffer/rejected")


class BlockingCalls:
    """`ServiceApi`'s calls as coroutines that return without suspending (`ServiceCalls`)."""

    def __init__(self, api: Callable[[], ServiceApi]) -> None:
        self._api = api

    async def create(self, record: RunRecord) -> Outcome:
        return self._api().create(record)

    async def create_wire(self, body: dict[str, Any]) -> Outcome:
        return self._api().create_wire(body)

    async def patch(self, record: RunRecord, fields: tuple[str, ...]) -> Outcome:
        return self._api().patch(record, fields)

    async def patch_wire(self, event_id: str, body: dict[str, Any]) -> Outcome:
        return self._api().patch_wire(event_id, body)

    async def associate_commit(self, event_id: str, commit: CommitDetails) -> Outcome:
        return self._api().associate_commit(event_id, commit)

    async def find_runs(self, run_id: str) -> list[dict[str, Any]] | Outcome:
        return self._api().find_runs(run_id)


class BlockingPort(BlockingCalls):
    """The `DeliveryPort` of threaded code: blocks in the caller's thread, probes the
    service from a background thread (`ServiceLink`)."""

    def __init__(
        self, link: ServiceLink, sink: BufferSink, metrics: SelfMetrics, waiting: Callable[[], bool] | None = None
    ) -> None:
        super().__init__(lambda: link.api)
        self._link = link
        self._sink = sink
        self._metrics = metrics
        # Whether runs wait for delivery elsewhere too (in background mode, in the outbox).
        self._waiting = waiting or (lambda: False)

    @property
    def metrics(self) -> SelfMetrics:
        return self._metrics

    async def admit(self) -> bool:
        return self._link.admit()

    async def settle(self, outcome: object) -> None:
        self._link.settle(outcome)

    async def fallback(self, effect: AppendBuffer | None, why: str) -> bool:
        return self._sink.fallback(effect, why)

    async def reject(self, effect: AppendBuffer | None, reason: str) -> None:
        self._sink.reject(effect, reason)

    async def may_be_buffered(self, run_id: str) -> bool:
        # Only whether the buffer holds any run: reading every entry could stall the agent.
        return self._waiting() or self._sink.directory.holds_runs()
