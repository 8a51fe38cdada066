"""The buffer directory: one file per undelivered operation, written atomically
(temporary file, optional fsync, rename), read oldest first, claimed for delivery where
it lies (`Claims`: a pass lists the names it takes in a claims file of its own, under a
flock), and moved aside when it cannot be parsed (`corrupt/`) or the service refused it
(`rejected/`). An entry is a run's create or update, or a commit for a run known only by
its run id.

File names come from the clock and a random uuid, never from user input."""

from __future__ import annotations

import fcntl
import os
import stat
import threading
import time
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Literal

from telemetry.effects.records import BufferEntry, CommitEntry
from telemetry.wire.format import (
    WireEntry,
    WireFormatError,
    buffer_document,
    parse_buffer_document,
    parse_buffer_wire,
)

FsyncPolicy = Literal["always", "never"]
CORRUPT_DIR = "corrupt"
REJECTED_DIR = "rejected"
CLAIMS_DIR = ".claims"
_SUFFIX = ".json"
# A commit entry's name says what it is, so the client can tell whether runs are buffered
# without reading files (`holds_runs`).
_COMMIT_SUFFIX = ".commit.json"
_READ_SIZE = 1 << 16


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _is_run_entry(name: str) -> bool:
    return name.endswith(_SUFFIX) and not name.endswith(_COMMIT_SUFFIX) and not name.startswith(".")


def _write_atomically(target: Path, content: bytes, fsync: bool) -> None:
    temporary = target.with_name(f".{target.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        _write_all(descriptor, content)
        if fsync:
            os.fsync(descriptor)
    except BaseException:
        os.close(descriptor)
        temporary.unlink(missing_ok=True)
        raise
    os.close(descriptor)
    os.rename(temporary, target)
    if fsync:
        _fsync_directory(target.parent)


class BufferDirectory:
    """A directory of buffer files; safe for several processes at once."""

    def __init__(self, path: Path, fsync: FsyncPolicy = "always") -> None:
        self.path = path
        self._fsync = fsync == "always"

    def append(self, entry: BufferEntry | CommitEntry, buffered_at: str) -> Path:
        """Write `entry` as a new file; it exists whole or not at all."""
        self.path.mkdir(parents=True, exist_ok=True)
        suffix = _COMMIT_SUFFIX if isinstance(entry, CommitEntry) else _SUFFIX
        target = self.path / f"{time.time_ns():020d}_{uuid.uuid4().hex}{suffix}"
        _write_atomically(target, buffer_document(entry, buffered_at), self._fsync)
        return target

    def pending(self) -> list[Path]:
        """Buffer files waiting for delivery, oldest first."""
        return [self.path / name for name in self.pending_names()]

    def pending_names(self) -> list[str]:
        """The names of the files waiting for delivery, oldest first."""
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        return sorted(name for name in names if name.endswith(_SUFFIX) and not name.startswith("."))

    def holds_runs(self) -> bool:
        """Whether any create or update waits for delivery; stops at the first one, so it
        costs the same for a buffer of one file as for one of a million."""
        try:
            with os.scandir(self.path) as entries:
                return any(_is_run_entry(entry.name) for entry in entries)
        except FileNotFoundError:
            return False

    @staticmethod
    def read(path: Path | str) -> BufferEntry | CommitEntry:
        """The entry in `path`; `WireFormatError` if it is not a buffer file."""
        with open(path, "rb") as handle:
            return parse_buffer_document(handle.read())

    @staticmethod
    def read_wire(path: str) -> WireEntry | CommitEntry:
        """The entry in `path` as sync forwards it (`parse_buffer_wire`). Raw `os` calls: a
        buffered file object costs an extra fstat and Python layers, per file, on sync's hot
        path. No access time: on a file not read before, updating it costs a journal write."""
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_NOATIME)
        except PermissionError:  # O_NOATIME is for the file's owner only
            descriptor = os.open(path, os.O_RDONLY)
        try:
            content = os.read(descriptor, _READ_SIZE)
            if len(content) == _READ_SIZE:  # a file larger than one read: rare
                content += b"".join(iter(lambda: os.read(descriptor, _READ_SIZE), b""))
        finally:
            os.close(descriptor)
        return parse_buffer_wire(content)

    def pending_run_ids(self, skip: Collection[str] = ()) -> frozenset[str]:
        """The run ids of the pending creates and updates, less the files in `skip` (paths):
        whether a run not on the service yet is still on its way. Reads every pending file,
        so it is for rare questions (a commit for an unknown run), not for a hot path."""
        run_ids = set()
        for name in self.pending_names():
            path = f"{self.path}/{name}"
            if path in skip or name.endswith(_COMMIT_SUFFIX):
                continue
            try:
                entry = self.read_wire(path)
            except (OSError, WireFormatError):  # gone meanwhile, or unreadable: no run of its own
                continue
            if isinstance(entry, WireEntry):
                run_ids.add(entry.body["run_id"])
        return frozenset(run_ids)

    def quarantine(self, path: Path | str, reason: str) -> Path:
        """Move an unreadable file aside, with the reason beside it."""
        return self._move_aside(path, CORRUPT_DIR, reason)

    def reject(self, path: Path | str, reason: str) -> Path:
        """Move an entry the service refused aside, with the service's reason beside it."""
        return self._move_aside(path, REJECTED_DIR, reason)

    def claims(self, max_age_s: float, stop: threading.Event | None = None) -> Claims:
        """The claims of a new pass on this directory (nothing is written before its first take)."""
        return Claims(self.path, max_age_s, stop)

    def unclaimed_names(self, max_age_s: float) -> list[str]:
        """The pending names no live pass holds: what is left for a later pass."""
        held = Claims(self.path, max_age_s).held_elsewhere(remove_dead=False)
        return [name for name in self.pending_names() if not any(name in names for names in held)]

    @staticmethod
    def remove(path: str) -> None:
        """Delete a file the service acknowledged; gone already is fine (a stale claim
        was taken over and the file delivered again by another worker)."""
        _remove_if_there(path)

    @staticmethod
    def remove_all(paths: list[str]) -> list[tuple[str, OSError]]:
        """`remove` each of `paths`; the ones that failed, with the error."""
        failures = []
        for path in paths:
            try:
                _remove_if_there(path)
            except OSError as error:
                failures.append((path, error))
        return failures

    def _move_aside(self, path: Path | str, folder: str, reason: str) -> Path:
        destination = self.path / folder
        destination.mkdir(parents=True, exist_ok=True)
        target = destination / os.path.basename(path)
        os.rename(path, target)
        target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
        return target


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
            _write_all(self._own, "".join(f"{name}\n" for name in taken).encode())
        finally:
            _unlock_and_close(lock)
        return taken, end

    def release(self) -> None:
        """End this pass's claims: whatever it did not settle is free for the next pass."""
        if self._own is None:
            return
        descriptor, self._own = self._own, None
        try:
            _remove_if_there(f"{self._directory}/{self._own_name}")
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
                    _remove_if_there(path)
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


def _remove_if_there(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write_all(descriptor: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        view = view[os.write(descriptor, view) :]
