"""The interpreter's `EffectObserver` against the real service and real files: one call per
effect, with what became of it (delivered -> done, service unreachable -> fell_back,
refused with 422 -> refused, a performer that raised -> failed)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetry.effects.records import BufferEntry, RunRecord
from telemetry.effects.vocabulary import AppendBuffer, AppendNdjson, Effect, IncrementMetric, PostRun
from telemetry.shell.blocking_port import BufferSink
from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.delivery import SyncDelivery
from telemetry.shell.interpreter import Interpreter
from telemetry.shell.ndjson import NdjsonWriter
from telemetry.shell.observer import Performed
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.service_link import ServiceLink
from tests.shell.helpers import buffer_entries, fast_config, stored_runs
from tests.support.receiver import closed_port_url
from tests.support.service import ServiceProcess


class Recorder:
    """An `EffectObserver` that keeps what it was told."""

    def __init__(self) -> None:
        self.seen: list[tuple[type, Performed]] = []

    def performed(self, effect: Effect, outcome: Performed) -> None:
        self.seen.append((type(effect), outcome))


class Parts:
    """An interpreter on the sync delivery, with its buffer at `buffer_dir`."""

    def __init__(self, url: str, base: Path, buffer_dir: Path) -> None:
        self.metrics = SelfMetrics()
        self.link = ServiceLink(fast_config(url, base_dir=base), self.metrics)
        self.sink = BufferSink(BufferDirectory(buffer_dir), self.metrics)
        self.ndjson = NdjsonWriter(base / "ndjson", 0.05, 100, self.metrics)
        self.observer = Recorder()
        delivery = SyncDelivery(self.link, self.sink, self.metrics)
        self.interpreter = Interpreter(delivery, self.sink, self.ndjson, None, self.metrics, self.observer)

    def close(self) -> None:
        self.ndjson.drain(time.monotonic() + 1.0)
        self.link.close()


@pytest.fixture
def parts_for(tmp_path: Path) -> Iterator[type[Parts]]:
    built: list[Parts] = []

    class Built(Parts):
        def __init__(self, url: str, buffer_dir: Path | None = None) -> None:
            super().__init__(url, tmp_path / "base", buffer_dir or tmp_path / "buffer")
            built.append(self)

    yield Built
    for parts in built:
        parts.close()


def _post_run(start_time: str = "2026-01-01T00:00:00+00:00") -> PostRun:
    record = RunRecord(f"observed-{time.time_ns()}", f"observed-run-{time.time_ns()}", "agent", "job", start_time)
    return PostRun(record, AppendBuffer(BufferEntry("create", record)))


def test_a_delivered_run_and_the_effects_beside_it_are_done(parts_for: type[Parts], shared_service: ServiceProcess) -> None:
    parts = parts_for(shared_service.url)
    effect = _post_run()
    parts.interpreter.run([effect, AppendNdjson("run_start", effect.record), IncrementMetric("observed")])
    assert parts.observer.seen == [(PostRun, "done"), (AppendNdjson, "done"), (IncrementMetric, "done")]
    assert [row["event_id"] for row in stored_runs(shared_service.url, effect.record.run_id)] == [effect.record.event_id]


def test_a_run_the_service_cannot_take_fell_back_to_the_buffer(parts_for: type[Parts], tmp_path: Path) -> None:
    parts = parts_for(closed_port_url())
    parts.interpreter.run([_post_run(), _post_run()])  # the second finds the breaker open
    assert parts.observer.seen == [(PostRun, "fell_back"), (PostRun, "fell_back")]
    assert len(buffer_entries(tmp_path / "buffer")) == 2


def test_a_run_the_service_refuses_is_refused_and_kept_in_rejected(
    parts_for: type[Parts], shared_service: ServiceProcess, tmp_path: Path
) -> None:
    parts = parts_for(shared_service.url)
    parts.interpreter.run([_post_run(start_time="not a time")])
    assert parts.observer.seen == [(PostRun, "refused")]
    assert "HTTP 422" in next((tmp_path / "buffer" / "rejected").glob("*.reason.txt")).read_text()


def test_a_performer_that_raised_failed(parts_for: type[Parts], tmp_path: Path) -> None:
    occupied = tmp_path / "occupied"
    occupied.write_text("a file where the buffer directory should be")
    parts = parts_for(closed_port_url(), buffer_dir=occupied / "buffer")
    effect = _post_run()
    parts.interpreter.run([AppendBuffer(BufferEntry("create", effect.record)), effect])
    # The buffer entry cannot be written: its performer raised; the run's fallback wrote nothing.
    assert parts.observer.seen == [(AppendBuffer, "failed"), (PostRun, "failed")]
    assert parts.metrics.count("delivery.fallback.unavailable") == 1
