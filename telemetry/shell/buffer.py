"""The buffer directory: one file per undelivered operation, written atomically
(temporary file, optional fsync, rename), read oldest first, claimed for delivery by an
atomic rename into `.claims/`, and moved aside when it cannot be parsed (`corrupt/`) or
the service refused it (`rejected/`).

File names come from the clock and a random uuid, never from user input."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Literal

from telemetry.effects.records import BufferEntry
from telemetry.shell.wire import WireEntry, buffer_document, parse_buffer_document, parse_buffer_wire

FsyncPolicy = Literal["always", "never"]
CORRUPT_DIR = "corrupt"
REJECTED_DIR = "rejected"
CLAIMS_DIR = ".claims"
_SUFFIX = ".json"
_READ_SIZE = 1 << 16


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_atomically(target: Path, content: bytes, fsync: bool) -> None:
    temporary = target.with_name(f".{target.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(descriptor, view) :]
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

    def append(self, entry: BufferEntry, buffered_at: str) -> Path:
        """Write `entry` as a new file; it exists whole or not at all."""
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / f"{time.time_ns():020d}_{uuid.uuid4().hex}{_SUFFIX}"
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

    @staticmethod
    def read(path: Path | str) -> BufferEntry:
        """The entry in `path`; `WireFormatError` if it is not a buffer file."""
        with open(path, "rb") as handle:
            return parse_buffer_document(handle.read())

    @staticmethod
    def read_wire(path: str) -> WireEntry:
        """The entry in `path` as sync forwards it (`parse_buffer_wire`). Raw `os` calls: a
        buffered file object costs an extra fstat and Python layers, per file, on sync's hot path."""
        descriptor = os.open(path, os.O_RDONLY)
        try:
            parts = [os.read(descriptor, _READ_SIZE)]
            while len(parts[-1]) == _READ_SIZE:  # a file larger than one read: rare
                parts.append(os.read(descriptor, _READ_SIZE))
        finally:
            os.close(descriptor)
        return parse_buffer_wire(b"".join(parts) if len(parts) > 1 else parts[0])

    def quarantine(self, path: Path | str, reason: str) -> Path:
        """Move an unreadable file (pending or claimed) aside, with the reason beside it."""
        return self._move_aside(path, CORRUPT_DIR, reason)

    def reject(self, path: Path | str, reason: str) -> Path:
        """Move an entry the service refused aside, with the service's reason beside it."""
        return self._move_aside(path, REJECTED_DIR, reason)

    # Claims. A pass claims files by renaming them, under their own names, into a directory
    # of its own, `.claims/<pid>.<time_ns>.<random>/`: the rename succeeds for one worker
    # only, and who claimed and since when is in the directory's name, so a claim costs one
    # rename. Claimed paths are plain text: a pass handles many thousands of them.

    def open_claims(self) -> str:
        """A new claims directory for one pass; `OSError` if the buffer cannot be written."""
        directory = self.path / CLAIMS_DIR / f"{os.getpid()}.{time.time_ns()}.{uuid.uuid4().hex[:8]}"
        directory.mkdir(parents=True)
        return str(directory)

    def claim(self, name: str, claims: str) -> str | None:
        """Take pending file `name` into `claims`: its claimed path, or None if another
        worker took it first."""
        target = f"{claims}/{name}"
        try:
            os.rename(f"{self.path}/{name}", target)
        except FileNotFoundError:
            return None
        return target

    def release(self, claimed: str) -> None:
        """Give a claimed file back, under its own name, for a later pass."""
        os.rename(claimed, f"{self.path}/{os.path.basename(claimed)}")

    @staticmethod
    def acknowledge(claimed: Path | str) -> None:
        """Delete a file the service acknowledged; gone already is fine (a stale claim
        was given back and delivered again by another worker)."""
        try:
            os.unlink(claimed)
        except FileNotFoundError:
            pass

    @staticmethod
    def close_claims(claims: str) -> None:
        """Remove a pass's claims directory once it gave every file back or settled it."""
        try:
            os.rmdir(claims)
        except OSError:
            pass  # a file is still inside: the next stale-claims sweep gives it back

    def return_stale_claims(self, max_age_s: float) -> int:
        """Give back the claims of passes whose process died (pid gone) or that are older
        than `max_age_s`, so an entry is never stranded by a crash. Returns the file count."""
        try:
            directories = os.listdir(self.path / CLAIMS_DIR)
        except FileNotFoundError:
            return 0
        oldest = time.time_ns() - int(max_age_s * 1e9)
        returned = 0
        for directory in directories:
            owner = _claims_owner(directory)
            if owner is not None and owner[1] >= oldest and _process_alive(owner[0]):
                continue
            claims = f"{self.path}/{CLAIMS_DIR}/{directory}"
            for name in _listed(claims):
                try:
                    self.release(f"{claims}/{name}")
                    returned += 1
                except FileNotFoundError:
                    continue  # its owner settled it meanwhile
            self.close_claims(claims)
        return returned

    def _move_aside(self, path: Path | str, folder: str, reason: str) -> Path:
        destination = self.path / folder
        destination.mkdir(parents=True, exist_ok=True)
        target = destination / os.path.basename(path)
        os.rename(path, target)
        target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
        return target


def _listed(directory: str) -> list[str]:
    try:
        return os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _claims_owner(name: str) -> tuple[int, int] | None:
    """(pid, opened at in ns) from a claims directory's name; None if it is not one."""
    parts = name.split(".")
    try:
        return (int(parts[0]), int(parts[1])) if len(parts) == 3 else None
    except ValueError:
        return None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
