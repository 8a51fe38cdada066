"""What `track_run` yields: `RunContext` (threaded client) and `AsyncRunContext` (async
client), a run id with the calls that act on that run. Their methods never raise."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telemetry.shell.client_base import ClientBase


class RunContext:
    """The run a `with client.track_run(...)` block (or a `@client.tracked` function) is
    in; `run_id` is the id actually used (custom or generated)."""

    def __init__(self, client: ClientBase, run_id: str) -> None:
        self._client = client
        self.run_id = run_id

    def log_event(self, event_type: object, payload: Any = None) -> None:
        """Record an event of this run in the NDJSON backup."""
        self._client._log_event_now(self.run_id, event_type, payload)

    def set_metrics(self, **kwargs: Any) -> None:
        """Set fields of this run (items_*, summaries, custom metrics) before it ends."""
        self._client._set_metrics_now(self.run_id, kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(run_id={self.run_id!r})"


class AsyncRunContext(RunContext):
    """The run an `async with client.track_run(...)` block (or a tracked coroutine function)
    is in: `await ctx.log_event(...)`; `ctx.set_metrics(...)` never waits."""

    async def log_event(self, event_type: object, payload: Any = None) -> None:  # type: ignore[override]
        """Record an event of this run in the NDJSON backup (queued: it never waits)."""
        self._client._log_event_now(self.run_id, event_type, payload)
