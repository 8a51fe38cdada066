"""Where the delivery effects run. `SyncDelivery` (the spec's mode) sends in the caller's
thread and falls back to the buffer, so when `start_run`/`end_run` return the record is in
the service or on disk. The background mode (`telemetry.shell.outbox.delivery`: an
on-disk outbox drained by a thread) is another `Delivery`; the core, the effects and the
interpreter stay as they are.

Outcomes: delivered -> counted; unavailable, not authorized (401/403, as the sync worker
treats it) or breaker open -> the effect's fallback (a buffer entry); refused (another 4xx
but 408/429) -> the entry goes to `rejected/` with the service's reason; a PATCH or commit
answered 404 -> a create of the effect's full record. A commit for a run the client does
not hold is buffered (for the sync worker to find the run later) when the service cannot
be reached or does not hold the run yet but the buffer holds its create; it fails, with the
reason, when the service refuses it or neither the service nor the buffer knows the run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from telemetry.effects.vocabulary import AppendBuffer, FindRunAndPostCommit, PatchRun, PostCommit, PostRun
from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.edge import now
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.core.commands import CommitSettled
from telemetry.core.verdicts import Operation, Verdict, verdict
from telemetry.effects.records import CommitDetails
from telemetry.shell.sending import answer_of, deliver
from telemetry.shell.service_api import Outcome, ServiceApi
from telemetry.shell.service_link import ServiceLink
from telemetry.shell.sync.commits import RunBuffered, RunUnknown, associate_by_run_id

Report = Callable[[CommitSettled], None]
"""Where a commit performer sends what became of the commit, as a command for the core."""


class Delivery(Protocol):
    """Performs the effects that reach the service."""

    def post_run(self, effect: PostRun) -> None: ...

    def patch_run(self, effect: PatchRun) -> None: ...

    def post_commit(self, effect: PostCommit, report: Report) -> None: ...

    def find_and_post_commit(self, effect: FindRunAndPostCommit, report: Report) -> None: ...


class BufferSink:
    """Writes buffer entries: the fallback of a delivery, or a refused one to `rejected/`."""

    def __init__(self, directory: BufferDirectory, metrics: SelfMetrics) -> None:
        self.directory = directory
        self._metrics = metrics

    def append(self, effect: AppendBuffer) -> None:
        self.directory.append(effect.entry, now().isoformat())
        self._metrics.increment("buffer.appended")

    def fallback(self, effect: AppendBuffer | None, why: str) -> bool:
        """Run a delivery's fallback: True if the entry is on disk. Never raises (a failure
        is counted and logged once)."""
        self._metrics.increment(f"delivery.fallback.{why}")
        if effect is None:
            return False
        try:
            self.append(effect)
        except Exception as error:
            self._metrics.swallowed(
                f"AppendBuffer.{type(error).__name__}", error, "could not write to the buffer directory; the run is only in the NDJSON backup"
            )
            return False
        return True

    def reject(self, effect: AppendBuffer | None, reason: str) -> None:
        """Keep what the service refused in `rejected/`, with its reason; never raises."""
        self._metrics.swallowed("delivery.refused", reason, "the service refused a run; it is kept in buffer/rejected with the reason")
        if effect is None:
            return
        try:
            self.directory.reject(self.directory.append(effect.entry, now().isoformat()), reason)
            self._metrics.increment("buffer.rejected")
        except Exception as error:
            self._metrics.swallowed(f"reject.{type(error).__name__}", error, "could not keep a refused run in buffer/rejected")


_UNAUTHORIZED = "the service refused the token (check TELEMETRY_API_TOKEN); runs are kept in the buffer"


class SyncDelivery:
    """Delivery in the caller's thread, guarded by the circuit breaker."""

    def __init__(
        self, link: ServiceLink, sink: BufferSink, metrics: SelfMetrics, waiting: Callable[[], bool] | None = None
    ) -> None:
        self._link = link
        self._sink = sink
        self._metrics = metrics
        # Whether runs wait for delivery elsewhere too (in background mode, in the outbox).
        self._waiting = waiting or (lambda: False)

    def post_run(self, effect: PostRun) -> None:
        self._deliver("create", lambda api: api.create(effect.record), effect)

    def patch_run(self, effect: PatchRun) -> None:
        self._deliver("update", lambda api: api.patch(effect.record, effect.fields), effect)

    def post_commit(self, effect: PostCommit, report: Report) -> None:
        """Associate the commit of a held run (its full record is created on 404); what
        became of it goes to `report`."""
        run_id, commit = effect.record.run_id, effect.commit
        if not self._link.admit():
            report(self._buffer_commit(run_id, commit, effect.fallback, "breaker_open", held=True))
            return
        api = self._link.api
        outcome, decided = deliver(
            "commit",
            lambda: api.associate_commit(effect.record.event_id, commit),
            lambda: api.create(effect.record),
            lambda: self._metrics.increment("delivery.update_sent_as_create"),
        )
        self._link.settle(outcome)
        report(self._settle_commit(run_id, commit, effect.fallback, decided, True))

    def _deliver(self, operation: Operation, send: Callable[[ServiceApi], Outcome], effect: PostRun | PatchRun) -> None:
        """Send, following the verdict on the answer (`telemetry.core.verdicts`): an update
        the service does not know yet becomes a create of the effect's full record."""
        if not self._link.admit():
            self._sink.fallback(effect.fallback, "breaker_open")
            return
        api = self._link.api
        outcome, decided = deliver(
            operation,
            lambda: send(api),
            lambda: api.create(effect.record),
            lambda: self._metrics.increment("delivery.update_sent_as_create"),
        )
        self._link.settle(outcome)
        if decided.kind == "acknowledge":
            self._metrics.increment("delivery.delivered")
        elif decided.kind == "reject":
            self._sink.reject(effect.fallback, decided.reason)
        elif decided.kept == "unauthorized":  # not the record's fault: kept for the right token
            self._metrics.swallowed("delivery.unauthorized", decided.reason, _UNAUTHORIZED)
            self._sink.fallback(effect.fallback, "unauthorized")
        else:
            self._sink.fallback(effect.fallback, "unavailable")

    def find_and_post_commit(self, effect: FindRunAndPostCommit, report: Report) -> None:
        """Find the newest stored run with this run id, then associate the commit; buffer
        it when that cannot be done now (see the module's docstring). What became of it
        goes to `report`."""
        if not self._link.admit():
            report(self._buffer_commit(effect.run_id, effect.commit, effect.fallback, "breaker_open"))
            return
        holds_runs, waiting = self._sink.directory.holds_runs, self._waiting
        outcome = associate_by_run_id(self._link.api, effect.run_id, effect.commit, lambda _run_id: waiting() or holds_runs())
        self._link.settle(outcome)
        if isinstance(outcome, RunBuffered):
            report(self._buffer_commit(effect.run_id, effect.commit, effect.fallback, "run_buffered"))
        elif isinstance(outcome, RunUnknown):
            report(CommitSettled(effect.run_id, effect.commit.commit_hash, "run_unknown"))
        else:
            report(self._settle_commit(effect.run_id, effect.commit, effect.fallback, verdict("commit", answer_of(outcome)), False))

    def _settle_commit(
        self, run_id: str, commit: CommitDetails, fallback: AppendBuffer | None, decided: Verdict, held: bool
    ) -> CommitSettled:
        if decided.kind == "acknowledge":
            self._metrics.increment("delivery.delivered")
            return CommitSettled(run_id, commit.commit_hash, "associated", held=held)
        if decided.kind == "reject":
            if held:
                self._sink.reject(fallback, decided.reason)
            return CommitSettled(run_id, commit.commit_hash, "refused", decided.reason, held)
        if decided.kept == "unauthorized":
            self._metrics.swallowed("delivery.unauthorized", decided.reason, _UNAUTHORIZED)
        return self._buffer_commit(run_id, commit, fallback, "unauthorized" if decided.kept == "unauthorized" else "unavailable", held)

    def _buffer_commit(
        self, run_id: str, commit: CommitDetails, fallback: AppendBuffer | None, why: str, held: bool = False
    ) -> CommitSettled:
        stored = self._sink.fallback(fallback, why)
        return CommitSettled(run_id, commit.commit_hash, "buffered" if stored else "not_stored", held=held)
