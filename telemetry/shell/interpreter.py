"""The interpreter: a plain loop over the effects the core returned, one small performer per
effect kind (a type -> performer table that must cover every effect type), each guarded
the same way: an `Exception` is counted by effect kind and error type, logged once, and
the effect's fallback runs; a `BaseException` (Ctrl-C, exit) always goes through. An
optional `EffectObserver` is told what became of each effect (`Performed`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from telemetry.core.commands import CommitSettled
from telemetry.effects.records import RunEvent, RunRecord
from telemetry.effects.vocabulary import (
    EFFECT_TYPES,
    AppendBuffer,
    AppendNdjson,
    Effect,
    FindRunAndPostCommit,
    IncrementMetric,
    Log,
    NdjsonKind,
    PatchRun,
    PostCommit,
    PostRun,
    PostSheets,
)
from telemetry.shell.blocking_port import BufferSink
from telemetry.shell.delivery import Delivery, Report
from telemetry.shell.export import ExportLane
from telemetry.shell.observer import EffectObserver, Performed
from telemetry.shell.self_metrics import LOGGER, SelfMetrics

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_LOGGED_MESSAGES = 4096
_SPEC_TAGS = ("[WARN] ", "[ERROR] ")
# What failed, in plain words, for the once-per-kind warning of an effect that raised.
_FAILURE_HEADLINES: dict[type, str] = {
    PostRun: "sending a new run to the service failed",
    PatchRun: "sending a run update to the service failed",
    PostCommit: "sending a commit association to the service failed",
    FindRunAndPostCommit: "associating a commit with a run on the service failed",
    AppendBuffer: "could not write to the buffer directory",
    AppendNdjson: "could not queue an NDJSON backup line",
    PostSheets: "could not queue a run for the secondary export",
    IncrementMetric: "could not count a self-metric",
    Log: "could not log a message",
}


class BackupLines(Protocol):
    """Where NDJSON backup lines go: the client's `NdjsonWriter`, or a simulated backup."""

    def submit(self, kind: NdjsonKind, body: RunRecord | RunEvent) -> None: ...


def _ignore(settled: CommitSettled) -> None:
    """The report of a caller that waits for no answer."""


class Interpreter:
    """Runs effects against the world."""

    def __init__(
        self,
        delivery: Delivery,
        sink: BufferSink[Any],
        ndjson: BackupLines,
        export: ExportLane | None,
        metrics: SelfMetrics,
        observer: EffectObserver | None = None,
    ) -> None:
        # Named for the async client, which keeps a commit's fallback through it (background).
        self.delivery = delivery
        self._sink = sink
        self._observer = observer
        self._ndjson = ndjson
        self._export = export
        self._metrics = metrics
        # A performer returns what became of its effect, or None for `done`.
        self._performers: dict[type, Callable[[Any], Performed | None]] = {
            PostRun: delivery.post_run,
            PatchRun: delivery.patch_run,
            AppendBuffer: sink.append,
            AppendNdjson: self._append_ndjson,
            PostSheets: self._post_sheets,
            IncrementMetric: self._increment,
            Log: self._log,
        }
        # The commit performers also report what became of the commit.
        self._commits: dict[type, Callable[[Any, Report], Performed]] = {
            PostCommit: delivery.post_commit,
            FindRunAndPostCommit: delivery.find_and_post_commit,
        }
        self._logged: set[str] = set()
        missing = set(EFFECT_TYPES) - ((set(self._performers) | set(self._commits)) & set(_FAILURE_HEADLINES))
        if missing:
            raise TypeError(f"no performer or headline for {sorted(cls.__name__ for cls in missing)}")

    def run(self, effects: Iterable[Effect], report: Report = _ignore) -> None:
        """Perform `effects` in order; what the world answered to a commit goes to `report`,
        as a command for the core (performers return nothing)."""
        observer = self._observer
        performed: Performed | None
        for effect in effects:
            # A plain `try` rather than a `swallow_errors(effect)` context manager: entering
            # one is measurable on the hot path (log_event), a `try` is not.
            try:
                if isinstance(effect, (PostCommit, FindRunAndPostCommit)):
                    performed = self._commits[type(effect)](effect, report)
                else:
                    performed = self._performers[type(effect)](effect)
            except Exception as error:
                self.failed(effect, error)
                performed = "failed"
            if observer is not None:
                observer.performed(effect, performed or "done")

    def failed(self, effect: Effect, error: Exception) -> None:
        """Count and log (once per kind) an effect that raised, then run its fallback."""
        kind = type(effect)
        self._metrics.swallowed(f"{kind.__name__}.{type(error).__name__}", error, _FAILURE_HEADLINES[kind])
        fallback = getattr(effect, "fallback", None)
        if isinstance(fallback, AppendBuffer):
            self._sink.fallback(fallback, "error")

    def _append_ndjson(self, effect: AppendNdjson) -> None:
        self._ndjson.submit(effect.kind, effect.body)

    def _post_sheets(self, effect: PostSheets) -> None:
        if self._export is not None:
            self._export.submit(effect.record)

    def _increment(self, effect: IncrementMetric) -> None:
        self._metrics.increment(effect.name)

    def _log(self, effect: Log) -> None:
        # Each distinct message is logged once (a loop logging events for an unknown run
        # must not flood the agent's stderr); repeats are counted.
        if effect.message in self._logged:
            self._metrics.increment("log.repeated")
            return
        if len(self._logged) >= _LOGGED_MESSAGES:
            self._logged.clear()
        self._logged.add(effect.message)
        # A message in the spec's own words ("[WARN] Run ID not found: ...") is logged as the
        # spec gives it; every other one gets the client's one prefix.
        prefix = "" if effect.message.startswith(_SPEC_TAGS) else "telemetry: "
        LOGGER.log(_LEVELS.get(effect.level, logging.WARNING), "%s%s", prefix, effect.message)
