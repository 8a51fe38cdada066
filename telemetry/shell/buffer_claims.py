"""Cross-process claims on a buffer directory's files: a sync pass lists the names it takes
in a claims file of its own, under a flock, and takes no name a live pass holds."""

from __future__ import annotations

import fcntl
import os
import stat
import threading
import time
import uuid
from pathlib import Path

CLAIMS_DIR = ".claims"


class ClaimsBusy(Exception):
    """Another worker held the buffer's claims lock longer than a pass waits for it (a
    process stopped in the middle of a claim, e.g. by SIGSTOP)."""


# Claims. A pass claims pending files where they lie: holding the directory's claims lock
# (`.claims/.lock`, flock) it appends the names it takes to a file of its own,
# `.claims/<pid>.<time_ns>.<random>`, which it keeps flock'ed for as long as it runs, and it
# takes no name that a live pass's file lists. One write per window, instead of a rename
# per file. The kernel drops the locks of a process that dies, so an unlocked claims file
# belongs to a dead pass: it is removed and its names are free again. A claims file not
# written for `max_age_s` belongs to a stalled pass: its names are free again too (a file
# then sent twice is harmless: creates dedupe by event id, updates carry full values).
LOCK_NAME = ".lock"
LOCK_WAIT_S = 5.0
# Descriptors holding flocks, closed in a forked child: its copies would keep a lock alive
# after the parent died. Closing a copy never releases the parent's lock.
_LOCK_DESCRIPTORS: set[int] = set()


def _close_inherited_locks() -> None:
    for descriptor in _LOCK_DESCRIPTORS:
        try:
            os.close(descriptor)
        except OSError:
            pass
    _LOCK_DESCRIPTORS.clear()


os.register_at_fork(after_in_child=_close_inherited_locks)


def close_in_forked_child(descriptor: int) -> None:
    """Have `descriptor`, which holds a flock, closed in a forked child (the outbox's
    segments use this too); `forget_descriptor` once it is closed here."""
    _LOCK_DESCRIPTORS.add(descriptor)


def forget_descriptor(descriptor: int) -> None:
    _LOCK_DESCRIPTORS.discard(descriptor)


def _unlock_and_close(descriptor: int) -> None:
    _LOCK_DESCRIPTORS.discard(descriptor)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_UN)  # for every copy, should a fork have made one
    finally:
        os.close(descriptor)


def _held_by_its_owner(descriptor: int) -> bool:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    return False


class Claims:
    """The claims of one pass on a buffer directory (see the comment above). Threads of one
    process exclude each other like processes do: each pass opens its own descriptors."""

    def __init__(self, buffer_path: Path, max_age_s: float, stop: threading.Event | None = None) -> None:
        self._directory = f"{buffer_path}/{CLAIMS_DIR}"
        self._max_age_ns = int(max_age_s * 1e9)
        self._stop = stop or threading.Event()
        self._own: int | None = None
        self._own_name = ""
        self._seen: dict[str, tuple[int, set[str]]] = {}  # claims file -> (bytes read, names)

    def take(self, names: list[str], start: int, count: int) -> tuple[list[str], int]:
        """Claim for this pass up to `count` of `names[start:]` that no live pass holds:
        the names taken, and where the next take starts. `OSError` if the buffer cannot
        be written; `ClaimsBusy` if the lock stays taken."""
        lock = self._lock()
        try:
            if self._own is None:
                self._open_own()
            taken, end = _first_free(names, start, count, self.held_elsewhere(remove_dead=True))
            assert self._own is not None
            write_all(self._own, "".join(f"{name}\n" for name in taken).encode())
        finally:
            _unlock_and_close(lock)
        return taken, end

    def release(self) -> None:
        """End this pass's claims: whatever it did not settle is free for the next pass."""
        if self._own is None:
            return
        descriptor, self._own = self._own, None
        try:
            remove_if_there(f"{self._directory}/{self._own_name}")
        finally:
            _unlock_and_close(descriptor)

    def held_elsewhere(self, remove_dead: bool) -> list[set[str]]:
        """The names each other live pass holds. With `remove_dead` (only under the lock,
        where no claims file is ever seen before its owner locked it) the files of dead
        passes are removed."""
        try:
            files = os.listdir(self._directory)
        except FileNotFoundError:
            return []
        held = []
        for name in files:
            if not name.startswith(".") and name != self._own_name:
                names = self._live_names(name, remove_dead)
                if names is not None:
                    held.append(names)
        return held

    def _live_names(self, name: str, remove_dead: bool) -> set[str] | None:
        """The names a live, recent claims file lists (read incrementally: the files only
        grow); None for a dead or stalled pass, or not a claims file."""
        path = f"{self._directory}/{name}"
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            self._seen.pop(name, None)
            return None
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                return None  # not a claims file: left alone
            if not _held_by_its_owner(descriptor):  # dead, or released just now
                if remove_dead:
                    remove_if_there(path)
                self._seen.pop(name, None)
                return None
            if time.time_ns() - status.st_mtime_ns > self._max_age_ns:
                return None
            offset, names = self._seen.get(name, (0, set()))
            if status.st_size > offset:
                fresh = os.pread(descriptor, status.st_size - offset, offset)
                whole = fresh.rfind(b"\n") + 1  # a line being written is read next time
                names.update(fresh[:whole].decode().split())
                self._seen[name] = (offset + whole, names)
            return names
        finally:
            os.close(descriptor)

    def _lock(self) -> int:
        """The claims lock, held; waits up to `LOCK_WAIT_S` (less if the pass is stopped)."""
        os.makedirs(self._directory, exist_ok=True)
        descriptor = os.open(f"{self._directory}/{LOCK_NAME}", os.O_RDWR | os.O_CREAT, 0o644)
        _LOCK_DESCRIPTORS.add(descriptor)
        deadline, pause = time.monotonic() + LOCK_WAIT_S, 0.001
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return descriptor
            except BlockingIOError:
                if time.monotonic() >= deadline or self._stop.wait(pause):
                    _unlock_and_close(descriptor)
                    raise ClaimsBusy(f"the claims lock of {self._directory} stayed taken") from None
                pause = min(2 * pause, 0.05)
            except BaseException:
                _unlock_and_close(descriptor)
                raise

    def _open_own(self) -> None:
        """This pass's claims file, created and locked under the claims lock, so that no
        other pass ever sees it unlocked while this one lives."""
        name = f"{os.getpid()}.{time.time_ns()}.{uuid.uuid4().hex[:8]}"
        descriptor = os.open(f"{self._directory}/{name}", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        _LOCK_DESCRIPTORS.add(descriptor)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        self._own, self._own_name = descriptor, name


def _first_free(names: list[str], start: int, count: int, held: list[set[str]]) -> tuple[list[str], int]:
    """Up to `count` of `names[start:]` in none of the `held` sets, and the index after
    the last name looked at."""
    if not held:
        end = min(start + count, len(names))
        return names[start:end], end
    taken: list[str] = []
    end = start
    while len(taken) < count and end < len(names):
        if not any(names[end] in others for others in held):
            taken.append(names[end])
        end += 1
    return taken, end


def remove_if_there(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def write_all(descriptor: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        view = view[os.write(descriptor, view) :]
