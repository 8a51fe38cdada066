"""How one window's entries go on the wire, and what each answer does to an entry: the
batch endpoint for the merged records of its runs, then single requests, several at once,
for what the batch left (updates of stored runs, refused merges); then every outcome is
settled in order: acknowledged, rejected, or kept because the pass must stop."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from telemetry.effects.records import BufferEntry
from telemetry.shell.service_api import Delivered, NotFound, Outcome, Refused, ServiceApi, Unavailable
from telemetry.shell.sync_pass import Claimed, SyncPass, chunks, merged_record

_UNAUTHORIZED = frozenset({401, 403})


def _stops(outcome: Outcome) -> bool:
    """Outcomes that say nothing about the entry itself stop the pass and keep it: the
    service is down, the token is wrong, or the URL is not a telemetry service."""
    return (
        isinstance(outcome, (Unavailable, NotFound))
        or isinstance(outcome, Refused) and outcome.status_code in _UNAUTHORIZED
    )


class Sender:
    """Delivers the claimed entries of a window, grouped by run, and settles each one."""

    def __init__(self, api: ServiceApi, batch_size: int, concurrency: int) -> None:
        self._api = api
        self._batch_size = batch_size
        self._concurrency = concurrency

    def deliver(self, groups: list[list[Claimed]], run: SyncPass) -> bool:
        """False when the pass must stop (service unavailable, not authorized, stop)."""
        singles: list[Claimed] = []
        for chunk in chunks(groups, self._batch_size):
            if not self._send_batch(chunk, run, singles):
                return False
        return self._send_singles(singles, run)

    def _send_batch(self, groups: list[list[Claimed]], run: SyncPass, singles: list[Claimed]) -> bool:
        records = [merged_record([item.entry for item in group]) for group in groups]
        result = self._api.create_batch(records)
        if isinstance(result, (Unavailable, NotFound, Refused, Delivered)):
            if self._stops_pass(result, run):
                return False
            # A whole batch refused (too large, or a service without the batch endpoint):
            # each entry gets its own verdict.
            singles.extend(item for group in groups for item in group)
            return True
        for group, status in zip(groups, result.statuses):
            if status == "created":
                for item in group:
                    run.acknowledge(item, duplicate=False)
            elif status == "duplicate":
                for item in group:
                    if item.entry.operation == "create":
                        run.acknowledge(item, duplicate=True)
                    else:
                        singles.append(item)
            else:  # the merged record was refused: each entry gets its own verdict
                singles.extend(group)
        return True

    def _send_singles(self, items: list[Claimed], run: SyncPass) -> bool:
        """Send entries one request each, several at a time (a single write costs the
        service an fsync; concurrent ones share it). Outcomes are settled in order here,
        and the first outcome that stops the pass keeps the rest from being sent."""
        if not items:
            return not run.stop.is_set()
        halt = threading.Event()

        def send(item: Claimed) -> Outcome | None:
            if halt.is_set() or run.stop.is_set():
                return None
            outcome = self._send_single(item.entry)
            if _stops(outcome):
                halt.set()
            return outcome

        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="telemetry-sync-send") as pool:
            outcomes = list(pool.map(send, items))
        go_on = not run.stop.is_set()
        for item, outcome in zip(items, outcomes):
            go_on = outcome is not None and self._settle(item, outcome, run) and go_on
        return go_on

    def _send_single(self, entry: BufferEntry) -> Outcome:
        """A create, or a PATCH that becomes a create of the full record on 404. If that
        create finds the run there after all (another worker created it meanwhile, maybe
        from an older state), the PATCH is sent again so its fields are not lost."""
        if entry.operation == "create":
            return self._api.create(entry.record)
        outcome = self._api.patch(entry.record, entry.fields)
        if isinstance(outcome, NotFound):
            outcome = self._api.create(entry.record)
            if isinstance(outcome, Delivered) and outcome.status == "duplicate":
                outcome = self._api.patch(entry.record, entry.fields)
        return outcome

    def _settle(self, item: Claimed, outcome: Outcome, run: SyncPass) -> bool:
        if self._stops_pass(outcome, run):
            return False
        entry = item.entry
        if isinstance(outcome, Delivered):
            run.acknowledge(item, duplicate=entry.operation == "create" and outcome.status == "duplicate")
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
