"""`BackgroundDelivery`: the delivery effects performed by appending to the outbox. A
`PostRun` or `PatchRun` becomes the buffer entry its fallback names, appended to this
process's outbox (one `write`, no network, no fsync); the courier (a process of its own, or
a thread) delivers it.
When the outbox says no (full: over its size limit) or cannot be written, the effect's
fallback runs as in the synchronous mode: the classic buffer file. Commits go on the
caller's thread as before (`SyncDelivery`): they are rare and their reply is the caller's
answer; a commit for a run known only by its run id waits (bounded) for the outbox to
deliver first, so the run it names is on the service when it is looked up."""

from __future__ import annotations

from typing import Any

from telemetry.effects.records import BufferEntry
from telemetry.effects.vocabulary import AppendBuffer, FindRunAndPostCommit, PatchRun, PostCommit, PostRun
from telemetry.shell.blocking_port import BufferSink
from telemetry.shell.delivery import Report, SyncDelivery
from telemetry.shell.observer import Performed
from telemetry.shell.outbox.courier_process import CourierProcess
from telemetry.shell.outbox.worker import OutboxWorker
from telemetry.shell.self_metrics import SelfMetrics

# How long a commit for a run known only by run id waits for the outbox to deliver.
COMMIT_FLUSH_S = 1.0


class BackgroundDelivery:
    """Delivery through the outbox (see the module)."""

    def __init__(self, worker: OutboxWorker | CourierProcess, sink: BufferSink[Any], direct: SyncDelivery, metrics: SelfMetrics) -> None:
        self._worker = worker
        self._outbox = worker.outbox
        self._sink = sink
        self._direct = direct
        self._metrics = metrics

    def post_run(self, effect: PostRun) -> Performed:
        return self._append(effect.fallback or AppendBuffer(BufferEntry("create", effect.record)))

    def patch_run(self, effect: PatchRun) -> Performed:
        return self._append(effect.fallback or AppendBuffer(BufferEntry("update", effect.record, effect.fields)))

    def _append(self, effect: AppendBuffer) -> Performed:
        entry = effect.entry
        assert isinstance(entry, BufferEntry)  # a run's create or update, by construction above
        try:
            if self._outbox.append_entry(entry):
                self._worker.keep_delivering()
                return "done"  # accepted: the courier delivers it
            why = "outbox_full"
        except OSError as error:
            self._metrics.swallowed(
                f"outbox.append.{type(error).__name__}", error, "could not write to the outbox; using the buffer directory"
            )
            why = "outbox_error"
        return "fell_back" if self._sink.fallback(effect, why) else "failed"

    def post_commit(self, effect: PostCommit, report: Report) -> Performed:
        return self._direct.post_commit(effect, report)

    def find_and_post_commit(self, effect: FindRunAndPostCommit, report: Report) -> Performed:
        self._worker.flush(COMMIT_FLUSH_S, while_reachable=True)
        return self._direct.find_and_post_commit(effect, report)
