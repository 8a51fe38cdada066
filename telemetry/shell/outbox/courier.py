"""The courier: delivers the segments an `Outbox` holds, oldest first, frame by frame in
order, in batches (`shipping.py`), and keeps each segment's ledger. One pass (`step`)
ships one batch; the delivery thread (`run`) passes until there is nothing to ship, then
sleeps until an append wakes it (and `linger_s` more, to gather a batch), and backs off
while the service cannot take a batch. Batches are kept small (`batch_entries`): the
courier holds the interpreter lock while it reads a batch and settles its answer, and the
agent's threads wait meanwhile.
Besides delivery, on its own thread and never on the caller's:

- fsync every `fsync_interval_s` of what was written and acknowledged since the last one;
- adoption, at start and every `adopt_interval_s`, of segments whose lock is free (their
  process died), and removal of orphaned ledgers and unnamed segments;
- a segment is removed once everything in it is settled and it takes no more writes;
- frames that do not check out are quarantined (`outbox.quarantined`), refused entries go
  to `{buffer_dir}/rejected/` with the service's reason (`outbox.rejected`): neither is
  ever retried, so delivery never wedges."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable

from telemetry.shell.buffer import fsync_directory
from telemetry.shell.edge import now
from telemetry.shell.outbox.entries import as_buffer_document
from telemetry.shell.outbox.frames import HEADER, HEADER_SIZE, MAGIC, Damaged, Frame, frames
from telemetry.shell.outbox.segments import (
    Segment,
    adopt_segment,
    columns_json,
    quarantine,
    remove_orphans,
    segment_paths,
)
from telemetry.shell.outbox.shipping import Shipped, ship
from telemetry.shell.outbox.writer import Outbox
from telemetry.shell.service_api import Outcome, Refused, ServiceApi, Unavailable
from telemetry.shell.workers import backoff_delay

REJECTED_DIR = "rejected"
_IDLE_WAIT_S = 0.5
_BURST = 8
_UNAUTHORIZED = "the service refused the token (check TELEMETRY_API_TOKEN); runs are kept in the outbox"


class Courier:
    """Delivers an outbox (see the module). `step` is also what `telemetry sync` runs."""

    def __init__(
        self,
        outbox: Outbox,
        api: Callable[[], ServiceApi],
        *,
        batch_entries: int = 256,
        linger_s: float = 0.002,
        batch_bytes: int = 256 << 10,
        fsync_interval_s: float = 1.0,
        adopt_interval_s: float = 5.0,
        backoff_base_s: float = 0.2,
        backoff_cap_s: float = 10.0,
    ) -> None:
        self.outbox = outbox
        self._api = api
        self._metrics = outbox.metrics
        self._batch_entries = batch_entries
        self._linger_s = linger_s
        self._batch_bytes = batch_bytes
        self._fsync_interval_s = fsync_interval_s
        self._adopt_interval_s = adopt_interval_s
        self._backoff = (backoff_base_s, backoff_cap_s)
        self._rng = random.Random()
        self._synced_at = self._adopted_at = float("-inf")
        self.unavailable: Outcome | None = None  # what the last failed batch met

    # -- one pass ---------------------------------------------------------------------

    def step(self) -> bool:
        """Ship one batch from the oldest segment with something to ship, and remove the
        segments that are done; True if a batch was settled (False: nothing to ship now, or
        the service could not take it: `unavailable` says which)."""
        self.unavailable = None
        now = time.monotonic()
        for segment in list(self.outbox.segments):
            try:
                size = segment.size()
            except OSError:
                continue
            if segment.acked >= size:
                if segment.final(now):
                    self.outbox.forget(segment, size)
                    segment.remove()
                    self._metrics.increment("outbox.segments_removed")
                continue
            batch = self._read(segment, size, segment.final(now))
            if batch is None:
                continue
            payloads, end = batch
            if payloads:
                shipped = ship(self._api(), columns_json(segment), payloads)
                if not isinstance(shipped, Shipped):
                    self.unavailable = shipped
                    return False
                self._settled(segment, shipped)
            try:
                segment.acknowledge(end)
            except OSError as error:
                self._metrics.swallowed("outbox.ledger", error, "could not write the outbox's ledger; a later taker may send entries again")
            return True
        return False

    def _read(self, segment: Segment, size: int, final: bool) -> tuple[list[bytes], int] | None:
        """The payloads of the next batch of `segment` and the offset after them; damaged
        stretches are quarantined on the way. None if nothing whole is there yet."""
        start = segment.acked
        # A backlog (the service was away, or the agent writes faster than one batch per
        # round trip) goes in batches 8 times larger: each request costs the service a
        # commit, and the agent's threads are the ones waiting for those entries anyway.
        burst = _BURST if size - start > _BURST * self._batch_bytes else 1
        data = segment.read(start, max(burst * self._batch_bytes, _frame_size(segment, start)))
        payloads: list[bytes] = []
        end = start
        for item in frames(data, start, final and start + len(data) >= size):
            if isinstance(item, Frame):
                payloads.append(item.payload)
            elif item.end > segment.quarantined_to:
                self._quarantine(segment, data[item.start - start : item.end - start])
                segment.quarantined_to = item.end
            end = item.end
            if len(payloads) >= burst * self._batch_entries:
                break
        return None if end == start else (payloads, end)

    def _quarantine(self, segment: Segment, data: bytes) -> None:
        """Keep damaged bytes aside and count them; if they cannot be kept (a full disk),
        they are skipped all the same (counted and logged): delivery must go on."""
        self._metrics.increment("outbox.quarantined")
        try:
            quarantine(self.outbox.directory, segment, data)
        except OSError as error:
            self._metrics.swallowed("outbox.quarantine", error, "could not keep a damaged outbox frame aside; it is skipped")

    def _settled(self, segment: Segment, shipped: Shipped) -> None:
        self._metrics.increment("outbox.delivered", shipped.delivered)
        self._metrics.increment("outbox.duplicates", shipped.duplicates)
        for payload, reason in shipped.rejected:
            self._reject(segment, payload, reason)

    def _reject(self, segment: Segment, payload: bytes, reason: str) -> None:
        """Keep a refused entry in `rejected/` as a buffer file, with the reason beside it."""
        self._metrics.swallowed("outbox.rejected", reason, "the service refused a run; it is kept in buffer/rejected with the reason")
        self._metrics.increment("outbox.rejected")
        target = self.outbox.directory.parent / REJECTED_DIR
        target.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}_{uuid.uuid4().hex}.json"
        (target / name).write_bytes(as_buffer_document(payload, segment.columns, now().isoformat()))
        (target / (name + ".reason.txt")).write_text(reason + "\n", encoding="utf-8")

    # -- upkeep -------------------------------------------------------------------------

    def upkeep(self, force: bool = False) -> None:
        """fsync and adopt when their intervals are due (`force`: now)."""
        now = time.monotonic()
        if force or now - self._synced_at >= self._fsync_interval_s:
            self._synced_at = now
            self.sync()
        if force or now - self._adopted_at >= self._adopt_interval_s:
            self._adopted_at = now
            self.adopt()

    def sync(self) -> None:
        """fsync the segments and ledgers written since the last time, and the directory."""
        synced = False
        for segment in list(self.outbox.segments):
            try:
                segment.sync()
                synced = True
            except OSError as error:
                self._metrics.swallowed("outbox.fsync", error, "could not fsync the outbox")
        if synced:
            fsync_directory(self.outbox.directory)

    def adopt(self) -> int:
        """Take over the segments of dead processes; how many were adopted."""
        directory = self.outbox.directory
        held = {segment.path for segment in self.outbox.segments}
        adopted = 0
        for path in reversed(segment_paths(directory)):  # adopted ones go first: oldest at the front
            if path in held:
                continue
            segment = adopt_segment(path)
            if segment is None:
                continue
            self.outbox.adopt(segment)
            adopted += 1
        if adopted:
            self._metrics.increment("outbox.adopted", adopted)
        remove_orphans(directory)
        return adopted

    def finish(self) -> None:
        """At exit, or at the end of `telemetry sync`: no more writes; remove what is all
        settled, fsync the rest and let go of adopted segments (free for the next taker)."""
        self.outbox.seal_all()
        for segment in list(self.outbox.segments):
            try:
                size = segment.size()
                if segment.acked >= size:
                    self.outbox.forget(segment, size)
                    segment.remove()
                    continue
                segment.sync()
                if not segment.own:
                    self.outbox.forget(segment, size)
                    segment.close()
            except OSError as error:
                self._metrics.swallowed("outbox.finish", error, "could not fsync the outbox at exit")

    # -- the delivery thread ------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set: ship while there is something to ship, sleep until
        woken when there is not, back off while the service cannot take a batch."""
        failures = 0
        wake = self.outbox.wake
        while not stop.is_set():
            try:
                self.upkeep()
                wake.clear()  # before reading: an append after this wakes the next wait
                shipped = self.step()
            except Exception as error:  # a bug or a disk error must not end delivery
                self._metrics.swallowed(f"outbox.courier.{type(error).__name__}", error, "background delivery failed; retrying")
                self.unavailable = None
                failures += 1
                stop.wait(backoff_delay(failures, *self._backoff, self._rng))
                continue
            if self.unavailable is not None:
                failures += 1
                self._unavailable(self.unavailable)
                stop.wait(backoff_delay(failures, *self._backoff, self._rng))
            elif not shipped:
                failures = 0
                # Once woken, wait a moment for more: fewer, fuller batches, and fewer
                # turns of this thread taking the interpreter from the agent's threads.
                if wake.wait(_IDLE_WAIT_S) and self._linger_s > 0:
                    stop.wait(self._linger_s)
            else:
                failures = 0

    def _unavailable(self, outcome: Outcome) -> None:
        """Count a batch the service could not take, and say why once per kind (a wrong
        token is the configuration's fault and is worded as such)."""
        self._metrics.increment("outbox.unavailable")
        if isinstance(outcome, Refused) and outcome.status_code in (401, 403):
            self._metrics.swallowed("outbox.unauthorized", outcome.reason, _UNAUTHORIZED)
        else:
            reason = outcome.reason if isinstance(outcome, (Unavailable, Refused)) else str(outcome)
            self._metrics.swallowed("outbox.service", reason, "API unavailable, keeping runs in the outbox until it answers")


def _frame_size(segment: Segment, start: int) -> int:
    """The size of the frame at `start` by its header (0 if there is no header of ours):
    a batch read must hold at least one whole frame, however large."""
    header = segment.read(start, HEADER_SIZE)
    if len(header) < HEADER_SIZE:
        return 0
    magic, length, _ = HEADER.unpack(header)
    return HEADER_SIZE + length if magic == MAGIC else 0

