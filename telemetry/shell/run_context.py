"""`RunContext`: what `track_run` yields, a run id with the calls that act on that run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telemetry.shell.client import TelemetryClient


class RunContext:
    """The run a `with client.track_run(...)` block is in; `run_id` is the id actually used
    (custom or generated). Its methods never raise, like the client's."""

    def __init__(self, client: TelemetryClient, run_id: str) -> None:
        self._client = client
        self.run_id = run_id

    def log_event(self, event_type: object, payload: Any = None) -> None:
        """Record an event of this run in the NDJSON backup."""
        self._client.log_event(self.run_id, event_type, payload)

    def set_metrics(self, **kwargs: Any) -> None:
        """Set fields of this run (items_*, summaries, custom metrics) before it ends."""
        self._client.set_metrics(self.run_id, **kwargs)

    def __repr__(self) -> str:
        return f"RunContext(run_id={self.run_id!r})"
