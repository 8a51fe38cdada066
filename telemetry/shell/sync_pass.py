"""The bookkeeping of one sync pass: the entries it claimed, what became of each
(acknowledged, rejected, quarantined, given back), its counts and its errors; how the
entries of one run fold into the single record the service converges to, and how a
window's runs are cut into batches."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.wire import WireEntry, WireFormatError


@attrs.frozen
class Claimed:
    """A buffer entry this pass holds, and the file it came from (claimed, or borrowed in
    place when the directory cannot be written)."""

    path: str
    entry: WireEntry


def merged_body(entries: list[WireEntry]) -> dict[str, Any]:
    """The create body one run's entries converge to: its create (else the first entry's
    body) with the fields each update names laid over it. A `running` status never replaces
    a terminal one, as on the service, so the order of the updates does not matter."""
    if len(entries) == 1:
        return entries[0].body
    creates = [entry for entry in entries if entry.operation == "create"]
    body = dict((creates[0] if creates else entries[0]).body)
    status = body.get("status", "running")
    for entry in entries:
        if entry.operation != "update":
            continue
        for name in entry.fields:
            body[name] = entry.body[name]
        if "status" in entry.fields and (entry.body["status"] != "running" or status == "running"):
            status = entry.body["status"]
    body["status"] = status
    return body


def carry_recent_starts(groups: dict[str, list[Claimed]], tail: list[Claimed]) -> list[Claimed]:
    """Take out the runs that only started near the end of the window: their end is likely
    in the next window, where one create of the merged record spares a PATCH. A run is
    carried once (only runs started in the tail are), so the carry stays small."""
    carried: list[Claimed] = []
    for event_id in {item.entry.event_id for item in tail}:
        if all(item.entry.operation == "create" for item in groups.get(event_id, ())):
            carried.extend(groups.pop(event_id, ()))
    return carried


def chunks(items: list[list[Claimed]], size: int) -> Iterable[list[list[Claimed]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SyncPass:
    """One pass over the buffer. Every claimed file ends acknowledged (deleted), rejected,
    quarantined, or given back by `release_all`, so nothing stays claimed after a pass.

    The entries of the next window are claimed on another thread while this one is
    delivered, so the bookkeeping is guarded by a lock.

    In a directory that cannot be written nothing can be claimed or removed: entries are
    then read in place, delivered once, and remembered in `settled` (shared by the passes
    of one worker) so that later passes do not send them again."""

    def __init__(
        self,
        buffer: BufferDirectory,
        note: Callable[[str, str], None],
        stop: threading.Event,
        settled: set[str],
    ) -> None:
        self.buffer = buffer
        self.stop = stop
        self.tally: Counter[str] = Counter()
        self.errors: dict[str, str] = {}
        self.unavailable = False
        self.read_only = False
        self.carried: list[Claimed] = []  # held over to the next window (see SyncWorker)
        self._note = note
        self._settled = settled
        self._held: set[str] = set()
        self._claims: str | None = None  # this pass's claims directory, made on first claim
        self._lock = threading.Lock()

    @property
    def done(self) -> int:
        return sum(self.tally[k] for k in ("delivered", "duplicates", "rejected", "quarantined"))

    def note(self, kind: str, detail: str) -> None:
        """Count an error; the pass reports the first detail of each kind."""
        with self._lock:
            self.errors.setdefault(kind, f"{kind}: {detail}")
        self._note(kind, detail)

    def claim_all(self, names: list[str]) -> list[Claimed]:
        """Claim and read the pending files `names`, skipping those another worker took
        first. Unreadable files go to `corrupt/`."""
        claimed: list[Claimed] = []
        taken_all: list[str] = []
        try:
            for name in names:
                taken = self._take(name)
                if taken is None:
                    continue
                if not self.read_only:
                    taken_all.append(taken)
                try:
                    claimed.append(Claimed(taken, self.buffer.read_wire(taken)))
                except (WireFormatError, OSError) as error:
                    self._hold(taken_all)
                    self._quarantine(taken, f"{type(error).__name__}: {error}")
        finally:
            self._hold(taken_all)  # once per window: the lock is shared with the sender
        return claimed

    def _hold(self, taken: list[str]) -> None:
        with self._lock:
            self._held.update(taken)
        taken.clear()

    def _take(self, name: str) -> str | None:
        """The claimed file; None if another worker took it first (or this worker settled
        it already); the file itself (borrowed, not held) when the directory cannot be written."""
        if not self.read_only:
            try:
                if self._claims is None:
                    self._claims = self.buffer.open_claims()
                return self.buffer.claim(name, self._claims)
            except OSError as error:
                self.read_only = True
                self.note("buffer not writable", f"entries are delivered once but cannot be removed: {error}")
        borrowed = f"{self.buffer.path}/{name}"
        return None if borrowed in self._settled else borrowed

    def acknowledge(self, items: list[Claimed], duplicate: bool) -> None:
        """The service holds these entries: delete them, then count them."""
        for item in items:
            self._settle(item.path, "duplicates" if duplicate else "delivered", self.buffer.acknowledge)

    def reject(self, item: Claimed, reason: str) -> None:
        """The service will never take the entry: move it to `rejected/` with the reason."""
        self.note("refused by service", reason)
        self._settle(item.path, "rejected", lambda path: self.buffer.reject(path, reason))

    def _quarantine(self, path: str, reason: str) -> None:
        self.note("corrupt entry", f"{os.path.basename(path)}: {reason}")
        self._settle(path, "quarantined", lambda path: self.buffer.quarantine(path, reason))

    def _settle(self, path: str, outcome: str, remove: Callable[[str], object]) -> None:
        with self._lock:
            held = path in self._held
        if held:
            try:
                remove(path)
            except OSError as error:  # kept claimed, so given back and tried again later
                self.note("cannot remove settled entry", f"{os.path.basename(path)}: {error}")
                return
        with self._lock:
            self._held.discard(path)
            if not held:
                self._settled.add(path)
            self.tally[outcome] += 1

    def release_all(self) -> None:
        """Give back every entry still held, for a later pass or another worker (called
        once no other thread works for this pass)."""
        for path in sorted(self._held):
            try:
                self.buffer.release(path)
            except FileNotFoundError:
                pass  # a stale claim already given back by another worker
            except OSError as error:
                self.note("cannot give back claim", f"{os.path.basename(path)}: {error}")
        self._held.clear()
        if self._claims is not None:
            self.buffer.close_claims(self._claims)
