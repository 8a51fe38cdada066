"""How one window's entries go on the wire, and what each answer does to an entry: the
batch endpoint for the folded records of its runs (queued on a wire thread while the next
window is read), then single requests, several at once, for what the batch left (updates
of stored runs, refused folds), read again from their files; every outcome is settled in
order: acknowledged, rejected, or kept because the pass must stop."""

from __future__ import annotations

import threading
from concurrent.futures import Future

from telemetry.shell.sync.daemon_pool import DaemonPool
from telemetry.core.verdicts import Verdict, verdict
from telemetry.shell.blocking_port import BlockingCalls
from telemetry.shell.ports import run_blocking
from telemetry.shell.sending import answer_of, deliver
from telemetry.shell.service_api import BatchResult, Outcome, ServiceApi
from telemetry.shell.sync.fold import RunFold, chunks
from telemetry.shell.sync.passes import SyncPass
from telemetry.wire.format import WireEntry

def _verdict_of_batch(result: Outcome) -> Verdict:
    """The verdict on a whole batch the service did not answer item by item."""
    return verdict("create", answer_of(result))


Sent = list[tuple[list[RunFold], Future[BatchResult | Outcome | None]]]
"""A window's batches, queued on the wire thread: each chunk of runs and its answer (None
if it was not sent, because the pass stops)."""


class Lanes:
    """The threads one pass sends on: batches one after another on `batches` (so this side
    reads, folds and deletes files while the service works), single requests several at
    once on `singles`. `halt` is set by the first answer that stops the pass."""

    def __init__(self, concurrency: int) -> None:
        self.batches = DaemonPool(1, "telemetry-sync-wire")
        self.singles = DaemonPool(concurrency, "telemetry-sync-send")
        self.halt = threading.Event()

    def __enter__(self) -> Lanes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.halt.set()  # what is still queued is not sent; its entries stay for later
        self.batches.shutdown()
        self.singles.shutdown()


class Sender:
    """Delivers the claimed entries of a window, folded by run, and settles each one."""

    def __init__(self, api: ServiceApi, batch_size: int) -> None:
        self._api = api
        self._calls = BlockingCalls(lambda: api)
        self._batch_size = batch_size

    def send(self, runs: list[RunFold], sync_pass: SyncPass, lanes: Lanes) -> Sent:
        """Queue the window's runs on the wire thread, one create of each folded record,
        and return at once: the caller reads the next window meanwhile."""
        return [
            (chunk, lanes.batches.submit(self._send_batch, chunk, sync_pass, lanes))
            for chunk in chunks(runs, self._batch_size)
        ]

    def _send_batch(self, runs: list[RunFold], sync_pass: SyncPass, lanes: Lanes) -> BatchResult | Outcome | None:
        if lanes.halt.is_set() or sync_pass.stop.is_set():
            return None
        result = self._api.create_batch_wire([fold.record() for fold in runs])
        if not isinstance(result, BatchResult) and _verdict_of_batch(result).kind == "keep":
            lanes.halt.set()
        return result

    def settle(self, sent: Sent, sync_pass: SyncPass, lanes: Lanes) -> bool:
        """Settle a window's batch answers in order, then send what they left one request
        each. False when the pass must stop (service unavailable, not authorized, stop)."""
        singles: list[str] = []
        try:
            for runs, answer in sent:
                result = answer.result()
                if result is None or not self._settle_batch(runs, result, sync_pass, singles):
                    lanes.halt.set()
                    return False
            return self._send_singles(singles, sync_pass, lanes)
        finally:
            sync_pass.flush()

    def _settle_batch(self, runs: list[RunFold], result: BatchResult | Outcome, sync_pass: SyncPass, singles: list[str]) -> bool:
        if not isinstance(result, BatchResult):
            decided = _verdict_of_batch(result)
            if decided.kind == "keep":
                return sync_pass.record([], decided)
            # A whole batch refused (too large, or a service without the batch endpoint):
            # each entry gets its own verdict.
            singles.extend(path for fold in runs for path in fold.paths)
            return True
        for fold, status in zip(runs, result.statuses):
            if status == "created":
                sync_pass.acknowledge(fold.paths, duplicate=False)
            elif status == "duplicate":  # stored already: its updates go on their own
                creates, updates = fold.split()
                sync_pass.acknowledge(creates, duplicate=True)
                singles.extend(updates)
            else:  # the folded record was refused: each entry gets its own verdict
                singles.extend(fold.paths)
        return True

    def _send_singles(self, paths: list[str], sync_pass: SyncPass, lanes: Lanes) -> bool:
        """Send entries one request each, several at a time (a single write costs the
        service a commit; concurrent ones share it), read again from their files. Outcomes
        are settled in order here, and the first outcome that stops the pass keeps the rest
        from being sent."""
        entries = [(path, entry) for path in paths if isinstance(entry := sync_pass.read(path), WireEntry)]
        sent = [lanes.singles.submit(self._send_single, entry, sync_pass, lanes) for _, entry in entries]
        go_on = not sync_pass.stop.is_set()
        for (path, _), decided in zip(entries, (future.result() for future in sent)):
            go_on = decided is not None and sync_pass.record([path], decided) and go_on
        return go_on

    def _send_single(self, entry: WireEntry, sync_pass: SyncPass, lanes: Lanes) -> Verdict | None:
        """None if not sent, for the pass stops; else the verdict on the entry: a create, or
        a PATCH that becomes a create of the full record on 404 (`shell.sending`)."""
        if lanes.halt.is_set() or sync_pass.stop.is_set():
            return None
        body, calls = entry.body, self._calls
        if entry.operation == "create":
            _, decided = run_blocking(deliver("create", lambda: calls.create_wire(body)))
        else:
            patch = {name: body[name] for name in entry.fields}
            _, decided = run_blocking(
                deliver("update", lambda: calls.patch_wire(entry.event_id, patch), lambda: calls.create_wire(body))
            )
        if decided.kind == "keep":
            lanes.halt.set()
        return decided
