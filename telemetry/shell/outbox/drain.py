"""`telemetry sync`'s part of the outbox: adopt every segment whose process is gone and
deliver it until it is empty or the service cannot take more; and, for sync's rule on
commits buffered by run id, which runs still wait in the outbox, whoever holds them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import orjson

from telemetry.shell.outbox.courier import Courier
from telemetry.shell.outbox.entries import EntryFormatError, parse_header
from telemetry.shell.outbox.frames import Frame, frames
from telemetry.shell.outbox.segments import LEDGER_SUFFIX, OUTBOX_DIR, segment_paths
from telemetry.shell.outbox.writer import Outbox
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.service_api import ServiceApi

_COUNTS = ("delivered", "duplicates", "rejected", "quarantined")


@attrs.frozen
class OutboxReport:
    """What one drain did: entries settled (acknowledged, duplicates, rejected, quarantined),
    the segments of dead processes it could not finish (a live process's segments are its
    own to deliver), and the reason delivery stopped if the service could not take a batch."""

    delivered: int = 0
    duplicates: int = 0
    rejected: int = 0
    quarantined: int = 0
    segments_left: int = 0
    unavailable: str | None = None


def drain_outbox(buffer_dir: Path, api: ServiceApi, metrics: SelfMetrics | None = None) -> OutboxReport:
    """Deliver the segments of dead processes in `buffer_dir`'s outbox (see the module)."""
    metrics = metrics or SelfMetrics()
    before = {name: metrics.count(f"outbox.{name}") for name in _COUNTS}
    courier = Courier(Outbox(buffer_dir, metrics), lambda: api)
    try:
        courier.adopt()
        while courier.step():
            pass
        reason = getattr(courier.unavailable, "reason", None)
    except OSError as error:  # the outbox cannot be read or the ledger written: said, never raised
        reason = f"outbox: {error}"
    left = len(courier.outbox.segments)
    courier.finish()
    counts = {name: metrics.count(f"outbox.{name}") - before[name] for name in _COUNTS}
    return OutboxReport(**counts, segments_left=left, unavailable=reason)


def unsettled_entries(buffer_dir: Path) -> Iterator[tuple[tuple[str, ...], bytes]]:
    """(columns, payload) of every entry of the outbox past its segment's ledger, oldest
    segment first, whoever holds the segment (a live process or none). Reads the segments
    whole: for rare questions, not for delivery."""
    for path in segment_paths(Path(buffer_dir) / OUTBOX_DIR):
        try:
            data = Path(path).read_bytes()
            ledger = Path(path + LEDGER_SUFFIX).read_bytes() if Path(path + LEDGER_SUFFIX).exists() else b""
        except OSError:  # removed meanwhile: settled
            continue
        acked = int.from_bytes(ledger[:8], "little") if len(ledger) >= 8 else 0
        found = [item for item in frames(data, 0, final=True) if isinstance(item, Frame)]
        try:
            columns = parse_header(found[0].payload) if found else ()
        except EntryFormatError:
            continue
        yield from ((columns, frame.payload) for frame in found[1:] if frame.start >= acked)


def waiting_run_ids(buffer_dir: Path) -> frozenset[str]:
    """The run ids of the creates and updates no one has settled yet in the outbox: whether
    a run not on the service yet is still on its way."""
    run_ids = set()
    for columns, payload in unsettled_entries(buffer_dir):
        try:
            run_ids.add(orjson.loads(payload)[2][columns.index("run_id")])
        except (orjson.JSONDecodeError, IndexError, TypeError, ValueError):
            continue  # not an entry: the courier quarantines or rejects it
    return frozenset(run_ids)
