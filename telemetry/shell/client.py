"""`TelemetryClient`, the public facade of the spec. Each call converts its input once (the
edge), builds a command carrying the time and randomness it needs, decides under one lock,
swaps the state, and interprets the effects outside the lock; `log_event`, which changes no
state, asks the core for its effects without a command or a lock. No method raises into the
agent (spec INV-1), except that `track_run` re-raises the agent's own exception."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
from telemetry.core.decision import Reply
from telemetry.core.run_ids import generate_run_id
from telemetry.shell.config import TelemetryConfig
from telemetry.shell.edge import fresh_event_id, fresh_nonce, json_safe_fields, now, optional_text, text
from telemetry.shell.run_context import RunContext
from telemetry.shell.runtime import Runtime
from telemetry.shell.self_metrics import LOGGER, SelfMetrics
from telemetry.wire.errors import describe, error_message
from telemetry.shell.stats import STATS_UNAVAILABLE, RunIDMetrics, read_stats
from telemetry.shell.workers import weak_callback

_SUMMARY_CHARS = 2_000
_DETAILS_CHARS = 20_000


class TelemetryClient:
    """Run telemetry for one agent process: `start_run`/`end_run`, `track_run`, events,
    commits and statistics. Thread-safe; threads start lazily. Delivery is synchronous
    (when `start_run`/`end_run` return, the record is in the service or the buffer) or,
    with `delivery="background"`, through the on-disk outbox (`flush()` waits for it)."""

    def __init__(self, config: object = None) -> None:
        self.config = _usable_config(config)
        self._metrics = SelfMetrics()
        self._lock = threading.Lock()
        settings = CoreSettings(self.config.export_active, max(1, self.config.recent_runs))
        self._state = RegistryState(settings=settings)
        self._runtime = Runtime(self.config, self._metrics, self._heartbeat)
        self._runtime.lifecycle.on_fork(weak_callback(self._after_fork))
        self._runtime.adopt_leftovers()
        self.run_id_metrics = RunIDMetrics(lambda: self._state.counters)

    def start_run(self, agent_name: object, job_type: object, trigger_type: object = "cli", **kwargs: Any) -> str:
        """Open a run and return its id (`run_id=` in kwargs asks for a custom id)."""
        try:
            custom_run_id = kwargs.pop("run_id", None)
            fields = json_safe_fields(kwargs)
            if self.config.agent_owner and "agent_owner" not in fields:
                fields["agent_owner"] = self.config.agent_owner
            command = StartRun(
                agent_name=text(agent_name),
                job_type=text(job_type),
                at=now(),
                event_id=fresh_event_id(),
                nonce=fresh_nonce(),
                trigger_type=text(trigger_type),
                custom_run_id=optional_text(custom_run_id),
                fields=fields,
            )
            run_id = str(self._execute(command))
            # After the run is delivered: a thread that cannot start must not cost the run.
            self._runtime.lifecycle.ensure_started()
            return run_id
        except Exception as error:
            self._failed("start_run", error)
            return "error-" + generate_run_id(text(agent_name), now(), fresh_nonce()[:8])

    def end_run(self, run_id: object, status: object = "success", **kwargs: Any) -> None:
        """Close a run with a final status (`failed` is stored as `failure`) and fields."""
        try:
            self._execute(EndRun(text(run_id), text(status), now(), json_safe_fields(kwargs)))
        except Exception as error:
            self._failed("end_run", error)

    def log_event(self, run_id: object, event_type: object, payload: Any = None) -> None:
        """Record an event in the NDJSON backup (never sent to the service). A dict payload
        is copied shallowly; objects nested in it must not be changed afterwards."""
        try:
            if type(payload) is dict:
                payload = payload.copy()
            # No lock: an event never changes the state, and reading the reference is atomic.
            self._runtime.interpreter.run(
                event_effects(
                    self._state,
                    run_id if type(run_id) is str else text(run_id),
                    event_type if type(event_type) is str else text(event_type),
                    now(),
                    payload,
                )
            )
        except Exception as error:
            self._failed("log_event", error, "[WARN]")

    def set_metrics(self, run_id: object, **kwargs: Any) -> None:
        """Change fields of an active run before it ends (what `RunContext.set_metrics` does)."""
        try:
            self._execute(SetMetrics(text(run_id), json_safe_fields(kwargs)))
        except Exception as error:
            self._failed("set_metrics", error)

    @contextmanager
    def track_run(
        self, agent_name: object, job_type: object, trigger_type: object = "cli", **kwargs: Any
    ) -> Iterator[RunContext]:
        """A run around a block: `success` when it ends normally, `failure` with the error
        when it raises, `cancelled` on Ctrl-C or exit; the exception is re-raised."""
        run_id = self.start_run(agent_name, job_type, trigger_type, **kwargs)
        try:
            yield RunContext(self, run_id)
        except Exception as error:
            self.end_run(run_id, status="failed", error_summary=_summary(error), error_details=_details(error))
            raise
        except BaseException as error:
            # KeyboardInterrupt, SystemExit, task cancellation: cut short, not failed.
            self.end_run(run_id, status="cancelled", error_summary=_summary(error))
            raise
        self.end_run(run_id, status="success")

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
            reply = self._execute(
                AssociateCommit(
                    text(run_id),
                    text(commit_hash),
                    text(commit_source),
                    now(),
                    optional_text(commit_author),
                    optional_text(commit_timestamp),
                )
            )
            if isinstance(reply, tuple) and len(reply) == 2:
                return bool(reply[0]), str(reply[1])
            return False, "[ERROR] associate_commit failed: no answer (see self_metrics)"
        except Exception as error:
            self._failed("associate_commit", error)
            return False, f"[ERROR] associate_commit failed: {error_message(error)}"

    def get_stats(self) -> dict[str, Any]:
        """Run statistics (service `/metrics`, else the SQLite file) with run-id metrics."""
        try:
            return read_stats(self._runtime.link, self.config.db_path, self._state.counters, self._metrics)
        except Exception as error:
            self._failed("get_stats", error)
            return {"error": STATS_UNAVAILABLE, "timestamp": now().isoformat()}

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
            reply = self._execute(ValidateCustomRunId(text(run_id)))
            assert isinstance(reply, tuple), reply  # the core's reply to this command
            return bool(reply[0]), reply[1]
        except Exception as error:
            self._failed("_validate_custom_run_id", error)
            return False, "invalid_chars"

    def self_metrics(self) -> dict[str, int]:
        """The client's own counters: deliveries, buffer writes, drops, swallowed errors."""
        return self._metrics.snapshot()

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

    def _execute(self, command: Command) -> Reply:
        with self._lock:
            decision = decide(self._state, command)
            self._state = decision.state
        answers: list[CommitSettled] = []
        self._runtime.interpreter.run(decision.effects, answers.append)
        reply = decision.reply
        for answer in answers:  # what the world answered decides the reply (state unchanged)
            reply = decide(self._state, answer).reply
        return reply

    def _heartbeat(self) -> None:
        # Heartbeat never changes the state: no lock needed to decide it.
        self._runtime.interpreter.run(decide(self._state, Heartbeat(now())).effects)

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


def _usable_config(config: object) -> TelemetryConfig:
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
