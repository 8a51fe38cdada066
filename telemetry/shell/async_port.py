"""`AsyncPort`: the `DeliveryPort` of the async client, so the delivery rules of
`telemetry.shell.delivery` run on an event loop unchanged. The service's calls are awaited
on the loop (`AsyncServiceApi`, one per loop and process); the breaker is the client's own
`ServiceGuard`, shared with its threads, and its probe is a task on the loop; buffer files
are written by the client's worker thread (`OffLoop`), never on the loop. In background
delivery a run's update kept for later (a commit's fallback) goes to the outbox instead,
on the loop, as the run's start and end do."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from telemetry.effects.records import BufferEntry, CommitDetails, RunRecord
from telemetry.effects.vocabulary import AppendBuffer, PatchRun
from telemetry.shell.async_service_api import AsyncServiceApi
from telemetry.shell.blocking_port import BufferSink
from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.config import TelemetryConfig
from telemetry.shell.observer import Performed
from telemetry.shell.off_loop import OffLoop
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.service_api import Outcome, Unavailable
from telemetry.shell.service_link import ServiceGuard


class AsyncPort:
    """The delivery port of asyncio code (see the module)."""

    def __init__(
        self,
        config: TelemetryConfig,
        guard: ServiceGuard,
        sink: BufferSink[BufferDirectory],
        metrics: SelfMetrics,
        off_loop: OffLoop,
        waiting: Callable[[], bool] | None = None,
        outbox: Callable[[PatchRun], Performed] | None = None,
    ) -> None:
        self._config = config
        self._guard = guard
        self._metrics = metrics
        self._sink = sink
        self._off_loop = off_loop
        # Whether runs wait for delivery elsewhere too (in background mode, in the outbox).
        self._waiting = waiting or (lambda: False)
        # In background delivery, the outbox's performer of a run's update (its own rule:
        # one write, the buffer file only when the outbox says no).
        self._outbox = outbox
        self._api: AsyncServiceApi | None = None
        self._api_owner: tuple[int, asyncio.AbstractEventLoop] | None = None
        self._probes: set[asyncio.Task[None]] = set()

    @property
    def metrics(self) -> SelfMetrics:
        return self._metrics

    def api(self) -> AsyncServiceApi:
        """This loop's (and process's) API: an httpx transport's connections belong to the
        loop that opened them."""
        owner = (os.getpid(), asyncio.get_running_loop())
        if self._api is None or self._api_owner != owner:
            config = self._config
            self._api = AsyncServiceApi(config.api_url, config.api_token, config.connect_timeout_s, config.read_timeout_s)
            self._api_owner = owner
        return self._api

    async def aclose(self) -> None:
        """Close this loop's connections (another loop's are dropped with it)."""
        api, owner = self._api, self._api_owner
        self._api = self._api_owner = None
        if api is not None and owner == (os.getpid(), asyncio.get_running_loop()):
            await api.aclose()

    async def create(self, record: RunRecord) -> Outcome:
        return await self.api().create(record)

    async def patch(self, record: RunRecord, fields: tuple[str, ...]) -> Outcome:
        return await self.api().patch(record, fields)

    async def associate_commit(self, event_id: str, commit: CommitDetails) -> Outcome:
        return await self.api().associate_commit(event_id, commit)

    async def find_runs(self, run_id: str) -> list[dict[str, Any]] | Outcome:
        return await self.api().find_runs(run_id)

    async def admit(self) -> bool:
        verdict = self._guard.admit()
        if verdict == "probe":
            probe = asyncio.create_task(self._probe())
            self._probes.add(probe)  # held until done: the loop keeps only weak references
            probe.add_done_callback(self._probes.discard)
        return verdict == "send"

    async def settle(self, outcome: object) -> None:
        self._guard.settle(outcome)

    async def _probe(self) -> None:
        try:
            outcome = await self.api().health()
        except Exception as error:
            outcome = Unavailable(f"probe failed: {error!r}")
        self._guard.probed(outcome)

    async def fallback(self, effect: AppendBuffer | None, why: str) -> bool:
        entry = None if effect is None else effect.entry
        if self._outbox is not None and isinstance(entry, BufferEntry):
            # Kept where the run's start and end wait, with no thread and no fsync to await:
            # a fsynced buffer file made the call last milliseconds (bench/README.md).
            self._metrics.increment(f"delivery.fallback.{why}")
            return self._outbox(PatchRun(entry.record, entry.fields, effect)) != "failed"
        return await self._off_loop(self._sink.fallback, effect, why)

    async def reject(self, effect: AppendBuffer | None, reason: str) -> None:
        await self._off_loop(self._sink.reject, effect, reason)

    async def may_be_buffered(self, run_id: str) -> bool:
        # Only whether the buffer holds any run: reading every entry could stall the agent.
        return self._waiting() or await self._off_loop(self._sink.directory.holds_runs)
