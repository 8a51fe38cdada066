"""`EffectLog`: the interpreter's observer that appends each performed effect, its outcome
and its time to a size-bounded NDJSON file, rotated by the standard library's
`RotatingFileHandler` (`path`, `path.1` ... `path.N`, oldest last).

The caller's thread only queues (a deque append); a daemon writer thread encodes and
writes what gathered every interval, so a kill -9 can lose the last interval's lines;
`close()` and interpreter exit write everything queued. A full queue makes the caller
write. A line that cannot be written (unwritable path, disk full) or encoded is dropped,
counted as `effect_log.lines_lost` and logged once: an effect log never stops the agent.
The rotation is safe for one process (and its threads); processes that share one log
file may rotate it under each other, so give each process its own file."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import time
from collections import deque
from pathlib import Path

from telemetry.effects.vocabulary import Effect
from telemetry.shell.effect_log.lines import encode_line
from telemetry.shell.observer import Performed
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.workers import LazyThread

_FLUSH_INTERVAL_S = 0.05
_CAPACITY = 10_000
Pending = tuple[Effect, Performed, float]


class _RotatingFile(logging.handlers.RotatingFileHandler):
    """The standard rotating handler, with its failures kept for the log to count rather than
    printed as a traceback on the agent's stderr (`handleError` is there to be overridden)."""

    error: BaseException | None = None

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        self.error = sys.exc_info()[1]


class EffectLog:
    """An `EffectObserver` and a lifecycle worker: `performed` queues, one lazily started
    thread writes."""

    def __init__(self, path: Path, max_bytes: int, backups: int, metrics: SelfMetrics) -> None:
        self.path = path
        self._max_bytes = max_bytes
        self._backups = backups
        self._metrics = metrics
        self._thread = LazyThread("telemetry-effect-log", self._run)
        self._reset()

    def _reset(self) -> None:
        self._pending: deque[Pending] = deque()
        self._file = _RotatingFile(
            self.path, maxBytes=self._max_bytes, backupCount=self._backups, encoding="utf-8", delay=True
        )
        self._wake = threading.Event()
        self._hurry = threading.Event()
        self._write_lock = threading.Lock()
        self._closed = False
        self._directory_made = False

    def performed(self, effect: Effect, outcome: Performed) -> None:
        """Queue one line (on every effect's path: no lock, no I/O); never raises."""
        try:
            self._pending.append((effect, outcome, time.time()))
            if self._closed or len(self._pending) >= _CAPACITY:
                self.flush()
            elif not self._wake.is_set():
                self._wake.set()  # once per writer cycle: the thread's pid check is a syscall
                self._thread.ensure_started()
        except Exception as error:  # no writer thread to be had: write now, try again next line
            self._wake.clear()
            self._metrics.swallowed("effect_log.thread_start", error, "could not start the effect-log writer; writing in the caller's thread")
            self.flush()

    def flush(self, deadline: float | None = None) -> bool:
        """Write every queued line now, in the caller's thread; False if the writer thread
        held the file past `deadline` (time.monotonic). Never raises."""
        timeout = -1.0 if deadline is None else min(max(0.0, deadline - time.monotonic()), threading.TIMEOUT_MAX)
        if not self._write_lock.acquire(timeout=timeout):
            return False
        try:
            self._write_pending()
        except Exception as error:
            self._metrics.swallowed(f"effect_log.writer.{type(error).__name__}", error, "the effect-log writer hit an error")
        finally:
            self._write_lock.release()
        return True

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait()
            self._wake.clear()
            self.flush()
            # Let lines gather for one interval: a busy agent costs one wake-up per interval.
            self._hurry.wait(_FLUSH_INTERVAL_S)

    def _write_pending(self) -> None:
        if not self._directory_made and self._pending:
            self._directory_made = True
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass  # the write that follows fails too, and is counted and logged with its reason
        written = lost = 0
        while self._pending:
            effect, outcome, at = self._pending.popleft()
            try:
                line = encode_line(effect, outcome, at)
            except Exception as error:
                lost += 1
                self._metrics.swallowed("effect_log.encode", error, "could not encode an effect for the effect log; dropped")
                continue
            self._file.emit(logging.makeLogRecord({"msg": line}))
            if self._file.error is None:
                written += 1
                continue
            lost += 1
            failure, self._file.error = self._file.error, None
            self._metrics.swallowed("effect_log.write", _described(failure), f"could not write the effect log {self.path}; lines are dropped")
        self._metrics.increment("effect_log.lines_written", written)
        if lost:
            self._metrics.increment("effect_log.lines_lost", lost)

    def ensure_started(self) -> None:
        """Started on the first line; nothing to do before that."""

    def drain(self, deadline: float) -> None:
        """Stop the thread and write what is queued; later lines are written by their caller."""
        self._closed = True
        self._wake.set()
        self._hurry.set()
        if self.flush(deadline):
            self._file.close()

    def after_fork(self) -> None:
        """The parent writes the lines it queued; the child starts with an empty queue and
        a handler of its own."""
        self._thread.after_fork()
        self._reset()


def _described(error: BaseException | None) -> str:
    return "unknown error" if error is None else f"{type(error).__name__}: {error}"

