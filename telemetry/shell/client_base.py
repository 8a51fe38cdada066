"""What the threaded `TelemetryClient` and the `AsyncTelemetryClient` share: the edge (the
agent's input converted once into a command carrying its time and randomness), the
decision under one lock (held for the pure `decide` only, never across I/O), the counting
and logging of a failed public call, and the statistics that never wait."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs

from telemetry.core import (
    AssociateCommit,
    Command,
    CoreSettings,
    EndRun,
    Heartbeat,
    RegistryState,
    SetMetrics,
    StartRun,
    ValidateCustomRunId,
    decide,
    event_effects,
)
from telemetry.core.commands import CommitSettled
from telemetry.core.decision import Decision, Reply
from telemetry.core.run_ids import generate_run_id
from telemetry.effects.vocabulary import Effect
from telemetry.shell.config import TelemetryConfig
from telemetry.shell.edge import fresh_event_id, fresh_nonce, json_safe_fields, now, optional_text, text
from telemetry.shell.observer import EffectObserver
from telemetry.shell.run_context import RunContext
from telemetry.shell.runtime import Runtime
from telemetry.shell.self_metrics import LOGGER, SelfMetrics
from telemetry.shell.stats import RunIDMetrics
from telemetry.shell.tracking import entered
from telemetry.shell.workers import weak_callback
from telemetry.wire.errors import describe, error_message

_SUMMARY_CHARS = 2_000
_DETAILS_CHARS = 20_000
NO_COMMIT_ANSWER = (False, "[ERROR] associate_commit failed: no answer (see self_metrics)")


@attrs.frozen
class Sources:
    """Where the shell takes time and randomness from: the system's by default; a test
    fixes them to drive two clients through the same commands."""

    clock: Callable[[], Any] = now
    event_id: Callable[[], str] = fresh_event_id
    nonce: Callable[[], str] = fresh_nonce


class ClientBase:
    """The state, the runtime and the edge of a client; the subclass says how it waits.
    `sources` and `observer` are for tests and tools: fixed time and randomness, and a
    watcher told what became of each effect performed."""

    def __init__(
        self, config: object = None, sources: Sources | None = None, observer: EffectObserver | None = None
    ) -> None:
        self.config = usable_config(config)
        self._sources = sources if sources is not None else Sources()
        self._metrics = SelfMetrics()
        self._lock = threading.Lock()
        settings = CoreSettings(self.config.export_active, max(1, self.config.recent_runs))
        self._state = RegistryState(settings=settings)
        self._runtime = Runtime(self.config, self._metrics, self._heartbeat, observer)
        self._runtime.lifecycle.on_fork(weak_callback(self._after_fork))
        self._runtime.adopt_leftovers()
        self.run_id_metrics = RunIDMetrics(lambda: self._state.counters)

    # The edge: the agent's input as a command.

    def _start_command(self, agent_name: object, job_type: object, trigger_type: object, kwargs: dict[str, Any]) -> StartRun:
        custom_run_id = kwargs.pop("run_id", None)
        fields = json_safe_fields(kwargs)
        if self.config.agent_owner and "agent_owner" not in fields:
            fields["agent_owner"] = self.config.agent_owner
        return StartRun(
            agent_name=text(agent_name),
            job_type=text(job_type),
            at=self._sources.clock(),
            event_id=self._sources.event_id(),
            nonce=self._sources.nonce(),
            trigger_type=text(trigger_type),
            custom_run_id=optional_text(custom_run_id),
            fields=fields,
        )

    def _start_failed(self, agent_name: object, error: Exception) -> str:
        """Count and log a failed `start_run`; the spec's fallback: `"error-"` and a generated id."""
        self._failed("start_run", error)
        return "error-" + generate_run_id(text(agent_name), now(), fresh_nonce()[:8])

    def _commit_failed(self, error: Exception) -> tuple[bool, str]:
        """Count and log a failed `associate_commit`; the spec's fallback reply."""
        self._failed("associate_commit", error)
        return False, f"[ERROR] associate_commit failed: {error_message(error)}"

    def _end_command(self, run_id: object, status: object, kwargs: dict[str, Any]) -> EndRun:
        return EndRun(text(run_id), text(status), self._sources.clock(), json_safe_fields(kwargs))

    def _commit_command(
        self, run_id: object, commit_hash: object, commit_source: object, commit_author: object, commit_timestamp: object
    ) -> AssociateCommit:
        return AssociateCommit(
            text(run_id),
            text(commit_hash),
            text(commit_source),
            self._sources.clock(),
            optional_text(commit_author),
            optional_text(commit_timestamp),
        )

    def _event_effects(self, run_id: object, event_type: object, payload: Any) -> tuple[Effect, ...]:
        """`log_event`'s effects; no lock: an event never changes the state, and reading
        the reference is atomic. A dict payload is copied shallowly."""
        if type(payload) is dict:
            payload = payload.copy()
        return event_effects(
            self._state,
            run_id if type(run_id) is str else text(run_id),
            event_type if type(event_type) is str else text(event_type),
            self._sources.clock(),
            payload,
        )

    # The decision, and the reply once the world answered.

    def _decide(self, command: Command) -> Decision:
        """Decide under the lock and swap the state; the effects are the caller's to run."""
        with self._lock:
            decision = decide(self._state, command)
            self._state = decision.state
        return decision

    def _reply(self, decision: Decision, answers: list[CommitSettled]) -> Reply:
        """What the world answered decides the reply (the state is unchanged by it)."""
        reply = decision.reply
        for answer in answers:
            reply = decide(self._state, answer).reply
        return reply

    def _heartbeat(self) -> None:
        # Run by the heartbeat thread in either client; it never changes the state, so no lock.
        self._runtime.interpreter.run(decide(self._state, Heartbeat(self._sources.clock())).effects)

    # The calls that wait in the caller's thread: the threaded client's, and the async
    # client's for a plain function it tracks.

    def _execute_blocking(self, command: Command) -> Reply:
        decision = self._decide(command)
        answers: list[CommitSettled] = []
        self._runtime.interpreter.run(decision.effects, answers.append)
        return self._reply(decision, answers)

    def _start_blocking(self, agent_name: object, job_type: object, trigger_type: object, kwargs: dict[str, Any]) -> str:
        try:
            run_id = str(self._execute_blocking(self._start_command(agent_name, job_type, trigger_type, kwargs)))
            # After the run is delivered: a thread that cannot start must not cost the run.
            self._runtime.lifecycle.ensure_started()
            return run_id
        except Exception as error:
            return self._start_failed(agent_name, error)

    def _end_blocking(self, run_id: object, status: object, kwargs: dict[str, Any]) -> None:
        try:
            self._execute_blocking(self._end_command(run_id, status, kwargs))
        except Exception as error:
            self._failed("end_run", error)

    @contextmanager
    def _track_blocking(
        self, agent_name: object, job_type: object, trigger_type: object, kwargs: dict[str, Any]
    ) -> Iterator[RunContext]:
        context = RunContext(self, self._start_blocking(agent_name, job_type, trigger_type, dict(kwargs)))
        with entered(context):
            try:
                yield context
            except BaseException as error:
                status, fields = block_ending(error)
                self._end_blocking(context.run_id, status, fields)
                raise
        self._end_blocking(context.run_id, "success", {})

    # Calls that never wait, in either client.

    def _log_event_now(self, run_id: object, event_type: object, payload: Any) -> None:
        try:
            self._runtime.interpreter.run(self._event_effects(run_id, event_type, payload))
        except Exception as error:
            self._failed("log_event", error, "[WARN]")

    def _set_metrics_now(self, run_id: object, kwargs: dict[str, Any]) -> None:
        """`set_metrics`: a change of the state; its effects (warnings) never wait."""
        try:
            self._runtime.interpreter.run(self._decide(SetMetrics(text(run_id), json_safe_fields(kwargs))).effects)
        except Exception as error:
            self._failed("set_metrics", error)

    def get_run_id_metrics(self) -> dict[str, Any]:
        """The spec's run-id metrics snapshot."""
        try:
            return self.run_id_metrics.get_snapshot()
        except Exception as error:
            self._failed("get_run_id_metrics", error)
            return {"error": error_message(error), "timestamp": now().isoformat()}

    def log_run_id_metrics(self) -> None:
        """Log the run-id metrics as JSON at INFO level."""
        try:
            self.run_id_metrics.log_metrics()
        except Exception as error:
            self._failed("log_run_id_metrics", error, "[WARN]")

    def _validate_custom_run_id(self, run_id: object) -> tuple[bool, str | None]:
        """`(True, None)` or `(False, "empty" | "too_long" | "invalid_chars")`; counts refusals."""
        try:
            reply = self._decide(ValidateCustomRunId(text(run_id))).reply
            assert isinstance(reply, tuple), reply  # the core's reply to this command
            return bool(reply[0]), reply[1]
        except Exception as error:
            self._failed("_validate_custom_run_id", error)
            return False, "invalid_chars"

    def self_metrics(self) -> dict[str, int]:
        """The client's own counters: deliveries, buffer writes, drops, swallowed errors."""
        return self._metrics.snapshot()

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def _failed(self, method: str, error: Exception, prefix: str = "[ERROR]") -> None:
        """Count a failed public call; log the spec's message once per method and error type
        (with no logging set up, Python prints it on stderr, as the spec says)."""
        try:
            self._metrics.increment(f"errors.{method}")
            if self._metrics.first_time(f"{method}.{type(error).__name__}"):
                level = logging.ERROR if prefix == "[ERROR]" else logging.WARNING
                LOGGER.log(level, "%s Telemetry %s failed: %s", prefix, method, error_message(error))
        except Exception:
            pass  # an agent out of stack or memory: its call must still return


def commit_answer(reply: Reply) -> tuple[bool, str]:
    """`associate_commit`'s `(success, message)` from the core's reply."""
    if isinstance(reply, tuple) and len(reply) == 2:
        return bool(reply[0]), str(reply[1])
    return NO_COMMIT_ANSWER


def block_ending(error: BaseException) -> tuple[str, dict[str, Any]]:
    """How a tracked block that raised `error` ends its run: `failed` with the error for an
    `Exception`; `cancelled` for Ctrl-C, exit or task cancellation (cut short, not failed)."""
    if isinstance(error, Exception):
        return "failed", {"error_summary": _summary(error), "error_details": _details(error)}
    return "cancelled", {"error_summary": _summary(error)}


def usable_config(config: object) -> TelemetryConfig:
    """`config`, or the environment's when it is None or not a `TelemetryConfig`; its
    problems are logged as warnings, never raised (spec: validation failures are logged)."""
    if config is not None and not isinstance(config, TelemetryConfig):
        LOGGER.warning(
            "telemetry: configuration problem: expected a TelemetryConfig, got %s; using TelemetryConfig.from_env()",
            type(config).__name__,
        )
        config = None
    usable = config if config is not None else TelemetryConfig.from_env()
    for problem in usable.validate():
        LOGGER.warning("telemetry: configuration problem: %s", problem)
    return usable.with_defaults_for_problems()


def _summary(error: BaseException) -> str:
    return describe(error)[:_SUMMARY_CHARS]


def _details(error: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(error))[-_DETAILS_CHARS:]
    except Exception:
        return _summary(error)
