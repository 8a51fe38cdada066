"""The client's background sync: a `SyncWorker`'s thread as one of the client's lifecycle
workers, started lazily, stopped within the exit budget, rebuilt in a forked child."""

from __future__ import annotations

import time
from collections.abc import Callable

from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.sync.worker import SyncWorker
from telemetry.shell.workers import PerProcess

# How long the client's close or exit waits for its sync thread to finish a request.
_STOP_WAIT_S = 0.1


class BackgroundSync:
    """The sync thread as one of the client's lifecycle workers: started lazily with the
    others, stopped within the exit budget, rebuilt in a forked child (with the child's
    own `ServiceApi` from `make_worker`). `interval_s <= 0` turns it off. Entries a pass
    holds when the process ends stay in the buffer; its claims die with the process (the
    kernel drops its lock), so the next pass of any worker takes them."""

    def __init__(self, make_worker: Callable[[], SyncWorker], interval_s: float, metrics: SelfMetrics) -> None:
        self._interval_s = interval_s
        self._metrics = metrics
        self._worker = PerProcess(make_worker)
        self._off = False

    def ensure_started(self) -> None:
        """Cheap when running. A worker that cannot be built turns sync off for this
        process (counted and logged once); a thread that cannot start is raised to the
        lifecycle, which counts it and tries again on the next run, as for every worker."""
        if self._interval_s <= 0 or self._off:
            return
        try:
            worker = self._worker.get()
        except Exception as error:
            self._off = True
            self._metrics.swallowed("sync.start", error, "the background sync could not start; the buffer waits for `telemetry sync`")
            return
        worker.start(self._interval_s)

    def drain(self, deadline: float) -> None:
        """Stop between two requests; what is still buffered stays on disk for later. The
        wait is short: a request in flight to a hung service would spend the agent's exit
        on a delivery that a later pass makes anyway."""
        self._off = True
        worker = self._worker.current()
        if worker is not None:
            worker.stop(min(_STOP_WAIT_S, max(0.0, deadline - time.monotonic())))

    def after_fork(self) -> None:
        self._worker.forget()
        self._off = False
