"""Background delivery from a durable on-disk outbox (docs/delivery.md): the caller's
thread appends each delivery entry to a segment file of its process (`writer.Outbox`), a
courier thread ships the segments to the service in batches and keeps a ledger of what
was settled (`courier.Courier`, `worker.OutboxWorker`); segments of dead processes are
adopted by the next client and by `telemetry sync` (`drain.drain_outbox`)."""

from telemetry.shell.outbox.courier import Courier
from telemetry.shell.outbox.worker import OutboxWorker
from telemetry.shell.outbox.writer import DEFAULT_LIMIT_BYTES, DEFAULT_SEGMENT_BYTES, Outbox

__all__ = ["DEFAULT_LIMIT_BYTES", "DEFAULT_SEGMENT_BYTES", "Courier", "Outbox", "OutboxWorker"]
