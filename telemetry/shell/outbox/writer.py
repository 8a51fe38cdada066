"""`Outbox`: this process's side of the outbox directory. `append` runs on the caller's
thread: it frames the entry and writes it with one `os.write` to the active segment (an
`O_APPEND` descriptor, so writes of several threads never interleave), with no lock and
no fsync; a killed process loses nothing (the page cache outlives it), a machine crash may
lose what the courier has not fsynced yet. The active segment is replaced when it reaches
`segment_bytes` (under a lock: rare); the segments this process holds, its own and those it
adopted, are listed in `segments`, oldest first, for the courier.

When a courier process delivers (`courier_process.py`), it is told of every segment this
process starts, seals or adopts (`listener`), and what it settled is read back from the
ledgers (`refresh`).

Size limit: once the segments held reach `limit_bytes`, `append` says no (counted as
`outbox.over_limit`) and the caller keeps the entry in the classic buffer, so an accepted
start or end is never dropped while the disk has room."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from telemetry.effects.records import BufferEntry
from telemetry.shell.outbox.entries import encode_entry
from telemetry.shell.outbox.frames import encode_frame
from telemetry.shell.outbox.segments import OUTBOX_DIR, Segment, create_segment
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.workers import weak_callback

DEFAULT_SEGMENT_BYTES = 16 << 20
DEFAULT_LIMIT_BYTES = 512 << 20

# What a courier process is told of a segment: one this process writes, one it no longer
# writes, one it adopted from a dead process.
SegmentNews = Literal["watch", "seal", "adopted"]


class Outbox:
    """The segments of this process and the writes of its callers (see the module)."""

    def __init__(
        self,
        buffer_dir: Path,
        metrics: SelfMetrics,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        limit_bytes: int = DEFAULT_LIMIT_BYTES,
    ) -> None:
        # Absolute: the agent may change its working directory, and its courier process runs in another.
        self.directory = Path(buffer_dir).absolute() / OUTBOX_DIR
        self.metrics = metrics
        self.segment_bytes = segment_bytes
        self.limit_bytes = limit_bytes
        self.listener: Callable[[SegmentNews, Segment], None] | None = None
        self._reset()
        # Reset in a forked child by this hook, so that `append` needs no pid check (a
        # system call) per entry.
        os.register_at_fork(after_in_child=weak_callback(self.after_fork))

    def after_fork(self) -> None:
        """In a forked child: the parent's segments stay the parent's (their descriptors
        are closed here); the child writes segments of its own."""
        self._reset()

    def _reset(self) -> None:
        self.segments: list[Segment] = []
        # Set after a write, cleared by the courier before it reads: it wakes the courier.
        self.wake = threading.Event()
        # Bytes in the segments held (own and adopted): a hint, updated without a lock.
        self.held_bytes = 0
        self._active: Segment | None = None
        self._active_fd = -1
        self._written = 0
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def append_entry(self, entry: BufferEntry) -> bool:
        """`append` of a run's create or update (`entries.encode_entry`)."""
        return self.append(encode_entry(entry))

    def append(self, payload: bytes) -> bool:
        """Write one entry; False if the outbox is full (the caller keeps the entry
        elsewhere). `OSError` if it cannot be written (the caller does the same)."""
        frame = encode_frame(payload)
        size = len(frame)
        if self.held_bytes + size > self.limit_bytes:
            self.metrics.increment("outbox.over_limit")
            return False
        fd = self._active_fd
        if fd < 0 or self._written >= self.segment_bytes:
            fd = self._rotate()
        written = os.write(fd, frame)
        self._written += written
        self.held_bytes += written
        if written != size:  # a disk that filled up mid-frame: the torn frame is skipped
            self._seal_active()
            raise OSError(f"outbox: short write ({written} of {size} bytes)")
        if not self.wake.is_set():
            self.wake.set()
        return True

    def _rotate(self) -> int:
        """The active segment's descriptor, after replacing a full (or missing) one."""
        with self._lock:
            if self._active is not None and self._written < self.segment_bytes:
                return self._active_fd  # another thread replaced it just now
            if self.listener is not None:
                self._release_removed()
            segment = create_segment(self.directory)
            if self._active is not None:
                self._seal(self._active)
            self.segments.append(segment)
            self._tell("watch", segment)
            self._active, self._active_fd, self._written = segment, segment.fd, 0
            return segment.fd

    def _seal(self, segment: Segment) -> None:
        segment.seal()
        self._tell("seal", segment)

    def _tell(self, news: SegmentNews, segment: Segment) -> None:
        if self.listener is not None:
            self.listener(news, segment)

    def _seal_active(self) -> None:
        with self._lock:
            if self._active is not None:
                self._seal(self._active)
            self._active, self._active_fd = None, -1

    def seal_all(self) -> None:
        """No more writes to this process's segments (at exit): whatever is cut short at
        their end is torn for good."""
        self._seal_active()

    def adopt(self, segment: Segment) -> None:
        with self._lock:
            self.segments.insert(0, segment)
            self.held_bytes += segment.size() - segment.acked
            self._tell("adopted", segment)

    def watch(self, segment: Segment) -> None:
        """In a courier process: deliver a segment its agent writes, after those held."""
        with self._lock:
            self.segments.append(segment)
            self.held_bytes += segment.size() - segment.acked

    def tell_all(self) -> None:
        """Tell the listener of every segment held (a courier process that just started)."""
        with self._lock:
            for segment in self.segments:
                self._tell("watch" if segment.own else "adopted", segment)
                if segment.own and segment.sealed_at is not None:
                    self._tell("seal", segment)

    def refresh(self) -> None:
        """With a courier process: take what it settled from the ledgers, and let go of
        the segments it deleted."""
        with self._lock:
            self._release_removed()
            for segment in self.segments:
                segment.acked = max(segment.acked, segment.ledger_offset())

    def _release_removed(self) -> None:
        """Close the segments a courier process deleted (under the lock)."""
        for segment in [segment for segment in self.segments if segment.sealed_at is not None and segment.removed()]:
            self.segments.remove(segment)
            self.held_bytes = max(0, self.held_bytes - segment.size())
            segment.close()

    def forget(self, segment: Segment, size: int) -> None:
        """A segment of `size` bytes, all of it settled, is removed."""
        with self._lock:
            if segment in self.segments:
                self.segments.remove(segment)
            self.held_bytes = max(0, self.held_bytes - size)
            if segment is self._active:
                self._active, self._active_fd = None, -1

    def marks(self) -> list[tuple[Segment, int]]:
        """Each segment held and its size now: what `settled` waits for."""
        if self._pid != os.getpid():
            return []
        # Under the lock: the courier closes a segment's descriptor once `forget` let go of
        # it, and a size read from a closed descriptor fails (EBADF) or reads another file.
        with self._lock:
            return [(segment, segment.size()) for segment in self.segments]

    def settled(self, marks: list[tuple[Segment, int]]) -> bool:
        """Whether everything written before `marks` were taken is settled."""
        held = self.segments
        return all(segment.acked >= size or segment not in held for segment, size in marks)
