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
from telemetry.shell.buffer_claims import CLAIMS_DIR as CLAIMS_DIR
from telemetry.shell.buffer_claims import Claims, remove_if_there, write_all
from telemetry.wire.format import (
    WireEntry,
    WireFormatError,
    buffer_document,
    parse_buffer_wire,
)

FsyncPolicy = Literal["always", "never"]
CORRUPT_DIR = "corrupt"
REJECTED_DIR = "rejected"
_SUFFIX = ".json"
# A commit entry's name says what it is, so the client can tell whether runs are buffered
# without reading files (`holds_runs`).
_COMMIT_SUFFIX = ".commit.json"
_READ_SIZE = 1 << 16


def fsync_directory(path: Path) -> None:
    """fsync a directory: its entries (a new or renamed file) survive a crash."""
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
        write_all(descriptor, content)
        if fsync:
            os.fsync(descriptor)
    except BaseException:
        os.close(descriptor)
        temporary.unlink(missing_ok=True)
        raise
    os.close(descriptor)
    os.rename(temporary, target)
    if fsync:
        fsync_directory(target.parent)


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
        remove_if_there(path)

    @staticmethod
    def remove_all(paths: list[str]) -> list[tuple[str, OSError]]:
        """`remove` each of `paths`; the ones that failed, with the error."""
        failures = []
        for path in paths:
            try:
                remove_if_there(path)
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
