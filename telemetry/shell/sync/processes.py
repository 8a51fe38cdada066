"""One sync pass run by several processes at once over one buffer directory (`telemetry
sync --workers N`): each process makes its own pass, and the claims keep them apart, as
for any workers sharing a directory. A pass is bound by one process's GIL (reading and
parsing files, folding, the HTTP client): two processes drained 100,000 entries at
11,700 entries/s where one did 8,600, into a local service on the 2-core VM.

The helpers are forked (no import and start-up cost), so the caller must not run other
threads at that moment (`telemetry sync` refreshes its progress bar from the pass's own
calls); each helper builds its own `SyncWorker`, so no connection is shared. Each sends
its report on a pipe of its own; one that dies sends none, and one still running long
after this process's own pass ended is stopped. Either way its claims die with it, so
what it held is free for the next pass."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

import attrs

from telemetry.shell.sync.worker import Progress, SyncReport, SyncWorker

_POLL_S = 0.1
_STOP_GRACE_S = 2.0
# How long helpers may run on after this process's own pass: at least this, and at least
# as long as that pass took (they had the same kind of work).
_MIN_OVERRUN_S = 60.0
_COUNTS = ("delivered", "duplicates", "quarantined", "rejected")
# A pass that could not claim reads the directory in place; only a process's own memory
# then keeps an entry from being sent twice, so later passes run in this process alone.
_READ_IN_PLACE = "buffer not writable"


def _helper(make_worker: Callable[[], SyncWorker], slot: int, done: Any, report_to: Connection) -> None:
    """A helper process: one pass; its report goes to `report_to`, its progress to
    `done[slot]` (a shared array without a lock, which a killed helper cannot leave held).
    Ctrl-C is the parent's to handle: it stops the helpers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        report = make_worker().run_once(lambda count, _total: done.__setitem__(slot, count))
    except Exception as error:
        report = SyncReport(errors=(f"sync worker process failed: {type(error).__name__}: {error}",))
    report_to.send(report)
    report_to.close()


class ProcessPass:
    """A pass of up to `workers` processes: this one and forked helpers. Helpers start only
    when the buffer holds more than one window, and never for a directory that is read in
    place."""

    def __init__(self, make_worker: Callable[[], SyncWorker], workers: int) -> None:
        self._make_worker = make_worker
        self._workers = workers
        self._alone = False

    def run(self, worker: SyncWorker, progress: Progress | None = None) -> SyncReport:
        """This process's own pass with `worker`, beside the helpers' passes; the combined
        report (`incomplete` if a helper sent none)."""
        helpers = self._helpers_for(worker)
        if not helpers:
            report = worker.run_once(progress)
            self._alone = self._alone or _read_in_place(report)
            return report
        context = multiprocessing.get_context("fork")
        done = context.RawArray("q", helpers + 1)
        processes: list[Any] = []
        pipes: list[Connection] = []
        total = [0]

        def advanced(count: int, listed: int) -> None:
            done[0] = count
            total[0] = max(total[0], listed)
            if progress is not None:
                progress(min(sum(done), total[0]), total[0])

        try:
            for slot in range(1, helpers + 1):
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_helper, args=(self._make_worker, slot, done, send), daemon=True)
                process.start()
                send.close()
                processes.append(process)
                pipes.append(receive)
            started = time.monotonic()
            reports = [worker.run_once(advanced)]
            overrun = max(_MIN_OVERRUN_S, time.monotonic() - started)
            reports += _collect(pipes, time.monotonic() + overrun, lambda: advanced(done[0], total[0]))
        finally:
            _stop(processes, pipes)
        self._alone = self._alone or any(_read_in_place(report) for report in reports)
        return _merged(reports, helpers + 1 - len(reports), worker.remaining())

    def _helpers_for(self, worker: SyncWorker) -> int:
        if self._workers <= 1 or self._alone or not os.access(worker.buffer.path, os.W_OK):
            return 0
        try:
            pending = len(worker.buffer.pending_names())
        except OSError:
            return 0  # this process's pass reports it
        return min(self._workers - 1, pending // max(1, worker.window))


def _read_in_place(report: SyncReport) -> bool:
    return any(error.startswith(_READ_IN_PLACE) for error in report.errors)


def _collect(pipes: list[Connection], deadline: float, tick: Callable[[], None]) -> list[SyncReport]:
    """The reports that arrive before `deadline`; a helper that ended without one gives none."""
    reports: list[SyncReport] = []
    waiting = list(pipes)
    while waiting and time.monotonic() < deadline:
        for ready in wait(waiting, timeout=_POLL_S):
            assert isinstance(ready, Connection)
            waiting.remove(ready)
            try:
                reports.append(ready.recv())
            except EOFError:
                pass  # died without a report
        tick()
    return reports


def _stop(processes: list[Any], pipes: list[Connection]) -> None:
    """Stop what still runs (a hung helper, or this process interrupted), reap, close."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(_STOP_GRACE_S)
        if process.is_alive():
            process.kill()
            process.join()
    for pipe in pipes:
        pipe.close()


def _merged(reports: list[SyncReport], lost: int, remaining: int) -> SyncReport:
    """The reports of concurrent passes as one: counts added, errors listed once each."""
    counts = {name: sum(getattr(report, name) for report in reports) for name in _COUNTS}
    errors = tuple(dict.fromkeys(error for report in reports for error in report.errors))
    if lost:
        errors += (f"sync worker process died or hung: {lost} of {len(reports) + lost} passes sent no report",)
    return attrs.evolve(
        reports[0],
        **counts,
        remaining=remaining,
        errors=errors,
        service_unavailable=any(report.service_unavailable for report in reports),
        incomplete=bool(lost) or any(report.incomplete for report in reports),
    )
