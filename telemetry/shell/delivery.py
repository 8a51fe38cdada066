"""Where the delivery effects run. `SyncDelivery` (the spec's mode) sends in the caller's
thread and falls back to the buffer, so when `start_run`/`end_run` return the record is in
the service or on disk. A later background mode (an on-disk outbox drained by a thread)
is another `Delivery`; the core, the effects and the interpreter stay as they are.

Outcomes: delivered -> counted; unavailable, not authorized (401/403, as the sync worker
treats it) or breaker open -> the effect's fallback (a buffer entry); refused (another 4xx
but 408/429) -> the entry goes to `rejected/` with the service's reason; a PATCH or commit
answered 404 -> a create of the effect's full record. A commit for a run the client does
not hold is buffered (for the sync worker to find the run later) when the service cannot
be reached or does not hold the run yet but the buffer holds its create; it fails, with the
reason, when the service refuses it or neither the service nor the buffer knows the run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, assert_never

from telemetry.effects.vocabulary import AppendBuffer, FindRunAndPostCommit, PatchRun, PostCommit, PostRun
from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.edge import now
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.service_api import Delivered, NotFound, Outcome, Refused, ServiceApi, Unavailable
from telemetry.shell.service_link import ServiceLink
from telemetry.shell.sync.commits import RunBuffered, RunUnknown, associate_by_run_id

COMMIT_NOT_AVAILABLE = "[ERROR] Commit association not available"


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


Send = Callable[[ServiceApi], Outcome]
_UNAUTHORIZED = "the service refused the token (check TELEMETRY_API_TOKEN); runs are kept in the buffer"


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
                self._metrics.swallowed("delivery.unauthorized", reason, _UNAUTHORIZED)
                self._sink.fallback(fallback, "unauthorized")
            case Refused(reason=reason):
                self._sink.reject(fallback, reason)
            case NotFound() | Unavailable():
                self._sink.fallback(fallback, "unavailable")

    def find_and_post_commit(self, effect: FindRunAndPostCommit) -> tuple[bool, str]:
        """Find the newest stored run with this run id, then associate the commit; buffer
        it when that cannot be done now (see the module's docstring)."""
        if not self._link.admit():
            return self._buffer_commit(effect, "breaker_open")
        holds_runs = self._sink.directory.holds_runs
        outcome = associate_by_run_id(self._link.api, effect.run_id, effect.commit, lambda _run_id: holds_runs())
        self._link.settle(outcome)
        match outcome:
            case Delivered():
                self._metrics.increment("delivery.delivered")
                return True, f"Commit {effect.commit.commit_hash} associated with run {effect.run_id}"
            case RunBuffered():
                return self._buffer_commit(effect, "run_buffered")
            case RunUnknown():
                return False, f"Run ID not found: {effect.run_id}"
            case Refused(status_code=401 | 403, reason=reason):
                self._metrics.swallowed("delivery.unauthorized", reason, _UNAUTHORIZED)
                return self._buffer_commit(effect, "unauthorized")
            case Refused(reason=reason):
                return False, f"Commit association failed for run {effect.run_id}: {reason}"
            case NotFound() | Unavailable():
                return self._buffer_commit(effect, "unavailable")
            case _:
                assert_never(outcome)

    def _buffer_commit(self, effect: FindRunAndPostCommit, why: str) -> tuple[bool, str]:
        if not self._sink.fallback(effect.fallback, why):
            return False, COMMIT_NOT_AVAILABLE
        return True, (
            f"Commit {effect.commit.commit_hash} buffered for run {effect.run_id}: "
            "it will be associated when the service can be reached"
        )
