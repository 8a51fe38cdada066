"""`TelemetryClient`, the public facade of the spec, for threaded agents. Each call
converts its input once (the edge, `client_base`), decides under one lock, swaps the
state, and interprets the effects outside the lock, waiting in the caller's thread. No
method raises into the agent (spec INV-1), except that `track_run` re-raises the agent's
own exception."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from telemetry.shell.client_base import ClientBase, commit_answer
from telemetry.shell.edge import now
from telemetry.shell.run_context import RunContext
from telemetry.shell.stats import STATS_UNAVAILABLE, read_stats
from telemetry.shell.tracking import awaitable_block, tracked_decorator

CallableT = TypeVar("CallableT", bound=Callable[..., Any])


class TelemetryClient(ClientBase):
    """Run telemetry for one agent process: `start_run`/`end_run`, `track_run`, events,
    commits and statistics. Thread-safe; threads start lazily. Delivery is synchronous
    (when `start_run`/`end_run` return, the record is in the service or the buffer) or,
    with `delivery="background"`, through the on-disk outbox (`flush()` waits for it)."""

    def start_run(self, agent_name: object, job_type: object, trigger_type: object = "cli", **kwargs: Any) -> str:
        """Open a run and return its id (`run_id=` in kwargs asks for a custom id)."""
        return self._start_blocking(agent_name, job_type, trigger_type, kwargs)

    def end_run(self, run_id: object, status: object = "success", **kwargs: Any) -> None:
        """Close a run with a final status (`failed` is stored as `failure`) and fields."""
        self._end_blocking(run_id, status, kwargs)

    def log_event(self, run_id: object, event_type: object, payload: Any = None) -> None:
        """Record an event in the NDJSON backup (never sent to the service). A dict payload
        is copied shallowly; objects nested in it must not be changed afterwards."""
        self._log_event_now(run_id, event_type, payload)

    def set_metrics(self, run_id: object, **kwargs: Any) -> None:
        """Change fields of an active run before it ends (what `RunContext.set_metrics` does)."""
        self._set_metrics_now(run_id, kwargs)

    def track_run(
        self, agent_name: object, job_type: object, trigger_type: object = "cli", **kwargs: Any
    ) -> AbstractContextManager[RunContext]:
        """A run around a block: `success` when it ends normally, `failure` with the error
        when it raises, `cancelled` on Ctrl-C or exit; the exception is re-raised.
        `telemetry.current_run()` is the block's `RunContext` inside it."""
        return self._track_blocking(agent_name, job_type, trigger_type, kwargs)

    def tracked(
        self, agent_name: object, job_type: object, trigger_type: object = "cli", **kwargs: Any
    ) -> Callable[[CallableT], CallableT]:
        """`@client.tracked("agent", "job", **fields)`: each call of the function (or
        coroutine function) is a run, as in `track_run`; `telemetry.current_run()` inside."""

        def block() -> Any:
            return self.track_run(agent_name, job_type, trigger_type, **kwargs)

        return tracked_decorator(block, awaitable_block(block))

    def associate_commit(
        self,
        run_id: object,
        commit_hash: object,
        commit_source: object,
        commit_author: object = None,
        commit_timestamp: object = None,
    ) -> tuple[bool, str]:
        """Link a git commit to a run, active or already ended: `(success, message)`."""
        try:
            command = self._commit_command(run_id, commit_hash, commit_source, commit_author, commit_timestamp)
            return commit_answer(self._execute_blocking(command))
        except Exception as error:
            return self._commit_failed(error)

    def get_stats(self) -> dict[str, Any]:
        """Run statistics (service `/metrics`, else the SQLite file) with run-id metrics."""
        try:
            return read_stats(self._runtime.link, self.config.db_path, self._state.counters, self._metrics)
        except Exception as error:
            self._failed("get_stats", error)
            return {"error": STATS_UNAVAILABLE, "timestamp": now().isoformat()}

    def flush(self, timeout: object = None) -> bool:
        """Write every queued NDJSON line now and, in background delivery, wait until every
        run start and end accepted so far is acknowledged by the service, or `timeout`
        seconds pass (default and fallback for anything but a number >= 0: the exit
        budget). True if all of it is delivered (always, in sync delivery: there the
        record is in the service or the buffer when start_run/end_run return)."""
        try:
            self._runtime.ndjson.flush()
            return self._runtime.flush(self._runtime.lifecycle.budget(timeout, "flush"))
        except Exception as error:
            self._failed("flush", error)
            return False

    def close(self, budget_s: object = None) -> None:
        """Flush, drain the export lane within `budget_s` (default and fallback for
        anything but a number >= 0: the exit budget) and stop the threads. Later calls
        still work: their NDJSON lines are written synchronously."""
        try:
            self._runtime.close(budget_s)
        except Exception as error:
            self._failed("close", error)

    def __enter__(self) -> TelemetryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
