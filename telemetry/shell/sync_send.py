"""How one window's entries go on the wire, and what each answer does to an entry: the
batch endpoint for the merged records of its runs, then single requests, several at once,
for what the batch left (updates of stored runs, refused merges); then every outcome is
settled in order: acknowledged, rejected, or kept because the pass must stop."""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

from telemetry.shell.service_api import BatchResult, Delivered, NotFound, Outcome, Refused, ServiceApi, Unavailable
from telemetry.shell.sync_pass import Claimed, SyncPass, chunks, merged_body
from telemetry.shell.wire import WireEntry

_UNAUTHORIZED = frozenset({401, 403})


def _stops(outcome: Outcome) -> bool:
    """Outcomes that say nothing about the entry itself stop the pass and keep it: the
    service is down, the token is wrong, or the URL is not a telemetry service."""
    return (
        isinstance(outcome, (Unavailable, NotFound))
        or isinstance(outcome, Refused) and outcome.status_code in _UNAUTHORIZED
    )


Sent = Future[BatchResult | Outcome]


class Lanes:
    """The threads one pass sends on: batches one after another on `batches` (so this side
    folds, encodes and deletes files while the service works on the batch before), single
    requests several at once on `singles`."""

    def __init__(self, concurrency: int) -> None:
        self.batches = ThreadPoolExecutor(1, thread_name_prefix="telemetry-sync-wire")
        self.singles = ThreadPoolExecutor(concurrency, thread_name_prefix="telemetry-sync-send")
        self.halt = threading.Event()  # a single request met an outage: send no more

    def __enter__(self) -> Lanes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.halt.set()
        self.batches.shutdown()
        self.singles.shutdown()


class Sender:
    """Delivers the claimed entries of a window, grouped by run, and settles each one."""

    def __init__(self, api: ServiceApi, batch_size: int) -> None:
        self._api = api
        self._batch_size = batch_size

    def deliver(self, groups: list[list[Claimed]], run: SyncPass, lanes: Lanes) -> bool:
        """False when the pass must stop (service unavailable, not authorized, stop). Each
        batch answer is settled while the next batch is on the wire."""
        singles: list[Claimed] = []
        in_flight: deque[tuple[list[list[Claimed]], Sent]] = deque()
        for chunk in chunks(groups, self._batch_size):
            bodies = [merged_body([item.entry for item in group]) for group in chunk]
            in_flight.append((chunk, lanes.batches.submit(self._api.create_batch_wire, bodies)))
            if len(in_flight) > 1 and not self._settle_batch(*in_flight.popleft(), run, singles):
                break
        else:
            while in_flight:
                if not self._settle_batch(*in_flight.popleft(), run, singles):
                    break
            else:
                return self._send_singles(singles, run, lanes)
        for _, sent in in_flight:  # sent after the stop: its entries stay claimed, given back
            sent.exception()
        return False

    def _settle_batch(
        self, groups: list[list[Claimed]], sent: Sent, run: SyncPass, singles: list[Claimed]
    ) -> bool:
        result = sent.result()
        if not isinstance(result, BatchResult):
            if self._stops_pass(result, run):
                return False
            # A whole batch refused (too large, or a service without the batch endpoint):
            # each entry gets its own verdict.
            singles.extend(item for group in groups for item in group)
            return True
        for group, status in zip(groups, result.statuses):
            if status == "created":
                run.acknowledge(group, duplicate=False)
            elif status == "duplicate":
                run.acknowledge([item for item in group if item.entry.operation == "create"], duplicate=True)
                singles.extend(item for item in group if item.entry.operation != "create")
            else:  # the merged record was refused: each entry gets its own verdict
                singles.extend(group)
        return True

    def _send_singles(self, items: list[Claimed], run: SyncPass, lanes: Lanes) -> bool:
        """Send entries one request each, several at a time (a single write costs the
        service a commit; concurrent ones share it). Outcomes are settled in order here,
        and the first outcome that stops the pass keeps the rest from being sent."""
        sent = [lanes.singles.submit(self._send_single, item.entry, run, lanes) for item in items]
        go_on = not run.stop.is_set()
        for item, outcome in zip(items, (future.result() for future in sent)):
            go_on = outcome is not None and self._settle(item, outcome, run) and go_on
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

    def _settle(self, item: Claimed, outcome: Outcome, run: SyncPass) -> bool:
        if self._stops_pass(outcome, run):
            return False
        entry = item.entry
        if isinstance(outcome, Delivered):
            run.acknowledge([item], duplicate=entry.operation == "create" and outcome.status == "duplicate")
        elif isinstance(outcome, Refused):
            run.reject(item, outcome.reason)
        return True

    @staticmethod
    def _stops_pass(outcome: Outcome, run: SyncPass) -> bool:
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
