"""Where the delivery effects run. `SyncDelivery` (the spec's mode) sends in the caller's
thread and falls back to the buffer, so when `start_run`/`end_run` return the record is in
the service or on disk. A later background mode (an on-disk outbox drained by a thread)
is another `Delivery`; the core, the effects and the interpreter stay as they are.

Outcomes: delivered -> counted; unavailable, not authorized (401/403, as the sync worker
treats it) or breaker open -> the effect's fallback (a buffer entry); refused (another 4xx
but 408/429) -> the entry goes to `rejected/` with the service's reason; a PATCH or commit
answered 404 -> a create of the effect's full record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from telemetry.effects.vocabulary import AppendBuffer, FindRunAndPostCommit, PatchRun, PostCommit, PostRun
from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.edge import now
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.service_api import Delivered, NotFound, Outcome, Refused, ServiceApi, Unavailable
from telemetry.shell.service_link import ServiceLink


class Delivery(Protocol):
    """Performs the effects that reach the service."""

    def post_run(self, effect: PostRun) -> None: ...

    def patch_run(self, effect: PatchRun) -> None: ...

    def post_commit(self, effect: PostCommit) -> None: ...

    def find_and_post_commit(self, effect: FindRunAndPostCommit) -> tuple[bool, str]: ...


class BufferSink:
    """Writes buffer entries: the fallback of a delivery, or a refused one to `rejected/`."""

    def __init__(self, directory: BufferDirectory, metrics: SelfMetrics) -> None:
        self.directory = directory
        self._metrics = metrics

    def append(self, effect: AppendBuffer) -> None:
        self.directory.append(effect.entry, now().isoformat())
        self._metrics.increment("buffer.appended")

    def fallback(self, effect: AppendBuffer | None, why: str) -> None:
        """Run a delivery's fallback; never raises (a failure is counted and logged once)."""
        self._metrics.increment(f"delivery.fallback.{why}")
        if effect is None:
            return
        try:
            self.append(effect)
        except Exception as error:
            self._metrics.swallowed(f"AppendBuffer.{type(error).__name__}", error)

    def reject(self, effect: AppendBuffer | None, reason: str) -> None:
        """Keep what the service refused in `rejected/`, with its reason; never raises."""
        self._metrics.swallowed("delivery.refused", reason)
        if effect is None:
            return
        try:
            self.directory.reject(self.directory.append(effect.entry, now().isoformat()), reason)
            self._metrics.increment("buffer.rejected")
        except Exception as error:
            self._metrics.swallowed(f"reject.{type(error).__name__}", error)


Send = Callable[[ServiceApi], Outcome]


class SyncDelivery:
    """Delivery in the caller's thread, guarded by the circuit breaker."""

    def __init__(self, link: ServiceLink, sink: BufferSink, metrics: SelfMetrics) -> None:
        self._link = link
        self._sink = sink
        self._metrics = metrics

    def post_run(self, effect: PostRun) -> None:
        self._deliver(lambda api: api.create(effect.record), effect.fallback)

    def patch_run(self, effect: PatchRun) -> None:
        def send(api: ServiceApi) -> Outcome:
            outcome = api.patch(effect.record, effect.fields)
            return self._create_if_unknown(api, effect, outcome, lambda: api.patch(effect.record, effect.fields))

        self._deliver(send, effect.fallback)

    def post_commit(self, effect: PostCommit) -> None:
        def send(api: ServiceApi) -> Outcome:
            outcome = api.associate_commit(effect.record.event_id, effect.commit)
            return self._create_if_unknown(
                api, effect, outcome, lambda: api.associate_commit(effect.record.event_id, effect.commit)
            )

        self._deliver(send, effect.fallback)

    def _create_if_unknown(
        self, api: ServiceApi, effect: PatchRun | PostCommit, outcome: Outcome, again: Callable[[], Outcome]
    ) -> Outcome:
        """The run's create has not arrived (it may be buffered): create it whole now; the
        buffered create will then be a harmless duplicate. If the create finds the run there
        after all (a sync worker delivered the buffered create meanwhile, an older state),
        the update is sent `again`, or it would be lost."""
        if not isinstance(outcome, NotFound):
            return outcome
        self._metrics.increment("delivery.update_sent_as_create")
        created = api.create(effect.record)
        if isinstance(created, Delivered) and created.status == "duplicate":
            return again()
        return created

    def _deliver(self, send: Send, fallback: AppendBuffer | None) -> None:
        if not self._link.admit():
            self._sink.fallback(fallback, "breaker_open")
            return
        outcome = send(self._link.api)
        self._link.settle(outcome)
        match outcome:
            case Delivered():
                self._metrics.increment("delivery.delivered")
            case Refused(status_code=401 | 403, reason=reason):
                # Not the record's fault: keep it for a sync with the right token.
                self._metrics.swallowed("delivery.unauthorized", reason)
                self._sink.fallback(fallback, "unauthorized")
            case Refused(reason=reason):
                self._sink.reject(fallback, reason)
            case NotFound() | Unavailable():
                self._sink.fallback(fallback, "unavailable")

    def find_and_post_commit(self, effect: FindRunAndPostCommit) -> tuple[bool, str]:
        """Find the newest stored run with this run id, then associate the commit."""
        if not self._link.admit():
            return False, f"Telemetry service unavailable; run {effect.run_id} is not held by this client"
        rows = self._link.api.find_runs(effect.run_id)
        self._link.settle(rows)
        if not isinstance(rows, list):
            return False, f"Could not look up run {effect.run_id}: {_reason(rows)}"
        if not rows or not isinstance(rows[0], dict) or not isinstance(rows[0].get("event_id"), str):
            return False, f"Run ID not found: {effect.run_id}"
        outcome = self._link.api.associate_commit(rows[0]["event_id"], effect.commit)
        self._link.settle(outcome)
        if isinstance(outcome, Delivered):
            return True, f"Commit {effect.commit.commit_hash} associated with run {effect.run_id}"
        return False, f"Commit association failed for run {effect.run_id}: {_reason(outcome)}"


def _reason(outcome: object) -> str:
    return getattr(outcome, "reason", type(outcome).__name__)
