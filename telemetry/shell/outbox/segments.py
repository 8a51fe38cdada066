"""The files of the outbox, `{buffer_dir}/outbox/`: segments and their ack ledgers.

- A segment, `<time_ns>-<pid>-<random>.seg`, holds frames (`frames.py`): its header, then
  entries (`entries.py`). Its process keeps
  it under an exclusive flock from before it has its name (it is created as a dot file,
  locked, then renamed) until it deletes it; the kernel drops the lock when the process
  dies, so a segment whose lock can be taken belongs to nobody and is adopted.
- Its ledger, `<segment>.ack`, holds 8 bytes: the offset up to which every frame is
  settled (acknowledged by the service, rejected or quarantined). Delivery is in order,
  so one high-water mark per segment says it all; it is written after every batch and
  fsynced on the outbox's interval.
- Frames that do not check out are appended to `quarantine/<segment>.bad` as they were.
- A courier process (`courier_process.py`) delivers the segments its agent holds without
  their lock (`watch_segment`): it writes their ledgers, and the agent reads them back
  (`ledger_offset`) to know what is settled."""

from __future__ import annotations

import fcntl
import os
import struct
import time
import uuid
from pathlib import Path

import orjson

from telemetry.shell.buffer_claims import close_in_forked_child, forget_descriptor
from telemetry.shell.outbox.entries import COLUMNS, EntryFormatError, header, parse_header
from telemetry.shell.outbox.frames import Frame, encode_frame, frames

OUTBOX_DIR = "outbox"
QUARANTINE_DIR = "quarantine"
SEGMENT_SUFFIX = ".seg"
LEDGER_SUFFIX = ".ack"
_OFFSET = struct.Struct("<Q")
# A sealed segment may still receive a write that began before it was sealed: a cut-short
# frame at its end is taken as torn only this long after sealing.
SEAL_GRACE_S = 1.0
# An unnamed segment this old was left by a process that died while creating it.
_ORPHAN_AGE_S = 60.0
_HEADER_READ = 1 << 16  # a header names ~45 columns: well under this


class Segment:
    """A segment this process holds: its own (written here) or adopted from a dead one.
    `acked` is the ledger's offset (never before the header's end); `columns` the JSON of
    the header's columns; `sealed_at` the monotonic time it stopped taking writes (None
    while it is a process's active segment)."""

    __slots__ = ("path", "fd", "own", "acked", "columns", "sealed_at", "quarantined_to", "_ledger", "_synced", "_ack_dirty")

    def __init__(self, path: str, fd: int, own: bool, ledger: int, acked: int, columns: tuple[str, ...]) -> None:
        self.path = path
        self.fd = fd
        self.own = own
        self.acked = acked
        self.columns = columns
        self.sealed_at: float | None = None if own else 0.0
        self.quarantined_to = acked
        self._ledger = ledger
        self._synced = 0
        self._ack_dirty = False

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def ledger_offset(self) -> int:
        """The offset its ledger says is settled (this process's courier, or its courier
        process, wrote it)."""
        content = os.pread(self._ledger, _OFFSET.size, 0)
        return _OFFSET.unpack(content)[0] if len(content) == _OFFSET.size else 0

    def removed(self) -> bool:
        """Whether its file was deleted (by a courier process, once all of it was settled)."""
        return os.fstat(self.fd).st_nlink == 0

    def final(self, now: float) -> bool:
        """Whether nothing more will be written to it (adopted, or sealed a while ago)."""
        return self.sealed_at is not None and now - self.sealed_at >= SEAL_GRACE_S

    def seal(self) -> None:
        if self.sealed_at is None:
            self.sealed_at = time.monotonic()

    def read(self, start: int, count: int) -> bytes:
        return os.pread(self.fd, count, start)

    def acknowledge(self, offset: int) -> None:
        """Everything before `offset` is settled: say so in the ledger (written now, which
        survives a killed process; fsynced by `sync`). `OSError` if the ledger cannot be
        written: this process still knows (what a later taker sends again is harmless)."""
        self.acked = offset
        self._ack_dirty = True
        os.pwrite(self._ledger, _OFFSET.pack(offset), 0)

    def sync(self) -> None:
        """fsync what was written since the last call (the frames and the ledger)."""
        size = self.size()
        if size > self._synced:
            os.fsync(self.fd)
            self._synced = size
        if self._ack_dirty:
            self._ack_dirty = False
            os.fsync(self._ledger)

    def remove(self) -> None:
        """Delete the segment and its ledger (in this order: a ledger left alone by a crash
        is cleaned up by `remove_orphans`), then let go of the lock."""
        _unlink(self.path)
        _unlink(self.path + LEDGER_SUFFIX)
        self.close()

    def close(self) -> None:
        for descriptor in (self.fd, self._ledger):
            forget_descriptor(descriptor)
            try:
                os.close(descriptor)
            except OSError:
                pass


def create_segment(directory: Path) -> Segment:
    """A new segment of this process, locked before any other process can see it."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SEGMENT_SUFFIX}"
    path = f"{directory}/{name}"
    temporary = f"{directory}/.{name}.tmp"
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
    close_in_forked_child(fd)  # closed in a forked child, whose copy would keep the lock
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        first = encode_frame(header())
        if os.write(fd, first) != len(first):
            raise OSError(f"outbox: could not write the header of {name}")
        os.rename(temporary, path)
        ledger = _open_ledger(path)
    except BaseException:
        forget_descriptor(fd)
        os.close(fd)
        _unlink(temporary)
        raise
    return Segment(path, fd, own=True, ledger=ledger, acked=len(first), columns=COLUMNS)


def adopt_segment(path: str) -> Segment | None:
    """The segment at `path` if its lock is free (its process is gone), now held by this
    one; None if a live process holds it or it was deleted meanwhile."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if os.fstat(fd).st_nlink == 0:  # delivered and deleted by its last holder
        os.close(fd)
        return None
    return _held(path, fd)


def watch_segment(path: str, sealed: bool) -> Segment | None:
    """The segment at `path` that a live process (this courier process's agent) holds and
    may still write (`sealed`: it will not), delivered here without its lock; None if it
    was deleted meanwhile."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    segment = _held(path, fd)
    segment.sealed_at = 0.0 if sealed else None
    return segment


def _held(path: str, fd: int) -> Segment:
    """A segment another process wrote, opened as `fd`, with its ledger and header read."""
    close_in_forked_child(fd)
    ledger = _open_ledger(path)
    content = os.pread(ledger, _OFFSET.size, 0)
    acked = _OFFSET.unpack(content)[0] if len(content) == _OFFSET.size else 0
    size = os.fstat(fd).st_size
    columns, start = _read_header(fd, size)
    return Segment(path, fd, own=False, ledger=ledger, acked=min(max(acked, start), size), columns=columns)


def _read_header(fd: int, size: int) -> tuple[tuple[str, ...], int]:
    """The columns a segment's header names, and where its entries start. A segment whose
    header is damaged is read with this client's columns from its first good frame on (what
    it cannot map is refused by the service and kept in `rejected/`)."""
    data = os.pread(fd, min(size, _HEADER_READ), 0)
    for item in frames(data, 0, final=True):
        if isinstance(item, Frame) and item.start == 0:
            try:
                return parse_header(item.payload), item.end
            except EntryFormatError:
                return COLUMNS, item.end
        return COLUMNS, 0
    return COLUMNS, 0


def segment_paths(directory: Path) -> list[str]:
    """Every segment in the outbox directory, oldest first (none if it cannot be listed:
    not there, or the buffer directory is not a usable directory)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return [f"{directory}/{name}" for name in sorted(names) if name.endswith(SEGMENT_SUFFIX) and not name.startswith(".")]


def remove_orphans(directory: Path) -> None:
    """Ledgers whose segment is gone, and unnamed segments whose creator died before
    naming them (no frame was ever written to those)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    present = set(names)
    for name in names:
        if name.endswith(LEDGER_SUFFIX) and name[: -len(LEDGER_SUFFIX)] not in present:
            _unlink(f"{directory}/{name}")
        elif name.startswith(".") and name.endswith(".tmp") and _older_than(f"{directory}/{name}", _ORPHAN_AGE_S):
            orphan = adopt_segment(f"{directory}/{name}")
            if orphan is not None:
                orphan.remove()


def columns_json(segment: Segment) -> bytes:
    return orjson.dumps(segment.columns)


def quarantine(directory: Path, segment: Segment, data: bytes) -> None:
    """Keep bytes that are no frame of ours, as they were, beside the outbox."""
    target = directory / QUARANTINE_DIR
    target.mkdir(parents=True, exist_ok=True)
    fd = os.open(target / (segment.name + ".bad"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _open_ledger(path: str) -> int:
    fd = os.open(path + LEDGER_SUFFIX, os.O_RDWR | os.O_CREAT, 0o644)
    close_in_forked_child(fd)
    return fd


def _older_than(path: str, seconds: float) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime > seconds
    except FileNotFoundError:
        return False


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
