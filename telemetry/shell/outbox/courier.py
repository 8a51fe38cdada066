"""The courier: delivers the segments an `Outbox` holds, oldest first, frame by frame in
order, in batches (`shipping.py`), and keeps each segment's ledger. One pass (`step`)
ships one batch; `run` passes until there is nothing to ship, then waits as its `Pace`
says (the delivery thread: until an append wakes it, and a moment more to gather a batch;
a courier process: a short poll), and backs off while the service cannot take a batch.
Batches are kept small (`batch_entries`): a courier thread holds the interpreter lock
while it reads a batch and settles its answer, and the agent's threads wait meanwhile.
Besides delivery, on the courier's thread or process and never on the caller's:

- fsync every `fsync_interval_s` of what was written and acknowledged since the last one;
- adoption, at start and every `adopt_interval_s`, of segments whose lock is free (their
  process died), and removal of orphaned ledgers and unnamed segments;
- a segment is removed once everything in it is settled and it takes no more writes;
- frames that do not check out are quarantined (`outbox.quarantined`), refused entries go
  to `{buffer_dir}/rejected/` with the service's reason (`outbox.rejected`): neither is
  ever retried, so delivery never wedges."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from typing import Protocol

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
_BURST = 8
_UNAUTHORIZED = "the service refused the token (check TELEMETRY_API_TOKEN); runs are kept in the outbox"


class Pace(Protocol):
    """When the courier's `run` passes, waits and stops: where it runs decides."""

    def stopped(self) -> bool:
        """Whether to stop delivering."""

    def before_pass(self) -> None:
        """Just before a pass reads the segments."""

    def after_pass(self, courier: Courier) -> None:
        """Just after a pass (what it settled, or why it could not)."""

    def idle(self) -> None:
        """Wait for something to ship (or to stop)."""

    def pause(self, seconds: float) -> None:
        """Wait `seconds`, or less if told to stop."""


class Courier:
    """Delivers an outbox (see the module). `step` is also what `telemetry sync` runs."""

    def __init__(
        self,
        outbox: Outbox,
        api: Callable[[], ServiceApi],
        *,
        batch_entries: int = 256,
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
        """`adopt_dead`."""
        return adopt_dead(self.outbox)

    def finish(self) -> None:
        """At exit, or at the end of `telemetry sync`: `finish_outbox`."""
        finish_outbox(self.outbox)

    # -- delivering until told to stop ---------------------------------------------------

    def run(self, pace: Pace) -> None:
        """Deliver until `pace` says stop: ship while there is something to ship, wait
        when there is not, back off while the service cannot take a batch."""
        failures = 0
        while not pace.stopped():
            try:
                self.upkeep()
                pace.before_pass()
                shipped = self.step()
            except Exception as error:  # a bug or a disk error must not end delivery
                self._metrics.swallowed(f"outbox.courier.{type(error).__name__}", error, "background delivery failed; retrying")
                self.unavailable, shipped = None, False
                failures += 1
            else:
                if self.unavailable is not None:
                    self._unavailable(self.unavailable)
                failures = 0 if self.unavailable is None else failures + 1
            pace.after_pass(self)
            if failures:
                pace.pause(backoff_delay(failures, *self._backoff, self._rng))
            elif not shipped:
                pace.idle()

    def _unavailable(self, outcome: Outcome) -> None:
        """Count a batch the service could not take, and say why once per kind (a wrong
        token is the configuration's fault and is worded as such)."""
        self._metrics.increment("outbox.unavailable")
        if isinstance(outcome, Refused) and outcome.status_code in (401, 403):
            self._metrics.swallowed("outbox.unauthorized", outcome.reason, _UNAUTHORIZED)
        else:
            reason = outcome.reason if isinstance(outcome, (Unavailable, Refused)) else str(outcome)
            self._metrics.swallowed("outbox.service", reason, "API unavailable, keeping runs in the outbox until it answers")


def adopt_dead(outbox: Outbox) -> int:
    """Take over the segments of dead processes; how many were adopted."""
    directory = outbox.directory
    held = {segment.path for segment in outbox.segments}
    adopted = 0
    for path in reversed(segment_paths(directory)):  # adopted ones go first: oldest at the front
        if path in held:
            continue
        segment = adopt_segment(path)
        if segment is None:
            continue
        outbox.adopt(segment)
        adopted += 1
    if adopted:
        outbox.metrics.increment("outbox.adopted", adopted)
    remove_orphans(directory)
    return adopted


def finish_outbox(outbox: Outbox) -> None:
    """No more writes; remove what is all settled, fsync the rest and let go of segments
    this process does not write (free for the next taker)."""
    outbox.seal_all()
    now = time.monotonic()
    for segment in list(outbox.segments):
        try:
            size = segment.size()
            # A segment a live agent writes (its courier process's) is the agent's to remove.
            if segment.acked >= size and (segment.own or segment.final(now)):
                outbox.forget(segment, size)
                segment.remove()
                continue
            segment.sync()
            if not segment.own:
                outbox.forget(segment, size)
                segment.close()
        except OSError as error:
            outbox.metrics.swallowed("outbox.finish", error, "could not fsync the outbox at exit")


def _frame_size(segment: Segment, start: int) -> int:
    """The size of the frame at `start` by its header (0 if there is no header of ours):
    a batch read must hold at least one whole frame, however large."""
    header = segment.read(start, HEADER_SIZE)
    if len(header) < HEADER_SIZE:
        return 0
    magic, length, _ = HEADER.unpack(header)
    return HEADER_SIZE + length if magic == MAGIC else 0

