"""The secondary export (the spec's "Google Sheets" post): ended runs go on a bounded queue
and one daemon thread posts each as JSON with a bearer token. Retries 408/429/5xx and
connection errors with exponential backoff and jitter, waiting at least what `Retry-After`
says; never retries another 4xx; a full queue drops the run with a count (it is still in
the NDJSON backup and the service). At exit, what is queued gets one try each until the
budget runs out; the rest is counted as dropped."""

from __future__ import annotations

import logging
import queue
import random
import threading
import time

import httpx

from telemetry.effects.records import RunRecord
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.service_api import Delivered, Outcome, Refused, Unavailable, classify
from telemetry.wire.format import dumps, record_to_wire
from telemetry.shell.workers import LazyThread, backoff_delay

MAX_RETRY_AFTER_S = 60.0
_MAX_BACKOFF_S = 30.0
# The spec's wording; at debug level, as the export is fire-and-forget.
_POST_FAILED = "Google Sheets API post failed"
_IDLE_POLL_S = 1.0


class ExportLane:
    """The bounded background lane of the secondary export."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        capacity: int,
        max_attempts: int,
        timeout_s: float,
        backoff_s: float,
        metrics: SelfMetrics,
    ) -> None:
        self._url = url
        self._headers = {"content-type": "application/json"}
        if token:
            self._headers["authorization"] = f"Bearer {token}"
        self._capacity = capacity
        self._max_attempts = max(1, max_attempts)
        self._timeout_s = timeout_s
        self._metrics = metrics
        self._backoff_s = backoff_s
        self._rng = random.Random()
        self._thread = LazyThread("telemetry-export", self._run)
        self._reset()

    def _reset(self) -> None:
        self._queue: queue.Queue[RunRecord] = queue.Queue(maxsize=max(1, self._capacity))
        self._stopping = threading.Event()
        self._deadline: float | None = None
        self._client: httpx.Client | None = None

    def submit(self, record: RunRecord) -> None:
        """Queue one ended run; drops it (counted) when the lane is full or closed."""
        if self._stopping.is_set():
            self._metrics.increment("export.dropped_closed")
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._metrics.increment("export.dropped_queue_full")
            self._metrics.swallowed("export.queue", "queue full; a run was left out of the export", "secondary export dropped a run")
            return
        self._start_thread()

    def _start_thread(self) -> bool:
        """Start the lane's thread unless it runs; False when no thread is to be had (counted,
        logged once): what is queued waits for the next export, or for `drain`, to try again."""
        try:
            self._thread.ensure_started()
        except Exception as error:
            self._metrics.swallowed("export.thread_start", error, "could not start the export thread; it is tried again")
            return False
        return True

    def ensure_started(self) -> None:
        """Started on the first export."""

    def _run(self) -> None:
        while True:
            try:
                record = self._queue.get(timeout=_IDLE_POLL_S) if self._deadline is None else self._queue.get_nowait()
            except queue.Empty:
                if self._deadline is not None:
                    return
                continue
            try:
                self._export(record)
            except Exception as error:
                self._metrics.increment("export.failed")
                self._metrics.swallowed(f"export.{type(error).__name__}", error, _POST_FAILED, logging.DEBUG)
            finally:
                self._queue.task_done()

    def _export(self, record: RunRecord) -> None:
        body = dumps(record_to_wire(record))
        outcome = self._post(body)
        for attempt in range(1, self._max_attempts):
            if not isinstance(outcome, Unavailable) or self._stopping.is_set():
                break
            self._metrics.increment("export.retries")
            self._stopping.wait(self._wait(attempt, outcome))
            outcome = self._post(body)
        match outcome:
            case Delivered():
                self._metrics.increment("export.delivered")
            case Refused(reason=reason):
                self._metrics.increment("export.refused")
                self._metrics.swallowed("export.refused", reason, _POST_FAILED, logging.DEBUG)
            case _:
                self._metrics.increment("export.failed")
                self._metrics.swallowed("export.unavailable", getattr(outcome, "reason", "gave up"), _POST_FAILED, logging.DEBUG)

    def _post(self, body: bytes) -> Outcome:
        timeout = self._timeout_s
        if self._deadline is not None:
            timeout = max(0.05, min(timeout, self._deadline - time.monotonic()))
        try:
            if self._client is None:
                self._client = httpx.Client(headers=self._headers)
            return classify(self._client.post(self._url, content=body, timeout=timeout))
        except httpx.HTTPError as error:
            return Unavailable(f"{type(error).__name__}: {error}")

    def _wait(self, attempt: int, outcome: Unavailable) -> float:
        """Backoff with jitter, but never shorter than the receiver's `Retry-After`."""
        # One step up the shared schedule: the n-th retry waits at least backoff * 2**(n-1).
        backoff = backoff_delay(attempt + 1, self._backoff_s, _MAX_BACKOFF_S, self._rng)
        if outcome.retry_after is not None:
            return max(backoff, min(outcome.retry_after, MAX_RETRY_AFTER_S))
        return backoff

    def drain(self, deadline: float) -> None:
        """One try for each queued run until `deadline`; what is left is counted as dropped."""
        self._deadline = deadline
        self._stopping.set()
        # An idle lane has nothing to finish: do not wait for its thread's next poll.
        if self._queue.unfinished_tasks == 0 or (self._start_thread() and self._thread.join(deadline)):
            return
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        # Taken without task_done: unfinished now counts what was queued plus the one in flight.
        self._metrics.increment("export.dropped_at_exit", self._queue.unfinished_tasks)
        self._metrics.swallowed("export.exit", "exit budget ran out; remaining exports dropped", "secondary export stopped at exit")

    def after_fork(self) -> None:
        self._thread.after_fork()
        self._reset()
