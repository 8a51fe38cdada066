"""The lease heartbeat: a daemon thread that, every `interval_s`, renews the lease of each
active run (`PATCH heartbeat_at`), so the service's sweep can end the runs of a process
that died. A missed beat is not buffered: the next one replaces it."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.workers import LazyThread


class HeartbeatWorker:
    """Calls `beat` every `interval_s` while its owner lives; `interval_s <= 0` turns it off."""

    def __init__(self, interval_s: float, beat: Callable[[], None], metrics: SelfMetrics) -> None:
        self._interval_s = interval_s
        # A weak reference, so the thread never keeps a dropped client alive.
        self._beat = weakref.WeakMethod(beat)
        self._metrics = metrics
        self._stop = threading.Event()
        self._thread = LazyThread("telemetry-heartbeat", self._run)

    def ensure_started(self) -> None:
        if self._interval_s > 0 and not self._stop.is_set():
            self._thread.ensure_started()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            beat = self._beat()
            if beat is None:
                return
            try:
                beat()
                self._metrics.increment("heartbeat.beats")
            except Exception as error:
                self._metrics.swallowed(f"heartbeat.{type(error).__name__}", error, "the lease heartbeat failed; it is tried again")

    def drain(self, deadline: float) -> None:
        """Nothing to save (a lease is renewed, not kept); just stop."""
        self._stop.set()

    def after_fork(self) -> None:
        self._thread.after_fork()
        self._stop = threading.Event()
