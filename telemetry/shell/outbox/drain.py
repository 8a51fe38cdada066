"""`telemetry sync`'s part of the outbox: adopt every segment whose process is gone and
deliver it until it is empty or the service cannot take more."""

from __future__ import annotations

from pathlib import Path

import attrs

from telemetry.shell.outbox.courier import Courier
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
