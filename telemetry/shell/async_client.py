"""`AsyncTelemetryClient`: the same core, state, runtime and effects as `TelemetryClient`,
for asyncio agents. A call decides under the client's lock (pure, never across I/O), then
performs its effects in order: those that never wait (queue an NDJSON line, count, log,
append to the outbox) through the runtime's interpreter, the deliveries through the same
delivery rules awaited on `AsyncPort` (requests on the loop, buffer files on the client's
worker thread; in background delivery what waits goes to the outbox), so a down or hung
service never stalls the agent's other tasks. No method raises into the agent, except that
`track_run` re-raises the block's exception."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from telemetry.core import Command
from telemetry.core.commands import CommitSettled
from telemetry.core.decision import Reply
from telemetry.effects.vocabulary import (
    AppendBuffer,
    AppendNdjson,
    Effect,
    FindRunAndPostCommit,
    IncrementMetric,
    Log,
    PatchRun,
    PostCommit,
    PostRun,
    PostSheets,
)
from telemetry.shell.async_port import AsyncPort
from telemetry.shell.client_base import ClientBase, Sources, block_ending, commit_answer
from telemetry.shell.delivery import COMMIT_PERFORMED, Report, deliver_commit, deliver_run, find_and_deliver_commit
from telemetry.shell.edge import now
from telemetry.shell.observer import EffectObserver, Performed
from telemetry.shell.off_loop import OffLoop
from telemetry.shell.outbox.delivery import COMMIT_FLUSH_S
from telemetry.shell.run_context import AsyncRunContext
from telemetry.shell.stats import STATS_UNAVAILABLE, read_stats
from telemetry.shell.tracking import entered, tracked_decorator

CallableT = TypeVar("CallableT", bound=Callable[..., Any])
# Effects that never wait: queues, counters, the logger. The delivery effects join them in
# background mode, where they are one append to the outbox, measured harmless on the loop
# (bench/README.md); only an outbox over its size limit or unwritable falls back to a
# buffer file there, on the loop, as the threaded client does in the caller's thread.
_QUEUED = (AppendNdjson, IncrementMetric, Log, PostSheets)


class AsyncTelemetryClient(ClientBase):
    """Run telemetry for an asyncio agent: `await start_run/end_run/associate_commit`,
    `async with track_run(...)`, `@tracked` coroutine functions, `await flush()/aclose()`.
    Use it from one event loop; the runtime's threads (NDJSON writer, outbox courier,
    export, heartbeat, sync) are the threaded client's."""

    def __init__(
        self, config: object = None, sources: Sources | None = None, observer: EffectObserver | None = None
    ) -> None:
        super().__init__(config, sources, observer)
        self._background = self._runtime.outbox is not None
        self._off_loop = OffLoop()
        runtime = self._runtime
        waiting = None if runtime.outbox is None else runtime.outbox.waiting
        outbox = None if runtime.outbox is None else runtime.interpreter.delivery.patch_run
        self._port = AsyncPort(self.config, runtime.link.guard, runtime.sink, self._metrics, self._off_loop, waiting, outbox)

    async def start_run(self, agent_name: object, job_type: object, trigger_type: object = "cli", **kwargs: Any) -> str:
        """Open a run and return its id (`run_id=` in kwargs asks for a custom id)."""
        try:
            run_id = str(await self._execute(self._start_command(agent_name, job_type, trigger_type, kwargs)))
            self._runtime.lifecycle.ensure_started()
            return run_id
        except Exception as error:
            return self._start_failed(agent_name, error)

    async def end_run(self, run_id: object, status: object = "success", **kwargs: Any) -> None:
        """Close a run with a final status (`failed` is stored as `failure`) and fields.
        Once called, the end is performed even if the caller's task is cancelled meanwhile."""
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
        starting = asyncio.ensure_future(self.start_run(agent_name, job_type, trigger_type, **kwargs))
        try:
            run_id = await asyncio.shield(starting)
        except asyncio.CancelledError as error:
            # Cancelled while the start was delivered: the run exists all the same, so it
            # ends `cancelled` once its start is done.
            status, fields = block_ending(error)
            await self.end_run(await starting, status, **fields)
            raise
        context = AsyncRunContext(self, run_id)
        with entered(context):
            try:
                yield context
            except BaseException as error:
                status, fields = block_ending(error)
                await self.end_run(run_id, status, **fields)
                raise
        await self.end_run(run_id, "success")

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
            return self._commit_failed(error)

    async def get_stats(self) -> dict[str, Any]:
        """Run statistics (service `/metrics`, else the SQLite file) with run-id metrics."""
        try:
            # A rare diagnostic: the threaded client's reading, on the worker thread.
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
            await self._port.aclose()
            await self._off_loop(self._runtime.close, budget_s)
            self._off_loop.close()
        except Exception as error:
            self._failed("close", error)

    async def __aenter__(self) -> AsyncTelemetryClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _execute(self, command: Command) -> Reply:
        """Decide, then perform every effect of the decision: a cancellation of the caller
        while a delivery waits does not cut the rest short (the state already changed), it
        only stops the caller from waiting for the reply."""
        decision = self._decide(command)
        answers: list[CommitSettled] = []
        if any(self._awaits(effect) for effect in decision.effects):
            await asyncio.shield(self._perform(decision.effects, answers.append))
        else:
            self._runtime.interpreter.run(decision.effects, answers.append)
        return self._reply(decision, answers)

    def _awaits(self, effect: Effect) -> bool:
        return not (isinstance(effect, _QUEUED) or (self._background and isinstance(effect, (PostRun, PatchRun))))

    async def _perform(self, effects: Iterable[Effect], report: Report) -> None:
        """Each effect in order: the interpreter's if it never waits, else awaited on the port."""
        interpreter = self._runtime.interpreter
        for effect in effects:
            if not self._awaits(effect):
                interpreter.run((effect,), report)
                continue
            try:
                performed = await self._deliver(effect, report)
            except Exception as error:
                await self._off_loop(interpreter.failed, effect, error)  # its fallback is a buffer file
                performed = "failed"
            if self._runtime.observer is not None:
                self._runtime.observer.performed(effect, performed)

    async def _deliver(self, effect: Effect, report: Report) -> Performed:
        """The delivery rules of `telemetry.shell.delivery`, awaited on the port."""
        match effect:
            case PostRun() | PatchRun():
                return await deliver_run(self._port, effect)
            case PostCommit():
                settled = await deliver_commit(self._port, effect)
            case FindRunAndPostCommit():
                if self._runtime.outbox is not None:  # the run it names may wait in the outbox
                    await self._off_loop(self._runtime.outbox.flush, COMMIT_FLUSH_S, True)
                settled = await find_and_deliver_commit(self._port, effect)
            case AppendBuffer():
                await self._off_loop(self._runtime.sink.append, effect)
                return "done"
            case _:
                raise TypeError(f"no async performer for {type(effect).__name__}")
        report(settled)
        return COMMIT_PERFORMED[settled.outcome]

