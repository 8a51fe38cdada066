"""The courier process's program (`python -m telemetry.shell.outbox.courier_main`, started by
`courier_process.CourierProcess`): the same `Courier` as the delivery thread, paced by its
stdin instead of an event. Its stdin brings the settings (first line), then the news of
the agent's segments (`{"news": "watch"|"seal"|"adopted", "path": ...}`), and its end
says stop. Between passes it waits on its stdin for `POLL_S` (the agent's appends wake no
one: a write to a pipe per append would cost the agent a system call). After each pass it
reports its counters and the warnings it logged on its stdout, one JSON line, when they
changed and the pipe has room (never waiting for the agent to read); the agent logs the
warnings in its own logging."""

from __future__ import annotations

import logging
import os
import select
import sys
from pathlib import Path
from typing import Any

import orjson

from telemetry.shell.outbox.courier import Courier
from telemetry.shell.outbox.segments import watch_segment
from telemetry.shell.outbox.writer import Outbox
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.service_api import ServiceApi

POLL_S = 0.003


class Control:
    """The courier process's stdin: settings, then news of the agent's segments, then its end."""

    def __init__(self, descriptor: int) -> None:
        self._descriptor = descriptor
        self._partial = b""
        self._unread: list[dict[str, Any]] = []
        self.ended = False

    def messages(self, timeout_s: float) -> list[dict[str, Any]]:
        """The messages that arrived within `timeout_s` (none once the input ended)."""
        if not self._unread and not self.ended and select.select([self._descriptor], [], [], timeout_s)[0]:
            data = os.read(self._descriptor, 1 << 16)
            self.ended = not data
            lines = (self._partial + data).split(b"\n")
            self._partial = lines.pop()
            self._unread += [orjson.loads(line) for line in lines if line]
        read, self._unread = self._unread, []
        return read

    def first(self) -> dict[str, Any] | None:
        """The settings line (waits for it); None if the input ended first."""
        while not self.ended:
            read = self.messages(1.0)
            if read:
                self._unread = read[1:]
                return read[0]
        return None


class Warnings(logging.Handler):
    """The warnings logged here, kept until a report that carries them is on its way."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.pending: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.pending.append((record.levelno, record.getMessage()))


class ProcessPace:
    """The courier's pace in its own process: polls, takes the agent's news, reports."""

    def __init__(self, control: Control, outbox: Outbox, metrics: SelfMetrics, reports: int, warnings: Warnings) -> None:
        self._control = control
        self._warnings = warnings
        self._outbox = outbox
        self._metrics = metrics
        self._reports = reports
        self._said = b""
        self._queued = b""  # the latest report, not out yet
        self._queued_warnings = 0  # how many of the pending warnings it carries
        self._tail = b""  # what a short write left of the line being written

    def stopped(self) -> bool:
        return self._control.ended

    def before_pass(self) -> None:
        self._wait(0.0)

    def after_pass(self, courier: Courier) -> None:
        logs = list(self._warnings.pending)
        report = orjson.dumps({"counts": self._metrics.snapshot(), "unavailable": courier.unavailable is not None, "logs": logs})
        if report != self._said:
            self._said, self._queued, self._queued_warnings = report, report + b"\n", len(logs)
        self._report()

    def idle(self) -> None:
        self._wait(POLL_S)

    def pause(self, seconds: float) -> None:
        self._wait(seconds)

    def _wait(self, seconds: float) -> None:
        for message in self._control.messages(seconds):
            self._news(message)
        self._report()

    def _news(self, message: dict[str, Any]) -> None:
        path, news = message["path"], message["news"]
        held = {segment.path: segment for segment in self._outbox.segments}
        if news == "seal":
            if path in held:
                held[path].seal()
            return
        if path in held:
            return  # told again (a race of its start with a new segment)
        segment = watch_segment(path, sealed=news == "adopted")
        if segment is not None:
            self._outbox.adopt(segment) if news == "adopted" else self._outbox.watch(segment)

    def _report(self) -> None:
        """The latest report, as far as the pipe has room; a line cut short by a full pipe
        is finished first (the agent reads whole lines)."""
        try:
            while self._tail or self._queued:
                if not self._tail:
                    self._tail, self._queued = self._queued, b""
                    del self._warnings.pending[: self._queued_warnings]  # on their way
                    self._queued_warnings = 0
                self._tail = self._tail[os.write(self._reports, self._tail) :]
        except BlockingIOError:
            pass  # the agent has not read; the next pass tries again


def main() -> int:
    warnings = Warnings()
    logger = logging.getLogger("telemetry")
    logger.addHandler(warnings)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the agent logs them, not this process's stderr
    control = Control(sys.stdin.fileno())
    settings = control.first()
    if settings is None:
        return 0
    metrics = SelfMetrics()
    outbox = Outbox(Path(settings["buffer_dir"]), metrics)
    api = ServiceApi(
        settings["api_url"],
        settings["api_token"],
        connect_timeout=settings["connect_timeout_s"],
        read_timeout=settings["read_timeout_s"],
    )
    courier = Courier(outbox, lambda: api, fsync_interval_s=settings["fsync_interval_s"])
    reports = sys.stdout.fileno()
    os.set_blocking(reports, False)
    pace = ProcessPace(control, outbox, metrics, reports, warnings)
    pace.after_pass(courier)  # the first report: the agent knows this process runs
    try:
        courier.run(pace)
    finally:
        courier.finish()
        pace.after_pass(courier)
        api.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
