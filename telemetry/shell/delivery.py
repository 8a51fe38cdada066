"""The delivery rules, written once as coroutines over a `DeliveryPort` (what the world
answers: blocking in threads, awaited on an event loop, scripted in a simulation), and
`SyncDelivery` (the spec's mode): the rules run in the caller's thread on the blocking port,
so when `start_run`/`end_run` return the record is in the service or on disk. The
background mode (`telemetry.shell.outbox.delivery`) is another `Delivery`.

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

from telemetry.core.commands import CommitOutcome, CommitSettled
from telemetry.core.verdicts import Verdict, verdict
from telemetry.effects.records import CommitDetails
from telemetry.effects.vocabulary import AppendBuffer, FindRunAndPostCommit, PatchRun, PostCommit, PostRun
from telemetry.shell.blocking_port import BlockingPort, BufferSink
from telemetry.shell.observer import Performed
from telemetry.shell.ports import DeliveryPort, run_blocking
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.sending import answer_of, deliver
from telemetry.shell.service_link import ServiceLink
from telemetry.shell.sync.commits import RunBuffered, RunUnknown, associate_by_run_id

Report = Callable[[CommitSettled], None]
"""Where a commit performer sends what became of the commit, as a command for the core."""


class Delivery(Protocol):
    """Performs the effects that reach the service; each says what became of its effect."""

    def post_run(self, effect: PostRun) -> Performed: ...

    def patch_run(self, effect: PatchRun) -> Performed: ...

    def post_commit(self, effect: PostCommit, report: Report) -> Performed: ...

    def find_and_post_commit(self, effect: FindRunAndPostCommit, report: Report) -> Performed: ...


_UNAUTHORIZED = "the service refused the token (check TELEMETRY_API_TOKEN); runs are kept in the buffer"
# What a settled commit means for the effect that carried it.
COMMIT_PERFORMED: dict[CommitOutcome, Performed] = {
    "associated": "done", "buffered": "fell_back", "not_stored": "failed", "run_unknown": "refused", "refused": "refused",
}  # fmt: skip


def _kept(stored: bool) -> Performed:
    return "fell_back" if stored else "failed"


async def deliver_run(port: DeliveryPort, effect: PostRun | PatchRun) -> Performed:
    """Send a run's create or update, following the verdict on the answer
    (`telemetry.core.verdicts`): an update the service does not know yet becomes a create
    of the effect's full record."""
    if not await port.admit():
        return _kept(await port.fallback(effect.fallback, "breaker_open"))
    record, metrics = effect.record, port.metrics
    outcome, decided = await deliver(
        "create" if isinstance(effect, PostRun) else "update",
        (lambda: port.create(record)) if isinstance(effect, PostRun) else (lambda: port.patch(record, effect.fields)),
        lambda: port.create(record),
        lambda: metrics.increment("delivery.update_sent_as_create"),
    )
    await port.settle(outcome)
    if decided.kind == "acknowledge":
        metrics.increment("delivery.delivered")
        return "done"
    if decided.kind == "reject":
        await port.reject(effect.fallback, decided.reason)
        return "refused"
    if decided.kept == "unauthorized":  # not the record's fault: kept for the right token
        metrics.swallowed("delivery.unauthorized", decided.reason, _UNAUTHORIZED)
        return _kept(await port.fallback(effect.fallback, "unauthorized"))
    return _kept(await port.fallback(effect.fallback, "unavailable"))


async def deliver_commit(port: DeliveryPort, effect: PostCommit) -> CommitSettled:
    """Associate the commit of a held run (its full record is created on 404)."""
    run_id, commit, record = effect.record.run_id, effect.commit, effect.record
    if not await port.admit():
        return await _buffer_commit(port, run_id, commit, effect.fallback, "breaker_open", held=True)
    metrics = port.metrics
    outcome, decided = await deliver(
        "commit",
        lambda: port.associate_commit(record.event_id, commit),
        lambda: port.create(record),
        lambda: metrics.increment("delivery.update_sent_as_create"),
    )
    await port.settle(outcome)
    return await _settle_commit(port, run_id, commit, effect.fallback, decided, True)


async def find_and_deliver_commit(port: DeliveryPort, effect: FindRunAndPostCommit) -> CommitSettled:
    """Find the newest stored run with this run id, then associate the commit; buffer it
    when that cannot be done now (see the module's docstring)."""
    if not await port.admit():
        return await _buffer_commit(port, effect.run_id, effect.commit, effect.fallback, "breaker_open")
    outcome = await associate_by_run_id(port, effect.run_id, effect.commit, port.may_be_buffered)
    await port.settle(outcome)
    if isinstance(outcome, RunBuffered):
        return await _buffer_commit(port, effect.run_id, effect.commit, effect.fallback, "run_buffered")
    if isinstance(outcome, RunUnknown):
        return CommitSettled(effect.run_id, effect.commit.commit_hash, "run_unknown")
    decided = verdict("commit", answer_of(outcome))
    return await _settle_commit(port, effect.run_id, effect.commit, effect.fallback, decided, False)


async def _settle_commit(
    port: DeliveryPort, run_id: str, commit: CommitDetails, fallback: AppendBuffer | None, decided: Verdict, held: bool
) -> CommitSettled:
    if decided.kind == "acknowledge":
        port.metrics.increment("delivery.delivered")
        return CommitSettled(run_id, commit.commit_hash, "associated", held=held)
    if decided.kind == "reject":
        if held:
            await port.reject(fallback, decided.reason)
        return CommitSettled(run_id, commit.commit_hash, "refused", decided.reason, held)
    if decided.kept == "unauthorized":
        port.metrics.swallowed("delivery.unauthorized", decided.reason, _UNAUTHORIZED)
    why = "unauthorized" if decided.kept == "unauthorized" else "unavailable"
    return await _buffer_commit(port, run_id, commit, fallback, why, held)


async def _buffer_commit(
    port: DeliveryPort, run_id: str, commit: CommitDetails, fallback: AppendBuffer | None, why: str, held: bool = False
) -> CommitSettled:
    stored = await port.fallback(fallback, why)
    return CommitSettled(run_id, commit.commit_hash, "buffered" if stored else "not_stored", held=held)


class SyncDelivery:
    """The delivery rules in the caller's thread, on the blocking port."""

    def __init__(
        self, link: ServiceLink, sink: BufferSink, metrics: SelfMetrics, waiting: Callable[[], bool] | None = None
    ) -> None:
        self.port = BlockingPort(link, sink, metrics, waiting)

    def post_run(self, effect: PostRun) -> Performed:
        return run_blocking(deliver_run(self.port, effect))

    def patch_run(self, effect: PatchRun) -> Performed:
        return run_blocking(deliver_run(self.port, effect))

    def post_commit(self, effect: PostCommit, report: Report) -> Performed:
        settled = run_blocking(deliver_commit(self.port, effect))
        report(settled)
        return COMMIT_PERFORMED[settled.outcome]

    def find_and_post_commit(self, effect: FindRunAndPostCommit, report: Report) -> Performed:
        settled = run_blocking(find_and_deliver_commit(self.port, effect))
        report(settled)
        return COMMIT_PERFORMED[settled.outcome]
