"""The bookkeeping of one sync pass: the files it claimed and what became of each
(acknowledged, rejected, quarantined, left for later), its counts and its errors; it
receives the verdict on each entry (`record`). A window's entries are folded by run
(`telemetry.shell.sync.fold`). Commit entries of runs known only by run id are set aside, for
after the pass's creates and updates (`telemetry.shell.sync.commits`)."""

from __future__ import annotations

import os
import threading
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future

from telemetry.core.verdicts import Verdict
from telemetry.effects.records import CommitEntry
from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.sync.daemon_pool import DaemonPool
from telemetry.shell.sync.fold import RunFold
from telemetry.wire.format import WireEntry, WireFormatError

_DELETERS = 8
# What a pass notes when a verdict keeps an entry, by the reason it is kept.
_KEPT_NOTES = {
    "unavailable": "service unavailable",
    "no_service": "no telemetry service at this URL",
    "unauthorized": "not authorized",
}
_DELETE_SHARE = 256


class SyncPass:
    """One pass over the buffer. Every file it claimed ends acknowledged (deleted), rejected,
    quarantined, or free again for a later pass when `release` ends its claims.

    In a directory that cannot be written nothing can be claimed or removed: entries are
    then read in place, delivered once, and remembered in `settled` (shared by the passes
    of one worker) so that later passes do not send them again."""

    def __init__(
        self,
        buffer: BufferDirectory,
        note: Callable[[str, str], None],
        stop: threading.Event,
        settled: set[str],
        claim_timeout_s: float,
    ) -> None:
        self.buffer = buffer
        self.stop = stop
        self.tally: Counter[str] = Counter()
        self.errors: dict[str, str] = {}
        self.unavailable = False
        self.read_only = False
        self.carried: dict[str, RunFold] = {}  # runs held over to the next window
        self.commits: list[tuple[str, CommitEntry]] = []  # sent after every window
        self.cursor = 0  # where the next window starts in the pass's list of pending names
        self._note = note
        self._settled = settled
        self._borrowed: set[str] = set()
        self._claims = buffer.claims(claim_timeout_s, stop)
        self._prefix = f"{buffer.path}/"
        self._acknowledged: dict[str, list[str]] = {"delivered": [], "duplicates": []}
        self._deleting: deque[tuple[str, int, Future[list[tuple[str, OSError]]]]] = deque()
        self._deleter: DaemonPool | None = None

    @property
    def settled(self) -> frozenset[str]:
        """Files this worker settled but could not remove (a read-only buffer)."""
        return frozenset(self._settled)

    @property
    def done(self) -> int:
        return sum(self.tally[k] for k in ("delivered", "duplicates", "rejected", "quarantined"))

    def note(self, kind: str, detail: str) -> None:
        """Count an error; the pass reports the first detail of each kind."""
        self.errors.setdefault(kind, f"{kind}: {detail}")
        self._note(kind, detail)

    def next_window(self, names: list[str], count: int) -> list[RunFold]:
        """Claim, read and fold the next `count` of the pending files `names` that no other
        live pass holds (from `cursor` on, which it advances): the window's runs, with those
        carried over from the window before. Runs that only started in the last tenth of
        the window are carried to the next one, where their end likely is (one create of
        the folded record then spares a PATCH). Files settled by another worker since they
        were listed are skipped; unreadable files go to `corrupt/`. `ClaimsBusy` if the
        claims lock stays taken."""
        runs, self.carried = self.carried, {}
        position: dict[str, int] = {}  # run -> where its last entry is in this window
        read = 0
        for path in self._take(names, count):
            entry = self.read(path)
            if entry is None:
                continue
            if isinstance(entry, CommitEntry):
                self.commits.append((path, entry))
                continue
            fold = runs.get(entry.event_id)
            if fold is None:
                fold = runs[entry.event_id] = RunFold()
            fold.add(path, entry)
            position[entry.event_id] = read
            read += 1
        if self.cursor < len(names):
            tail = read - max(1, count // 10)
            for event_id, last in position.items():
                if last >= tail and runs[event_id].only_creates:
                    self.carried[event_id] = runs.pop(event_id)
        return list(runs.values())

    def read(self, path: str) -> WireEntry | CommitEntry | None:
        """The entry in a claimed file; None if another worker settled it meanwhile, or if
        it cannot be read (then it goes to `corrupt/`)."""
        try:
            return self.buffer.read_wire(path)
        except FileNotFoundError:
            return None
        except (WireFormatError, OSError) as error:
            self._quarantine(path, f"{type(error).__name__}: {error}")
            return None

    def _take(self, names: list[str], count: int) -> list[str]:
        """The paths this pass now holds; when the directory cannot be written, the files
        themselves (borrowed, not held), less those this worker settled already."""
        prefix = self._prefix
        if not self.read_only:
            try:
                taken, self.cursor = self._claims.take(names, self.cursor, count)
                return [prefix + name for name in taken]
            except OSError as error:
                self.read_only = True
                self.note("buffer not writable", f"entries are delivered once but cannot be removed: {error}")
        window, self.cursor = names[self.cursor : self.cursor + count], min(self.cursor + count, len(names))
        borrowed = [path for path in (prefix + name for name in window) if path not in self._settled]
        self._borrowed.update(borrowed)
        return borrowed

    def record(self, paths: list[str], decided: Verdict) -> bool:
        """Take the verdict on the entries in `paths` (`telemetry.core.verdicts`); False
        when it stops the pass: a kept entry says nothing about itself (the service is
        down, the token wrong, the URL not a telemetry service), so the rest wait too."""
        if decided.kind == "acknowledge":
            self.acknowledge(paths, decided.duplicate)
        elif decided.kind == "reject":
            for path in paths:
                self.reject(path, decided.reason)
        else:
            self.unavailable = self.unavailable or decided.kept == "unavailable"
            self.note(_KEPT_NOTES.get(decided.kept, "entry kept"), decided.reason)
            return False
        return True

    def wait_for_run(self) -> None:
        """A commit whose run is still buffered: left for a later pass, once its run arrived."""
        self.tally["commits_waiting"] += 1

    def acknowledge(self, paths: list[str], duplicate: bool) -> None:
        """The service holds these entries: delete them (`flush`), then count them."""
        outcome = "duplicates" if duplicate else "delivered"
        if self._borrowed:
            for path in paths:
                if path in self._borrowed:
                    self._settle(path, outcome, self.buffer.remove)
                else:
                    self._acknowledged[outcome].append(path)
        else:
            self._acknowledged[outcome].extend(paths)

    def flush(self, wait: bool = False) -> None:
        """Hand the files acknowledged since the last flush to the deleting threads, and
        count those they have deleted (all of them, with `wait`). An unlink can wait long
        for the disk (the journal, busy with the service's commits; discards): on threads
        of their own the deletions hold up neither the reading of the next window nor the
        wire."""
        for outcome, paths in self._acknowledged.items():
            if paths:
                self._delete(outcome, paths)
        self._acknowledged = {"delivered": [], "duplicates": []}
        while self._deleting and (wait or self._deleting[0][2].done()):
            outcome, count, deleted = self._deleting.popleft()
            failures = deleted.result()
            for path, error in failures:  # left in place, so sent again by a later pass
                self.note("cannot remove settled entry", f"{os.path.basename(path)}: {error}")
            self.tally[outcome] += count - len(failures)

    def reject(self, path: str, reason: str) -> None:
        """The service will never take the entry: move it to `rejected/` with the reason."""
        self.note("refused by service", reason)
        self._settle(path, "rejected", lambda path: self.buffer.reject(path, reason))

    def _quarantine(self, path: str, reason: str) -> None:
        self.note("corrupt entry", f"{os.path.basename(path)}: {reason}")
        self._settle(path, "quarantined", lambda path: self.buffer.quarantine(path, reason))

    def _settle(self, path: str, outcome: str, remove: Callable[[str], object]) -> None:
        if path in self._borrowed:
            self._settled.add(path)
        else:
            try:
                remove(path)
            except OSError as error:  # left in place, so sent again by a later pass
                self.note("cannot remove settled entry", f"{os.path.basename(path)}: {error}")
                return
        self.tally[outcome] += 1

    def _delete(self, outcome: str, paths: list[str]) -> None:
        """Hand `paths` to the deleting threads, in shares of at least `_DELETE_SHARE`
        files: several threads overlap their waits for the disk, where a kernel discards
        each freed block synchronously (figures in bench/README.md)."""
        if self._deleter is None:
            self._deleter = DaemonPool(_DELETERS, "telemetry-sync-delete")
        shares = max(1, min(_DELETERS, len(paths) // _DELETE_SHARE))
        for share in range(shares):
            part = paths[share::shares]
            self._deleting.append((outcome, len(part), self._deleter.submit(self.buffer.remove_all, part)))

    def release(self) -> None:
        """Wait for the deletions, then end this pass's claims: what it did not settle is
        free for a later pass or another worker (called once no other thread works for
        this pass)."""
        self.flush(wait=True)
        if self._deleter is not None:
            self._deleter.shutdown()
        try:
            self._claims.release()
        except OSError as error:
            self.note("cannot release claims", str(error))
