"""Sync: the delivery of a buffer directory into the service, by the `telemetry sync`
command or the client's background thread. `worker` runs passes; `passes` holds one pass's
state, which receives the verdict on each entry; `fold` folds a run's entries into one
record; `send` puts a window on the wire; `commits` delivers commits known by run id;
`background` is the client's sync thread; `command` is `telemetry sync`."""

from telemetry.shell.sync.worker import SyncReport, SyncWorker

__all__ = ["SyncReport", "SyncWorker"]
