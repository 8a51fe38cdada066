"""The outbox as one of the client's lifecycle workers, with its courier on a lazily
started daemon thread (`OutboxWorker`; restarted in a forked child, which writes segments
of its own); `flush` for callers who must know their runs arrived, and the exit: deliver
what can be delivered within the budget, then fsync and leave the rest on disk for the
next client or `telemetry sync`. `courier_process.CourierProcess` is the same worker with
its courier in a process of its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from telemetry.shell.outbox.courier import Courier
from telemetry.shell.outbox.writer import Outbox
from telemetry.shell.workers import LazyThread

_FLUSH_POLL_S = 0.002
# The delivery thread's wait for an append when there is nothing to ship, and, once woken,
# how long it waits for more: fewer, fuller batches.
_IDLE_WAIT_S = 0.5
_LINGER_S = 0.002


def wait_until_settled(outbox: Outbox, timeout_s: float, going_on: Callable[[], bool]) -> bool:
    """Wait until every entry appended before this call is settled (acknowledged, rejected
    or quarantined), or `timeout_s` passes, or `going_on` (called at every poll: it wakes
    the courier or reads what it did) says stop; True if it is settled."""
    marks = outbox.marks()
    deadline = time.monotonic() + timeout_s
    while not outbox.settled(marks):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not going_on():
            return False
        time.sleep(min(_FLUSH_POLL_S, remaining))
    return True


class ThreadPace:
    """The delivery thread's pace: woken by appends, stopped by an event."""

    def __init__(self, outbox: Outbox, stop: threading.Event) -> None:
        self._wake = outbox.wake
        self._stop = stop

    def stopped(self) -> bool:
        return self._stop.is_set()

    def before_pass(self) -> None:
        self._wake.clear()  # before reading: an append after this wakes the next wait

    def after_pass(self, courier: Courier) -> None:
        pass

    def idle(self) -> None:
        # Once woken, wait a moment for more: fewer, fuller batches, and fewer turns of
        # this thread taking the interpreter from the agent's threads.
        if self._wake.wait(_IDLE_WAIT_S):
            self._stop.wait(_LINGER_S)

    def pause(self, seconds: float) -> None:
        self._stop.wait(seconds)


class OutboxWorker:
    """Runs a `Courier` on a daemon thread (see the module)."""

    def __init__(self, courier: Courier) -> None:
        self.courier = courier
        self.outbox = courier.outbox
        self._stop = threading.Event()
        self._thread = LazyThread("telemetry-outbox", lambda: courier.run(ThreadPace(self.outbox, self._stop)))
        self._started = False

    @property
    def unavailable(self) -> bool:
        """Whether the service failed the courier's last batch."""
        return self.courier.unavailable is not None

    def ensure_started(self) -> None:
        self._thread.ensure_started()
        self._started = True

    def keep_delivering(self) -> None:
        """After an append: the thread, once started, runs for good."""

    def adopt(self) -> None:
        """Take over the segments of dead processes now (a `flush()` waits for them)."""
        self.courier.adopt()

    def flush(self, timeout_s: float, while_reachable: bool = False) -> bool:
        """`wait_until_settled`; `while_reachable`: stop waiting as soon as the service fails
        a batch (at exit)."""
        if not self.outbox.settled(self.outbox.marks()):
            self.ensure_started()

        def going_on() -> bool:
            self.outbox.wake.set()
            return not (while_reachable and self.unavailable)

        return wait_until_settled(self.outbox, timeout_s, going_on)

    def waiting(self) -> bool:
        """Whether entries of this process wait in the outbox, unsettled."""
        return not self.outbox.settled(self.outbox.marks())

    def drain(self, deadline: float) -> None:
        """Deliver until `deadline` at most, then stop; what is left stays on disk,
        fsynced, for the next client that starts on this buffer directory."""
        if self._started:
            self.flush(max(0.0, deadline - time.monotonic()), while_reachable=True)
            self._stop.set()
            self.outbox.wake.set()
            self._thread.join(deadline)
        self.courier.finish()

    def after_fork(self) -> None:
        self.outbox.after_fork()
        self._thread.after_fork()
        self._stop = threading.Event()
        self._started = False
