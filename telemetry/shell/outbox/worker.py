"""The outbox as one of the client's lifecycle workers: its courier on a lazily started
daemon thread (restarted in a forked child, which writes segments of its own), `flush`
for callers who must know their runs arrived, and the exit: deliver what can be delivered
within the budget, then fsync and leave the rest on disk for the next client or
`telemetry sync`."""

from __future__ import annotations

import threading
import time

from telemetry.shell.outbox.courier import Courier
from telemetry.shell.workers import LazyThread

_FLUSH_POLL_S = 0.002


class OutboxWorker:
    """Runs a `Courier` on a daemon thread (see the module)."""

    def __init__(self, courier: Courier) -> None:
        self.courier = courier
        self._stop = threading.Event()
        self._thread = LazyThread("telemetry-outbox", lambda: courier.run(self._stop))
        self._started = False

    def ensure_started(self) -> None:
        self._thread.ensure_started()
        self._started = True

    def flush(self, timeout_s: float, while_reachable: bool = False) -> bool:
        """Wait until every entry appended before this call is settled (acknowledged,
        rejected or quarantined), or `timeout_s` passes; True if it is. `while_reachable`:
        stop waiting as soon as the service fails a batch (at exit)."""
        outbox = self.courier.outbox
        marks = outbox.marks()
        deadline = time.monotonic() + timeout_s
        if not outbox.settled(marks):
            self.ensure_started()
        while not outbox.settled(marks):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (while_reachable and self.courier.unavailable is not None):
                return False
            outbox.wake.set()
            time.sleep(min(_FLUSH_POLL_S, remaining))
        return True

    def waiting(self) -> bool:
        """Whether entries of this process wait in the outbox, unsettled."""
        outbox = self.courier.outbox
        return not outbox.settled(outbox.marks())

    def drain(self, deadline: float) -> None:
        """Deliver until `deadline` at most, then stop; what is left stays on disk,
        fsynced, for the next client that starts on this buffer directory."""
        if self._started:
            self.flush(max(0.0, deadline - time.monotonic()), while_reachable=True)
            self._stop.set()
            self.courier.outbox.wake.set()
            self._thread.join(deadline)
        self.courier.finish()

    def after_fork(self) -> None:
        self.courier.outbox.after_fork()
        self._thread.after_fork()
        self._stop = threading.Event()
        self._started = False
