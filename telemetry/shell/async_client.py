"""`AsyncTelemetryClient`: the same core, state, runtime and effects as `TelemetryClient`,
for asyncio agents. A call decides under the client's lock (pure, never across I/O), then
performs its effects: those that never wait (queue an NDJSON line, count, log, append to
the outbox) on the loop, those that may wait (a request to the service, a buffer file)
awaited off the loop, so a down or hung service never stalls the agent's other tasks. No
method raises into the agent, except that `track_run` re-raises the block's exception."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from telemetry.core import Command
from telemetry.core.commands import CommitSettled
from telemetry.core.decision import Reply
from telemetry.effects.vocabulary import AppendNdjson, Effect, IncrementMetric, Log, PatchRun, PostRun, PostSheets
from telemetry.shell.client_base import ClientBase, Sources, block_ending, commit_answer
from telemetry.shell.edge import now
from telemetry.shell.run_context import AsyncRunContext
from telemetry.shell.stats import STATS_UNAVAILABLE, read_stats
from telemetry.shell.tracking import entered, tracked_decorator
from telemetry.shell.workers import PerProcess
from telemetry.wire.errors import error_message

CallableT = TypeVar("CallableT", bound=Callable[..., Any])
T = TypeVar("T")
# Effects that never wait: queues, counters, the logger. The delivery effects join them in
# background mode, where they are one append to the outbox (bench/bench_async.py).
_QUEUED = (AppendNdjson, IncrementMetric, Log, PostSheets)


class AsyncTelemetryClient(ClientBase):
    """Run telemetry for an asyncio agent: `await start_run/end_run/associate_commit`,
    `async with track_run(...)`, `@tracked` coroutine functions, `await flush()/aclose()`.
    Use it from one event loop; the runtime's threads (NDJSON writer, outbox courier,
    export, heartbeat, sync) are the threaded client's."""

    def __init__(self, config: object = None, sources: Sources | None = None) -> None:
        super().__init__(config, sources)
        self._background = self._runtime.outbox is not None
        # One thread for what must not run on the loop, in call order; built on first use.
        self._waiting = PerProcess(lambda: ThreadPoolExecutor(1, thread_name_prefix="telemetry-async"))

    async def start_run(self, agent_name: object, job_type: object, trigger_type: object = "cli", **kwargs: Any) -> str:
        """Open a run and return its id (`run_id=` in kwargs asks for a custom id)."""
        try:
            run_id = str(await self._execute(self._start_command(agent_name, job_type, trigger_type, kwargs)))
            self._runtime.lifecycle.ensure_started()
            return run_id
        except Exception as error:
            self._failed("start_run", error)
            return self._error_run_id(agent_name)

    async def end_run(self, run_id: object, status: object = "success", **kwargs: Any) -> None:
        """Close a run with a final status (`failed` is stored as `failure`) and fields."""
        try:
            await self._execute(self._end_command(run_id, status, kwargs))
        except Exception as error:
            self._failed("end_run", error)

    async def log_event(self, run_id: object, event_type: object, payload: Any = None) -> None:
        """Record an event in the NDJSON backup (queued: never waits). A dict payload is
        copied shallowly; objects nested in it must not be changed afterwards."""
        self._log_event_now(run_id, event_type, payload)

    def set_metrics(self, run_id: object, **kwargs: Any) -> None:
        """Change fields of an active run before it ends (never waits)."""
        self._set_metrics_now(run_id, kwargs)

    def track_run(
        self, agent_name: object, job_type: object, trigger_type: object = "cli", **kwargs: Any
    ) -> AbstractAsyncContextManager[AsyncRunContext]:
        """`async with client.track_run(...) as ctx`: `success` when the block ends
        normally, `failure` with the error when it raises, `cancelled` when its task is
        cancelled (or on Ctrl-C); the exception is re-raised. `current_run()` is `ctx`."""
        return self._track(agent_name, job_type, trigger_type, kwargs)

    @asynccontextmanager
    async def _track(
        self, agent_name: object, job_type: object, trigger_type: object, kwargs: dict[str, Any]
    ) -> AsyncIterator[AsyncRunContext]:
        context = AsyncRunContext(self, await self.start_run(agent_name, job_type, trigger_type, **kwargs))
        with entered(context):
            try:
                yield context
            except BaseException as error:
                status, fields = block_ending(error)
                await self._end_shielded(context.run_id, status, fields)
                raise
        await self._end_shielded(context.run_id, "success", {})

    async def _end_shielded(self, run_id: str, status: str, fields: dict[str, Any]) -> None:
        # A second cancellation of the task (a task group, the loop shutting down) must not
        # cut the end short: it runs to completion while the cancellation goes on.
        await asyncio.shield(self.end_run(run_id, status, **fields))

    def tracked(
        self, agent_name: object, job_type: object, trigger_type: object = "cli", **kwargs: Any
    ) -> Callable[[CallableT], CallableT]:
        """`@client.tracked("agent", "job", **fields)`: each call of a coroutine function is
        a run, as in `track_run`. A plain function's call is a run recorded in the calling
        thread, as the threaded client does (call it off the loop in sync delivery)."""
        return tracked_decorator(
            lambda: self._track_blocking(agent_name, job_type, trigger_type, kwargs),
            lambda: self._track(agent_name, job_type, trigger_type, dict(kwargs)),
        )

    async def associate_commit(
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
            return commit_answer(await self._execute(command))
        except Exception as error:
            self._failed("associate_commit", error)
            return False, f"[ERROR] associate_commit failed: {error_message(error)}"

    async def get_stats(self) -> dict[str, Any]:
        """Run statistics (service `/metrics`, else the SQLite file) with run-id metrics."""
        try:
            counters = self._state.counters
            return await self._off_loop(read_stats, self._runtime.link, self.config.db_path, counters, self._metrics)
        except Exception as error:
            self._failed("get_stats", error)
            return {"error": STATS_UNAVAILABLE, "timestamp": now().isoformat()}

    async def flush(self, timeout: object = None) -> bool:
        """Write the queued NDJSON lines and, in background delivery, wait until every start
        and end accepted so far is acknowledged, or `timeout` seconds pass (default: the
        exit budget); True if all of it is. The loop goes on meanwhile."""
        try:
            return await self._off_loop(self._flush_now, self._runtime.lifecycle.budget(timeout, "flush"))
        except Exception as error:
            self._failed("flush", error)
            return False

    def _flush_now(self, timeout_s: float) -> bool:
        self._runtime.ndjson.flush()
        return self._runtime.flush(timeout_s)

    async def aclose(self, budget_s: object = None) -> None:
        """Flush, drain within `budget_s` (default: the exit budget) and stop the threads,
        off the loop. Later calls still work."""
        try:
            await self._off_loop(self._runtime.close, budget_s)
            waiting = self._waiting.current()
            self._waiting.forget()
            if waiting is not None:
                waiting.shutdown(wait=False)
        except Exception as error:
            self._failed("close", error)

    async def __aenter__(self) -> AsyncTelemetryClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _execute(self, command: Command) -> Reply:
        decision = self._decide(command)
        answers: list[CommitSettled] = []
        await self._perform(decision.effects, answers.append)
        return self._reply(decision, answers)

    async def _perform(self, effects: Iterable[Effect], report: Callable[[CommitSettled], None]) -> None:
        """Each effect in order: on the loop if it never waits, else awaited off the loop."""
        interpreter = self._runtime.interpreter
        for effect in effects:
            if self._never_waits(effect):
                interpreter.run((effect,), report)
            else:
                await self._off_loop(interpreter.run, (effect,), report)

    def _never_waits(self, effect: Effect) -> bool:
        return isinstance(effect, _QUEUED) or (self._background and isinstance(effect, (PostRun, PatchRun)))

    async def _off_loop(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._waiting.get(), function, *args)
