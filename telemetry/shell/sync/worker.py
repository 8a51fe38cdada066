"""The sync worker: drains the buffer directory into the service, oldest first, and deletes
an entry only after the service acknowledged it. Several workers (threads or processes) may
share one directory: a pass claims the entries of each window before it reads them (one
claims file per pass, under a lock; `telemetry.shell.buffer.Claims`), and no two live
passes hold the same entry.

Rules of a pass, taken window by window (`window` files, oldest first by name):
- The entries of one run in a window are folded, as they are read, into one create of the
  run's record (its create, overlaid with the fields each update names) and sent through
  the batch endpoint: `created` acknowledges them all; `duplicate` acknowledges the creates
  and sends the updates by PATCH; an item error sends each entry on its own.
- An update is a PATCH; a 404 turns it into a create of the entry's full record
  (`telemetry.shell.sync.send`).
- A commit for a run known only by run id is sent after every window: the run is found by
  run id, then the commit associated; one whose run is on neither the service nor the
  buffer goes to `rejected/`, one whose run is still buffered waits (`sync_commits`).
- Refused (4xx) -> `rejected/`; unreadable -> `corrupt/`; both counted, never retried.
- Unavailable, or not authorized -> the pass stops and its claims end: what it did not
  settle is left for a later pass.
- A directory that cannot be written is read in place: each entry is sent once per worker.
Any order or repetition of deliveries converges, since creates never overwrite and a PATCH
never moves a terminal run back to `running` (the service's convergence rule)."""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable

import attrs

from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.buffer_claims import ClaimsBusy
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.workers import backoff_delay
from telemetry.shell.service_api import ServiceApi
from telemetry.shell.sync.commits import deliver_commits
from telemetry.shell.sync.passes import SyncPass
from telemetry.shell.sync.send import Lanes, Sender, Sent

Progress = Callable[[int, int], None]
"""Called as `progress(done, total)` while a pass runs."""


@attrs.frozen
class SyncReport:
    """What one pass did. `delivered` and `duplicates` are acknowledged entries (removed
    from the buffer); `duplicates` are creates the service already held. `remaining` is
    what the buffer still holds after the pass."""

    delivered: int = 0
    duplicates: int = 0
    quarantined: int = 0
    rejected: int = 0
    remaining: int = 0
    errors: tuple[str, ...] = ()
    service_unavailable: bool = False

    def then(self, later: SyncReport) -> SyncReport:
        """This report followed by a `later` pass's: counts add up, errors are kept once
        each; `remaining` and availability are the later pass's."""
        return attrs.evolve(
            later,
            delivered=self.delivered + later.delivered,
            duplicates=self.duplicates + later.duplicates,
            quarantined=self.quarantined + later.quarantined,
            rejected=self.rejected + later.rejected,
            errors=self.errors + tuple(error for error in later.errors if error not in self.errors),
        )


class SyncWorker:
    """Delivers a buffer directory to the service: one pass on demand (`run_once`), or
    passes on a daemon thread (`start` / `stop`) that backs off while the service is down."""

    def __init__(
        self,
        buffer: BufferDirectory,
        api: ServiceApi,
        *,
        window: int = 8000,
        batch_size: int = 500,
        claim_timeout_s: float = 300.0,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 60.0,
        concurrency: int = 8,
        metrics: SelfMetrics | None = None,
    ) -> None:
        self.buffer = buffer
        self.api = api
        self._sender = Sender(api, batch_size)
        self._concurrency = concurrency
        self._window = window
        self._claim_timeout_s = claim_timeout_s
        self._backoff = (backoff_base_s, backoff_cap_s)
        self._rng = random.Random()
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._owns_metrics = metrics is None
        self.metrics = metrics or SelfMetrics()
        self._settled: set[str] = set()

    @property
    def window(self) -> int:
        """Files a pass claims and reads at a time."""
        return self._window

    # -- one pass -------------------------------------------------------------------------

    def run_once(self, progress: Progress | None = None) -> SyncReport:
        """Deliver what the buffer holds now, oldest first; never raises for service or
        file trouble (it is counted and reported)."""
        return self._run_pass(progress, threading.Event())

    def _run_pass(self, progress: Progress | None, stop: threading.Event) -> SyncReport:
        sync_pass = SyncPass(self.buffer, self._note, stop, self._settled, self._claim_timeout_s)
        try:
            names = self.buffer.pending_names()
        except OSError as error:
            sync_pass.note("cannot list buffer", str(error))
            return self._report(sync_pass)
        if progress is not None:
            progress(0, len(names))
        try:
            self._deliver_windows(names, sync_pass, lambda: progress(sync_pass.done, len(names)) if progress else None)
        finally:
            sync_pass.release()
        if progress is not None:  # the deletions the last window waited for are counted now
            progress(sync_pass.done, len(names))
        return self._report(sync_pass)

    def _deliver_windows(self, names: list[str], sync_pass: SyncPass, advanced: Callable[[], None]) -> None:
        """Deliver window after window until done or the pass must stop. A window's batches
        go on the wire while the next window is claimed and read; its answers are settled
        after that, so the file work and the service's work overlap."""
        with Lanes(self._concurrency) as lanes:
            on_the_wire: Sent = []
            while sync_pass.cursor < len(names):
                if lanes.halt.is_set() or sync_pass.stop.is_set():
                    break  # the answers on the wire say why
                try:
                    runs = sync_pass.next_window(names, self._window)
                except ClaimsBusy as error:
                    sync_pass.note("buffer busy", str(error))
                    break
                sending = self._sender.send(runs, sync_pass, lanes)
                if not self._sender.settle(on_the_wire, sync_pass, lanes):
                    return
                advanced()
                on_the_wire = sending
            if not self._sender.settle(on_the_wire, sync_pass, lanes):
                return
            advanced()
        if sync_pass.commits and deliver_commits(self.api, sync_pass):
            advanced()

    def _report(self, sync_pass: SyncPass) -> SyncReport:
        tally = sync_pass.tally
        for name, count in tally.items():
            self.metrics.increment(f"sync.{name}", count)
        return SyncReport(
            delivered=tally["delivered"],
            duplicates=tally["duplicates"],
            quarantined=tally["quarantined"],
            rejected=tally["rejected"],
            remaining=self.remaining(),
            errors=tuple(sync_pass.errors.values()),
            service_unavailable=sync_pass.unavailable,
        )

    def remaining(self) -> int:
        """Pending entries no other live pass holds."""
        try:
            return len(self.buffer.unclaimed_names(self._claim_timeout_s))
        except OSError:
            return 0  # reported by the pass as "cannot list buffer"

    def _note(self, kind: str, detail: str) -> None:
        self.metrics.swallowed("sync." + kind.replace(" ", "_"), detail, f"background sync: {kind}")

    # -- background thread ---------------------------------------------------------------

    def start(self, interval_s: float) -> None:
        """Run passes every `interval_s` on a daemon thread (no-op if it runs already). After
        a fork the child starts its own thread: the parent's does not exist there."""
        if self._pid != os.getpid():
            self.after_fork()
        elif self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            stop = threading.Event()
            thread = threading.Thread(target=self._loop, args=(interval_s, stop), name="telemetry-sync", daemon=True)
            # Kept only once started: a thread the OS refused is not joined by `stop` and
            # does not count as running, so the next `start` tries again.
            thread.start()
            self._stop, self._thread = stop, thread

    def stop(self, timeout_s: float) -> bool:
        """Ask the thread to stop and wait up to `timeout_s`; True if it has stopped. An
        entry claimed when the process exits is free for the next pass of any worker (the
        claims die with the process)."""
        self._stop.set()
        thread = self._thread
        if thread is None or self._pid != os.getpid():
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    def after_fork(self) -> None:
        """In a forked child: forget the parent's thread and locks (the pid check in
        `start` does this too, for a fork without the at-fork hook)."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._thread = None
        self._stop = threading.Event()
        if self._owns_metrics:
            self.metrics.reset_after_fork()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()

    def _loop(self, interval_s: float, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                unavailable = self._run_pass(None, stop).service_unavailable
            except Exception as error:  # a bug must not kill the thread: count, log once
                self._note("sync pass failed", f"{type(error).__name__}: {error}")
                unavailable = True
            failures = failures + 1 if unavailable else 0
            delay = backoff_delay(failures, *self._backoff, self._rng) if failures else interval_s
            stop.wait(delay)


