"""The NDJSON backup: `{ndjson_dir}/events_{YYYYMMDD}.ndjson` (UTC day), one JSON object per
line, appended through an `O_APPEND` descriptor with one `os.write` per batch of whole
lines, so several processes can append to the same file without interleaving lines.

`log_event` only queues its line (a deque append); a daemon writer thread serialises and
writes what gathered every `flush_interval_s`. So a kill -9 can lose the lines of the last
interval; `flush()`, `close()` and interpreter exit write everything queued. A full queue
makes the caller write synchronously. A failed write (disk full, permissions) keeps its
lines and retries them with a backoff; only a failure outlasting `capacity` held lines (the
oldest go) or the close drops lines, counted as `ndjson.lines_lost` and logged."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from pathlib import Path

import attrs

from telemetry.effects.records import RunEvent, RunRecord
from telemetry.effects.vocabulary import NdjsonKind
from telemetry.shell.edge import safe_repr
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.wire.format import ndjson_line
from telemetry.shell.workers import LazyThread

Line = tuple[NdjsonKind, RunRecord | RunEvent]
# Lines are encoded and written in chunks of at most this: the writer holds the interpreter
# lock while it encodes a chunk, and the agent's threads wait for it meanwhile.
_MAX_WRITE = 32 << 10
# Held lines are retried after the flush interval (at least this), doubling up to a second.
_MIN_RETRY_S = 0.01
_MAX_RETRY_S = 1.0


def ndjson_path(directory: Path, at: time.struct_time) -> Path:
    """The backup file of the UTC day `at`."""
    return directory / f"events_{time.strftime('%Y%m%d', at)}.ndjson"


def encode_line(kind: NdjsonKind, body: RunRecord | RunEvent, metrics: SelfMetrics) -> bytes:
    """The line for `body`; a payload JSON cannot hold (a cycle, a huge int, bad text) is
    written as its repr instead, so the event itself is never lost."""
    try:
        return ndjson_line(kind, body)
    except Exception as error:
        metrics.swallowed("ndjson.encode", error, "could not encode an event as JSON; its payload is written as text")
    if isinstance(body, RunEvent):
        return ndjson_line(kind, attrs.evolve(body, payload=safe_repr(body.payload)))
    return ndjson_line(kind, body)


class _DailyFile:
    """The descriptor of today's file, reopened when the day changes or after an error."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._fd = -1
        self._path: Path | None = None
        self._torn = False

    def write(self, data: bytes) -> int:
        """Append `data`; the number of bytes written (short only when the disk is full)."""
        path = ndjson_path(self._directory, time.gmtime())
        if path != self._path:
            self.close()
            self._directory.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._path = path
        # After a short write the file ends inside a line: start on a new one, so only
        # that fragment is unreadable, never the lines that follow it.
        prefix = b"\n" if self._torn else b""
        try:
            written = os.write(self._fd, prefix + data) - len(prefix)
        except OSError:
            self.close()
            raise
        self._torn = written < len(data)
        return max(0, written)

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd, self._path = self._fd, -1, None
            os.close(fd)


class NdjsonWriter:
    """The backup writer: a bounded queue drained by one lazily started thread. Lines whose
    write fails are held, in order and before newer lines, and retried with a backoff."""

    def __init__(self, directory: Path, flush_interval_s: float, capacity: int, metrics: SelfMetrics) -> None:
        self._interval = flush_interval_s
        self._capacity = capacity
        self._metrics = metrics
        self._first_retry_s = max(flush_interval_s, _MIN_RETRY_S)
        self._max_retry_s = max(self._first_retry_s, _MAX_RETRY_S)
        self._file = _DailyFile(directory)
        self._thread = LazyThread("telemetry-ndjson", self._run)
        self._reset()

    def _reset(self) -> None:
        self._pending: deque[Line] = deque()
        # Encoded lines whose write failed, oldest first; at most `capacity` (at least one).
        self._held: deque[bytes] = deque()
        self._retry_s = 0.0
        self._retry_at = 0.0
        self._wake = threading.Event()
        self._hurry = threading.Event()
        self._write_lock = threading.Lock()
        self._closed = False

    def submit(self, kind: NdjsonKind, body: RunRecord | RunEvent) -> None:
        """Queue one line (the `log_event` hot path: no lock, no I/O)."""
        if self._closed or len(self._pending) >= self._capacity:
            self._metrics.increment("ndjson.synchronous_writes")
            self._pending.append((kind, body))
            self.flush()
            return
        self._pending.append((kind, body))
        if not self._wake.is_set():
            # Once per writer cycle, not per line: the pid check costs a syscall.
            self._wake.set()
            try:
                self._thread.ensure_started()
            except Exception as error:
                # No writer thread to be had: write now, and try to start one next line.
                self._wake.clear()
                self._metrics.swallowed("ndjson.thread_start", error, "could not start the NDJSON writer thread; writing in the caller's thread")
                self.flush()

    def flush(self, deadline: float | None = None) -> bool:
        """Write every queued and held line now, in the caller's thread; False if another
        writer held the file past `deadline`. Lines that still fail stay held for the
        writer thread; once the writer is closed they are counted lost."""
        return self._write(deadline, retry_now=True)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._until_retry())
            self._wake.clear()
            try:
                self._write(None, retry_now=False)
            except Exception as error:  # the thread must outlive any one bad batch
                self._metrics.swallowed(f"ndjson.writer.{type(error).__name__}", error, "the NDJSON writer hit an error and goes on")
            # Let lines gather for one interval, so a busy agent costs one write per interval.
            self._hurry.wait(self._interval)

    def _until_retry(self) -> float | None:
        """How long the thread may sleep: until the next retry while lines are held."""
        return max(0.0, self._retry_at - time.monotonic()) if self._held else None

    def _write(self, deadline: float | None, retry_now: bool) -> bool:
        timeout = -1.0 if deadline is None else min(max(0.0, deadline - time.monotonic()), threading.TIMEOUT_MAX)
        if not self._write_lock.acquire(timeout=timeout):
            return False
        try:
            if self._held and not (retry_now or self._closed or time.monotonic() >= self._retry_at):
                self._hold_pending()  # the last write failed: wait for the retry time
            else:
                self._write_all()
            if self._closed and self._held:
                self._give_up()
        finally:
            self._write_lock.release()
        return True

    def _write_all(self) -> None:
        """Held lines first, then the queue, until done or a write fails."""
        while self._held or self._pending:
            if not self._write_chunk(self._next_chunk()):
                self._hold_pending()
                return
        self._retry_s = 0.0

    def _next_chunk(self) -> list[bytes]:
        chunk: list[bytes] = []
        size = 0
        while self._held and size < _MAX_WRITE:
            chunk.append(self._held.popleft())
            size += len(chunk[-1])
        while self._pending and size < _MAX_WRITE:
            chunk.append(encode_line(*self._pending.popleft(), self._metrics))
            size += len(chunk[-1])
        return chunk

    def _write_chunk(self, lines: list[bytes]) -> bool:
        """Write `lines`; on failure hold what was not written whole and return False."""
        data = b"".join(lines)
        try:
            written = self._file.write(data)
        except OSError as error:
            self._failed(lines, error)
            return False
        whole = data.count(b"\n", 0, written)
        self._metrics.increment("ndjson.lines_written", whole)
        if whole < len(lines):
            # The cut line is written again whole: its fragment stays on a line of its own.
            self._failed(lines[whole:], "short write (disk full?)")
            return False
        return True

    def _failed(self, lines: list[bytes], error: OSError | str) -> None:
        self._held.extendleft(reversed(lines))
        self._metrics.swallowed("ndjson.write", error, "NDJSON write failed")
        self._retry_s = min(self._max_retry_s, max(self._first_retry_s, 2 * self._retry_s))
        self._retry_at = time.monotonic() + self._retry_s

    def _hold_pending(self) -> None:
        """Move the queue behind the held lines, dropping the oldest beyond capacity."""
        while self._pending:
            self._held.append(encode_line(*self._pending.popleft(), self._metrics))
        excess = len(self._held) - max(1, self._capacity)
        if excess > 0:
            for _ in range(excess):
                self._held.popleft()
            self._metrics.increment("ndjson.lines_lost", excess)
            self._metrics.swallowed(
                "ndjson.overflow",
                f"writes failed past the queue's {self._capacity} lines; the oldest are dropped",
                "NDJSON lines lost",
            )

    def _give_up(self) -> None:
        lost = len(self._held)
        self._held.clear()
        self._metrics.increment("ndjson.lines_lost", lost)
        self._metrics.swallowed("ndjson.closed", f"{lost} lines still unwritable at close", "NDJSON lines lost")

    def ensure_started(self) -> None:
        """Started on the first line; nothing to do before that."""

    def drain(self, deadline: float) -> None:
        """Stop the thread and write what is queued; later lines are written synchronously."""
        self._closed = True
        self._wake.set()
        self._hurry.set()
        self.flush(deadline)

    def after_fork(self) -> None:
        """The parent writes the lines it queued; the child starts with an empty queue."""
        self._thread.after_fork()
        self._file.close()
        self._reset()
