"""The world as the delivery rules (`telemetry.shell.delivery`) see it: `DeliveryPort`, whose
awaits a runtime implements (blocking, asyncio, simulated), and `run_blocking`, which drives
the rules' coroutines to their end when the port's awaits never suspend."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from telemetry.effects.records import CommitDetails, RunRecord
from telemetry.effects.vocabulary import AppendBuffer
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.service_api import Outcome

T = TypeVar("T")


class ServiceCalls(Protocol):
    """The service's calls the rules make; each answers with an outcome, never raises."""

    async def create(self, record: RunRecord) -> Outcome: ...

    async def patch(self, record: RunRecord, fields: tuple[str, ...]) -> Outcome: ...

    async def associate_commit(self, event_id: str, commit: CommitDetails) -> Outcome: ...

    async def find_runs(self, run_id: str) -> list[dict[str, Any]] | Outcome:
        """Stored rows with this run id, newest first."""
        ...


class DeliveryPort(ServiceCalls, Protocol):
    """What the delivery rules ask of the world besides the service's calls."""

    @property
    def metrics(self) -> SelfMetrics:
        """Where the rules count (the same names in every runtime)."""
        ...

    async def admit(self) -> bool:
        """True if a request may go to the service now (the breaker; the port decides how
        and when to probe); False means: take the fallback."""
        ...

    async def settle(self, outcome: object) -> None:
        """Tell the breaker what an admitted request's last outcome was."""
        ...

    async def fallback(self, effect: AppendBuffer | None, why: str) -> bool:
        """Run a delivery's fallback, counted as `delivery.fallback.<why>`: True if the
        entry is on disk. Never raises."""
        ...

    async def reject(self, effect: AppendBuffer | None, reason: str) -> None:
        """Keep what the service refused in `rejected/`, with its reason; never raises."""
        ...

    async def may_be_buffered(self, run_id: str) -> bool:
        """Whether a run the service does not hold may still wait for delivery here."""
        ...


class SuspendedError(RuntimeError):
    """A coroutine given to `run_blocking` awaited something that suspends."""


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """The value of a coroutine whose awaits never suspend (a blocking or scripted port),
    run to its end in the caller's thread without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coroutine.close()
    raise SuspendedError(
        f"{getattr(coroutine, '__qualname__', coroutine)} suspended: its port awaits real waiting; run it on an event loop, not with run_blocking"
    )
