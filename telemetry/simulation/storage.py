"""The simulated local files: the buffer (pending entries, and `rejected/` with the
service's reason) and the NDJSON backup, held in memory. A full disk makes every buffer
write fail as the real one does (`OSError` ENOSPC); the NDJSON backup is not affected
(the real writer holds and retries its lines, which this model does not follow)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

import attrs

from telemetry.effects.records import BufferEntry, CommitEntry, RunEvent, RunRecord
from telemetry.effects.vocabulary import NdjsonKind
from telemetry.simulation.conditions import Conditions

Entry = BufferEntry | CommitEntry


@attrs.frozen
class BufferedEntry:
    """One entry in the buffer: when it was written (simulated wall time, ISO 8601) and
    what it holds."""

    buffered_at: str
    entry: Entry


@attrs.frozen
class RejectedEntry:
    """An entry the service refused, kept with the service's reason."""

    buffered_at: str
    entry: Entry
    reason: str


@attrs.frozen
class NdjsonLine:
    """One line of the NDJSON backup: its kind and what it holds."""

    kind: NdjsonKind
    body: RunRecord | RunEvent


class SimulatedBuffer:
    """The buffer directory, in memory, with the calls the client's `BufferSink` makes."""

    def __init__(self, conditions: Callable[[], Conditions]) -> None:
        self._conditions = conditions
        self.pending: list[BufferedEntry] = []
        self.rejected: list[RejectedEntry] = []

    def append(self, entry: Entry, buffered_at: str) -> BufferedEntry:
        """Write `entry`; raises `OSError` (ENOSPC) while the disk is full."""
        if self._conditions().disk_full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = BufferedEntry(buffered_at, entry)
        self.pending.append(written)
        return written

    def reject(self, written: BufferedEntry, reason: str) -> RejectedEntry:
        """Move a written entry to `rejected/`, with the reason beside it."""
        self.pending.remove(written)
        moved = RejectedEntry(written.buffered_at, written.entry, reason)
        self.rejected.append(moved)
        return moved

    def holds_runs(self) -> bool:
        """Whether any create or update waits here (what the client asks before it answers "Run ID
        not found" for a commit)."""
        return any(isinstance(item.entry, BufferEntry) for item in self.pending)


class SimulatedNdjson:
    """The NDJSON backup, in memory: every line in the order it was submitted."""

    def __init__(self) -> None:
        self.lines: list[NdjsonLine] = []

    def submit(self, kind: NdjsonKind, body: RunRecord | RunEvent) -> None:
        self.lines.append(NdjsonLine(kind, body))
