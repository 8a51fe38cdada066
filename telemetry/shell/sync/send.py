"""How one window's entries go on the wire, and what each answer does to an entry: the
batch endpoint for the folded records of its runs (queued on a wire thread while the next
window is read), then single requests, several at once, for what the batch left (updates
of stored runs, refused folds), read again from their files; every outcome is settled in
order: acknowledged, rejected, or kept because the pass must stop."""

from __future__ import annotations

import threading
from concurrent.futures import Future

from telemetry.shell.sync.daemon_pool import DaemonPool
from telemetry.shell.service_api import BatchResult, Delivered, NotFound, Outcome, Refused, ServiceApi, Unavailable
from telemetry.shell.sync.passes import RunFold, SyncPass, chunks
from telemetry.wire.format import WireEntry

_UNAUTHORIZED = frozenset({401, 403})


def stops_pass(outcome: Outcome, run: SyncPass) -> bool:
    """True, with the reason noted, for an outcome that stops the pass (`_stops`)."""
    if not _stops(outcome):
        return False
    if isinstance(outcome, Unavailable):
        run.unavailable = True
        run.note("service unavailable", outcome.reason)
    elif isinstance(outcome, NotFound):
        run.note("no telemetry service at this URL", outcome.reason)
    elif isinstance(outcome, Refused):
        run.note("not authorized", outcome.reason)
    return True


def _stops(outcome: Outcome) -> bool:
    """Outcomes that say nothing about the entry itself stop the pass and keep it: the
    service is down, the token is wrong, or the URL is not a telemetry service."""
    return (
        isinstance(outcome, (Unavailable, NotFound))
        or isinstance(outcome, Refused) and outcome.status_code in _UNAUTHORIZED
    )


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
        self._batch_size = batch_size

    def send(self, runs: list[RunFold], run: SyncPass, lanes: Lanes) -> Sent:
        """Queue the window's runs on the wire thread, one create of each folded record,
        and return at once: the caller reads the next window meanwhile."""
        return [
            (chunk, lanes.batches.submit(self._send_batch, chunk, run, lanes))
            for chunk in chunks(runs, self._batch_size)
        ]

    def _send_batch(self, runs: list[RunFold], run: SyncPass, lanes: Lanes) -> BatchResult | Outcome | None:
        if lanes.halt.is_set() or run.stop.is_set():
            return None
        result = self._api.create_batch_wire([fold.record() for fold in runs])
        if not isinstance(result, BatchResult) and _stops(result):
            lanes.halt.set()
        return result

    def settle(self, sent: Sent, run: SyncPass, lanes: Lanes) -> bool:
        """Settle a window's batch answers in order, then send what they left one request
        each. False when the pass must stop (service unavailable, not authorized, stop)."""
        singles: list[str] = []
        try:
            for runs, answer in sent:
                result = answer.result()
                if result is None or not self._settle_batch(runs, result, run, singles):
                    lanes.halt.set()
                    return False
            return self._send_singles(singles, run, lanes)
        finally:
            run.flush()

    def _settle_batch(self, runs: list[RunFold], result: BatchResult | Outcome, run: SyncPass, singles: list[str]) -> bool:
        if not isinstance(result, BatchResult):
            if stops_pass(result, run):
                return False
            # A whole batch refused (too large, or a service without the batch endpoint):
            # each entry gets its own verdict.
            singles.extend(path for fold in runs for path in fold.paths)
            return True
        for fold, status in zip(runs, result.statuses):
            if status == "created":
                run.acknowledge(fold.paths, duplicate=False)
            elif status == "duplicate":  # stored already: its updates go on their own
                creates, updates = fold.split()
                run.acknowledge(creates, duplicate=True)
                singles.extend(updates)
            else:  # the folded record was refused: each entry gets its own verdict
                singles.extend(fold.paths)
        return True

    def _send_singles(self, paths: list[str], run: SyncPass, lanes: Lanes) -> bool:
        """Send entries one request each, several at a time (a single write costs the
        service a commit; concurrent ones share it), read again from their files. Outcomes
        are settled in order here, and the first outcome that stops the pass keeps the rest
        from being sent."""
        entries = [(path, entry) for path in paths if isinstance(entry := run.read(path), WireEntry)]
        sent = [lanes.singles.submit(self._send_single, entry, run, lanes) for _, entry in entries]
        go_on = not run.stop.is_set()
        for (path, entry), outcome in zip(entries, (future.result() for future in sent)):
            go_on = outcome is not None and self._settle(path, entry, outcome, run) and go_on
        return go_on

    def _send_single(self, entry: WireEntry, run: SyncPass, lanes: Lanes) -> Outcome | None:
        """None if not sent, for the pass stops; else the outcome of a create, or of a PATCH
        that becomes a create of the full record on 404."""
        if lanes.halt.is_set() or run.stop.is_set():
            return None
        outcome = self._send_entry(entry)
        if _stops(outcome):
            lanes.halt.set()
        return outcome

    def _send_entry(self, entry: WireEntry) -> Outcome:
        """A create, or a PATCH that becomes a create of the full record on 404. If that
        create finds the run there after all (another worker created it meanwhile, maybe
        from an older state), the PATCH is sent again so its fields are not lost."""
        if entry.operation == "create":
            return self._api.create_wire(entry.body)
        patch = {name: entry.body[name] for name in entry.fields}
        outcome = self._api.patch_wire(entry.event_id, patch)
        if isinstance(outcome, NotFound):
            outcome = self._api.create_wire(entry.body)
            if isinstance(outcome, Delivered) and outcome.status == "duplicate":
                outcome = self._api.patch_wire(entry.event_id, patch)
        return outcome

    def _settle(self, path: str, entry: WireEntry, outcome: Outcome, run: SyncPass) -> bool:
        if stops_pass(outcome, run):
            return False
        if isinstance(outcome, Delivered):
            run.acknowledge([path], duplicate=entry.operation == "create" and outcome.status == "duplicate")
        elif isinstance(outcome, Refused):
            run.reject(path, outcome.reason)
        return True
