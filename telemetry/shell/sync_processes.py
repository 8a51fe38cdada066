"""One sync pass run by several processes at once over one buffer directory (`telemetry
sync --workers N`): each process makes its own pass, and the claims keep them apart, as
for any workers sharing a directory. A pass is bound by one process's GIL (reading and
parsing files, folding, the HTTP client): two processes drained 100,000 entries at
11,700 entries/s where one did 8,600, into a local service on the 2-core VM.

The helpers are forked (no import and start-up cost: a pass may be small), so the caller
must not run other threads at that moment (`telemetry sync` refreshes its progress bar
from the pass's own calls); each helper builds its own `SyncWorker`, so no connection is
shared."""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable
from typing import Any

import attrs

from telemetry.shell.sync import Progress, SyncReport, SyncWorker

# A dead helper's report, if it sent one, is in the pipe already: its queue is flushed
# before the process ends.
_HELPER_GRACE_S = 1.0
_POLL_S = 0.1
_COUNTS = ("delivered", "duplicates", "quarantined", "rejected")


def _helper(make_worker: Callable[[], SyncWorker], slot: int, done: Any, reports: Any) -> None:
    """A helper process: one pass; its report goes on `reports`, its progress in `done[slot]`
    (a shared array)."""
    report = make_worker().run_once(lambda count, _total: done.__setitem__(slot, count))
    reports.put(report)


class ProcessPass:
    """A pass of `workers` processes: this one and `workers - 1` forked helpers."""

    def __init__(self, make_worker: Callable[[], SyncWorker], workers: int) -> None:
        self._make_worker = make_worker
        self._workers = workers

    def run(self, worker: SyncWorker, progress: Progress | None = None) -> SyncReport:
        """Start the helpers, make this process's own pass with `worker`, then wait for
        theirs; the combined report. A directory that cannot be written gets no helpers. A helper that died without a report is an error of
        the pass; what it held is free again for the next one."""
        # A directory that cannot be written is read in place, and only a worker's own
        # memory keeps it from sending an entry twice: one process, the same each pass.
        if self._workers <= 1 or not os.access(worker.buffer.path, os.W_OK):
            return worker.run_once(progress)
        context = multiprocessing.get_context("fork")
        done = context.Array("q", self._workers)
        reports = context.Queue()
        helpers = [
            context.Process(target=_helper, args=(self._make_worker, slot, done, reports), daemon=True)
            for slot in range(1, self._workers)
        ]
        for helper in helpers:
            helper.start()
        total = [0]

        def advanced(count: int, listed: int) -> None:
            done[0] = count
            total[0] = max(total[0], listed)
            if progress is not None:
                progress(sum(done[:]), total[0])

        own = worker.run_once(advanced)
        collected = [own, *self._collect(helpers, reports, lambda: advanced(done[0], total[0]))]
        return _merged(collected, len(helpers) + 1 - len(collected), worker.remaining())

    @staticmethod
    def _collect(helpers: list[Any], reports: Any, tick: Callable[[], None]) -> list[SyncReport]:
        """The helpers' reports, as each ends (a helper that died sends none)."""
        collected: list[SyncReport] = []
        while len(collected) < len(helpers):
            try:
                collected.append(reports.get(timeout=_POLL_S))
            except queue.Empty:
                if not any(helper.is_alive() for helper in helpers):
                    try:  # a report sent just before its process ended
                        collected.append(reports.get(timeout=_HELPER_GRACE_S))
                        continue
                    except queue.Empty:
                        break
            tick()
        tick()
        for helper in helpers:
            helper.join(_HELPER_GRACE_S)
        return collected


def _merged(reports: list[SyncReport], lost: int, remaining: int) -> SyncReport:
    """The reports of concurrent passes as one: counts added, errors listed once each."""
    counts = {name: sum(getattr(report, name) for report in reports) for name in _COUNTS}
    errors = tuple(dict.fromkeys(error for report in reports for error in report.errors))
    if lost:
        errors += (f"sync worker process died: {lost} of {len(reports) + lost} passes sent no report",)
    return attrs.evolve(
        reports[0],
        **counts,
        remaining=remaining,
        errors=errors,
        service_unavailable=any(report.service_unavailable for report in reports),
    )
