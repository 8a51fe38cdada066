"""The shell's parts for one client, wired together: NDJSON writer, service link and
breaker, buffer, delivery (synchronous, or background through the outbox), export lane,
heartbeat, background sync, the effect log, the interpreter that uses them, and the lifecycle that starts,
drains and resets their threads."""

from __future__ import annotations

from collections.abc import Callable

from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.config import TelemetryConfig
from telemetry.shell.blocking_port import BufferSink
from telemetry.shell.delivery import SyncDelivery
from telemetry.shell.effect_log import EffectLog
from telemetry.shell.export import ExportLane
from telemetry.shell.heartbeat import HeartbeatWorker
from telemetry.shell.interpreter import Interpreter
from telemetry.shell.observer import EffectObserver, observers
from telemetry.shell.ndjson import NdjsonWriter
from telemetry.shell.outbox import Courier, Outbox, OutboxWorker
from telemetry.shell.outbox.courier_process import CourierProcess
from telemetry.shell.outbox.delivery import BackgroundDelivery
from telemetry.shell.outbox.segments import segment_paths
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.service_link import ServiceLink
from telemetry.shell.sync.background import BackgroundSync
from telemetry.shell.sync.worker import SyncWorker
from telemetry.shell.workers import Lifecycle


class Runtime:
    """Everything a `TelemetryClient` runs its effects with."""

    def __init__(
        self, config: TelemetryConfig, metrics: SelfMetrics, beat: Callable[[], None], observer: EffectObserver | None = None
    ) -> None:
        self.ndjson = NdjsonWriter(
            config.ndjson_dir, config.ndjson_flush_interval_s, config.ndjson_queue_lines, metrics
        )
        self.link = ServiceLink(config, metrics)
        # Background delivery with no usable service URL: all waits in the buffer, for sync.
        self._undeliverable = config.delivery == "background" and not self.link.has_service
        self.sink = BufferSink(BufferDirectory(config.buffer_dir, config.buffer_fsync), metrics)
        self.export = _export_lane(config, metrics)
        self.outbox: OutboxWorker | CourierProcess | None = None
        if config.delivery == "background" and self.link.has_service:  # no service: all goes to the buffer
            self.outbox = _outbox_worker(config, self.link, metrics)
        direct = SyncDelivery(self.link, self.sink, metrics, None if self.outbox is None else self.outbox.waiting)
        delivery = direct if self.outbox is None else BackgroundDelivery(self.outbox, self.sink, direct, metrics)
        self.effect_log = _effect_log(config, metrics)
        # Told what became of every effect (the async client tells it of those it awaits).
        self.observer = observers(observer, self.effect_log)
        self.interpreter = Interpreter(delivery, self.sink, self.ndjson, self.export, metrics, self.observer)
        self.lifecycle = Lifecycle(config.exit_budget_s, metrics)
        # Drained in this order at exit: the backup file first, then the outbox, then the export.
        self.lifecycle.add(self.ndjson)
        if self.outbox is not None:
            self.lifecycle.add(self.outbox)
        if self.export is not None:
            self.lifecycle.add(self.export)
        self.lifecycle.add(HeartbeatWorker(config.heartbeat_interval_s, beat, metrics))
        if self.effect_log is not None:  # last: it logs what the ones before it performed
            self.lifecycle.add(self.effect_log)
        # Without a service there is nothing to sync to: the buffer waits for `telemetry sync`.
        sync_interval_s = config.sync_interval_s if self.link.has_service else 0.0
        self.lifecycle.add(BackgroundSync(lambda: _sync_worker(self, metrics), sync_interval_s, metrics))
        self.lifecycle.on_fork(self.link.after_fork)
        self.lifecycle.on_fork(metrics.reset_after_fork)

    def adopt_leftovers(self) -> None:
        """In background mode, start delivering at once if the outbox holds segments (a
        dead process's, to adopt), not only at this client's first run."""
        if self.outbox is not None and segment_paths(self.outbox.outbox.directory):
            self.outbox.adopt()  # now, so that a `flush()` right away waits for them too
            self.lifecycle.ensure_started()

    def flush(self, timeout_s: float) -> bool:
        """Wait until what was accepted is acknowledged (background mode) or `timeout_s` passes;
        with no service to deliver to, True only if nothing waits in the buffer."""
        if self._undeliverable:
            return not self.sink.directory.holds_runs()
        return True if self.outbox is None else self.outbox.flush(timeout_s)

    def close(self, budget_s: object = None) -> None:
        self.lifecycle.close(budget_s)
        self.link.close()


def _sync_worker(runtime: Runtime, metrics: SelfMetrics) -> SyncWorker:
    """The background sync, with this process's `ServiceApi` (short timeouts, so batches
    stay small)."""
    return SyncWorker(runtime.sink.directory, runtime.link.api, window=500, batch_size=100, metrics=metrics)


def _outbox_worker(config: TelemetryConfig, link: ServiceLink, metrics: SelfMetrics) -> OutboxWorker | CourierProcess:
    outbox = Outbox(
        config.buffer_dir, metrics, segment_bytes=config.outbox_segment_bytes, limit_bytes=config.outbox_limit_bytes
    )
    if config.courier == "thread":
        return OutboxWorker(Courier(outbox, lambda: link.api, fsync_interval_s=config.outbox_fsync_interval_s))
    settings = {
        "buffer_dir": str(outbox.directory.parent),  # absolute: it runs in another directory
        "api_url": config.api_url,
        "api_token": config.api_token,
        "connect_timeout_s": config.connect_timeout_s,
        "read_timeout_s": config.read_timeout_s,
        "fsync_interval_s": config.outbox_fsync_interval_s,
    }
    return CourierProcess(outbox, settings, lambda: link.api, metrics)


def _effect_log(config: TelemetryConfig, metrics: SelfMetrics) -> EffectLog | None:
    if config.effect_log is None:
        return None
    return EffectLog(config.effect_log, config.effect_log_max_bytes, config.effect_log_backups, metrics)


def _export_lane(config: TelemetryConfig, metrics: SelfMetrics) -> ExportLane | None:
    if not config.export_active or config.export_url is None:
        return None
    return ExportLane(
        config.export_url,
        config.export_token,
        capacity=config.export_queue_size,
        max_attempts=config.export_max_attempts,
        timeout_s=config.export_timeout_s,
        backoff_s=config.export_backoff_s,
        metrics=metrics,
    )
