"""The buffer directory: one file per undelivered operation, written atomically
(temporary file, optional fsync, rename), read oldest first, and moved aside when it
cannot be parsed (`corrupt/`) or the service refused it (`rejected/`).

File names come from the clock and a random uuid, never from user input."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Literal

from telemetry.effects.records import BufferEntry
from telemetry.shell.wire import buffer_document, parse_buffer_document

FsyncPolicy = Literal["always", "never"]
CORRUPT_DIR = "corrupt"
REJECTED_DIR = "rejected"
_SUFFIX = ".json"


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
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        return [self.path / name for name in sorted(names) if name.endswith(_SUFFIX) and not name.startswith(".")]

    @staticmethod
    def read(path: Path) -> BufferEntry:
        """The entry in `path`; `WireFormatError` if it is not a buffer file."""
        return parse_buffer_document(path.read_bytes())

    def quarantine(self, path: Path, reason: str) -> Path:
        """Move an unreadable file aside, with the reason beside it."""
        return self._move_aside(path, CORRUPT_DIR, reason)

    def reject(self, path: Path, reason: str) -> Path:
        """Move an entry the service refused aside, with the service's reason beside it."""
        return self._move_aside(path, REJECTED_DIR, reason)

    def _move_aside(self, path: Path, folder: str, reason: str) -> Path:
        destination = self.path / folder
        destination.mkdir(parents=True, exist_ok=True)
        target = destination / path.name
        os.rename(path, target)
        target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
        return target
