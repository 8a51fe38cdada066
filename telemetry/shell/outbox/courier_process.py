"""`CourierProcess`: the outbox's courier in a process of its own (configuration `courier`,
the default): the agent's process only appends. A delivery thread in the agent's process
takes the interpreter lock at every turn of its loop and of each request, and every such
turn slows the agent's own thread; measured in bench/README.md, a start+end pair costs the
agent about twice the CPU with the thread delivering beside it.

The agent's side, here: the process (`python -m telemetry.shell.outbox.courier_main`) is
started at the first append, in a session of its own (a Ctrl-C meant for the agent does not
cut its exit short), told its settings on its stdin, then every segment this process
starts, seals or adopts (`Outbox.listener`). It writes the ledgers; `flush` and the exit
read them (`Outbox.refresh`). Its counters come back as JSON lines on its stdout, read
without waiting, and are part of the client's `self_metrics()`. It stops when its stdin
ends: the client's exit closes it, or the agent died and the kernel did. If it exits
otherwise, the next append after a check (at most once a second) starts another, with a
growing delay when they keep exiting. If none can be started at all (no executable Python,
a sandbox that forbids it), or `_SILENT_EXITS` in a row exit before their first report
(`sys.executable` is not a Python that has this package: an embedding program), the
courier runs on a thread of this process instead (`worker.OutboxWorker`), as with
`courier="thread"`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

import telemetry
from telemetry.shell.buffer_claims import close_in_forked_child, forget_descriptor
from telemetry.shell.outbox.courier import Courier, adopt_dead, finish_outbox
from telemetry.shell.outbox.segments import Segment
from telemetry.shell.outbox.worker import OutboxWorker, wait_until_settled
from telemetry.shell.outbox.writer import Outbox, SegmentNews
from telemetry.shell.self_metrics import LOGGER, SelfMetrics
from telemetry.shell.service_api import ServiceApi

_CHECK_S = 1.0  # how often an append looks whether the courier process still runs
_LIVED_S = 10.0  # one that ran this long before exiting starts a new row of exits
_RESTART_CAP_S = 60.0
_SILENT_EXITS = 3
_STOP_WAIT_S = 0.05  # the least the exit waits for it to finish its batch
_PACKAGE_ROOT = str(Path(telemetry.__file__).resolve().parents[1])


class CourierProcess:
    """The outbox worker whose courier runs in another process (see the module)."""

    def __init__(
        self, outbox: Outbox, settings: Mapping[str, Any], api: Callable[[], ServiceApi], metrics: SelfMetrics
    ) -> None:
        self.outbox = outbox
        self._settings = dict(settings)
        self._api = api
        self._metrics = metrics
        self._lock = threading.Lock()
        self._thread: OutboxWorker | None = None  # the courier's thread, if no process can start
        self._reset()
        outbox.listener = self._tell
        metrics.add_source(self._counts)

    def _reset(self) -> None:
        self._child: subprocess.Popen[bytes] | None = None
        self._stdin = self._stdout = -1
        self._started_at = 0.0
        self._check_at = 0.0
        self._exits = 0  # in a row, each soon after its start
        self._silent_exits = 0  # in a row, each before its first report
        self._heard = False  # from the one running now
        self._partial = b""
        self._report: dict[str, Any] = {}
        self._retired: Counter[str] = Counter()  # the counters of the ones that exited

    @property
    def unavailable(self) -> bool:
        """Whether the service failed the courier's last batch."""
        if self._thread is not None:
            return self._thread.unavailable
        with self._lock:
            self._read_reports()
            return bool(self._report.get("unavailable"))

    def ensure_started(self) -> None:
        if self._thread is not None:
            self._thread.ensure_started()
        elif self._child is None:
            self.keep_delivering()

    def keep_delivering(self) -> None:
        """After an append: start the courier process, or another if it exited (checked
        at most once a second: a clock read per append otherwise)."""
        now = time.monotonic()
        if now < self._check_at or self._thread is not None:
            return
        with self._lock:
            self._check_at = now + _CHECK_S
            child = self._child
            if child is not None:
                if child.poll() is None:
                    self._read_reports()  # its warnings, within a second
                    return
                self._exited(child, now)
                if self._silent_exits < _SILENT_EXITS:
                    return  # another is started at a later check
            started = self._silent_exits < _SILENT_EXITS and self._start(now)
        if started:
            self.outbox.tell_all()  # not under this lock: the outbox tells under its own
        else:
            self._deliver_from_thread()

    def _deliver_from_thread(self) -> None:
        if self._silent_exits >= _SILENT_EXITS:
            self._metrics.swallowed(
                "outbox.courier_silent", f"{sys.executable} -m telemetry.shell.outbox.courier_main exits before it runs",
                "no courier process runs; delivering from a thread instead",
            )  # fmt: skip
        self._thread = OutboxWorker(Courier(self.outbox, self._api, fsync_interval_s=self._settings["fsync_interval_s"]))
        self._thread.ensure_started()

    def _exited(self, child: subprocess.Popen[bytes], now: float) -> None:
        """Count an exit and keep its counters; a courier process that keeps exiting soon
        after its start is started again later and later."""
        self._read_reports()
        self._silent_exits = 0 if self._heard else self._silent_exits + 1
        self._retire()
        self._exits = self._exits + 1 if now - self._started_at < _LIVED_S else 1
        self._check_at = now + min(_RESTART_CAP_S, 0.5 * 2 ** (self._exits - 1))
        self._metrics.increment("outbox.courier_exits")
        self._metrics.swallowed(
            "outbox.courier_exited", f"exit code {child.returncode}", "the courier process exited; another delivers the outbox"
        )

    def _start(self, now: float) -> bool:
        control, self_end = os.pipe()
        reports_end, reports = os.pipe()
        environment = dict(os.environ)
        # The agent may import telemetry from a path of its own making (sys.path); and `-m`
        # puts the working directory first on the path, so that is this package's too
        # (an agent's own `telemetry` module there would otherwise be the one imported).
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, (_PACKAGE_ROOT, environment.get("PYTHONPATH"))))
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "telemetry.shell.outbox.courier_main"],
                stdin=control,
                stdout=reports,
                cwd=_PACKAGE_ROOT,
                env=environment,
                start_new_session=True,
            )
        except OSError as error:
            for descriptor in (control, self_end, reports_end, reports):
                _close(descriptor)
            self._metrics.swallowed("outbox.courier_start", error, "could not start the courier process; delivering from a thread instead")
            return False
        _close(control)
        _close(reports)
        os.set_blocking(reports_end, False)
        for descriptor in (self_end, reports_end):
            close_in_forked_child(descriptor)  # a forked child's copy would keep them open
        self._child, self._stdin, self._stdout, self._started_at = child, self_end, reports_end, now
        self._heard = False
        self._send(self._settings)
        return True

    def _tell(self, news: SegmentNews, segment: Segment) -> None:
        """The outbox's listener: pass the news on, if a courier process runs (one that
        starts later is told of every segment held)."""
        with self._lock:
            self._send({"news": news, "path": segment.path})

    def _send(self, message: Mapping[str, Any]) -> None:
        """One line to its stdin, if it runs (under the lock: `_stop` closes it)."""
        if self._stdin < 0:
            return
        try:
            os.write(self._stdin, orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE))
        except OSError:
            pass  # it exited: the next check starts another, which is told everything

    def _read_reports(self) -> None:
        """Take the reports it wrote since the last read (under the lock): the warnings
        each carries are logged here, in the agent's logging; the last one's counters
        say it all."""
        while self._stdout >= 0:
            try:
                data = os.read(self._stdout, 1 << 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                return
            lines = (self._partial + data).split(b"\n")
            self._partial = lines.pop()
            for line in lines:
                try:
                    self._report = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                self._heard = True
                for level, message in self._report.get("logs", ()):
                    LOGGER.log(level, "%s", message)

    def _retire(self) -> None:
        self._retired.update(self._report.get("counts", {}))
        self._report, self._partial = {}, b""
        for descriptor in (self._stdin, self._stdout):
            if descriptor >= 0:
                _close(descriptor)
        self._child, self._stdin, self._stdout = None, -1, -1

    def _counts(self) -> Mapping[str, int]:
        """Its counters, and those of the ones before it, for `self_metrics()`."""
        with self._lock:
            self._read_reports()
            counts = Counter(self._retired)
            counts.update(self._report.get("counts", {}))
            return counts

    def adopt(self) -> None:
        """Take over the segments of dead processes now (a `flush()` waits for them); the
        courier process delivers them."""
        adopt_dead(self.outbox)

    def flush(self, timeout_s: float, while_reachable: bool = False) -> bool:
        """`wait_until_settled`; `while_reachable`: stop waiting as soon as the service fails
        a batch (at exit)."""
        if self._thread is not None:
            return self._thread.flush(timeout_s, while_reachable)
        self.outbox.refresh()
        if not self.outbox.settled(self.outbox.marks()):
            self.ensure_started()

        def going_on() -> bool:
            self.keep_delivering()
            if self._thread is not None:
                self.outbox.wake.set()
            self.outbox.refresh()
            return not (while_reachable and self.unavailable)

        return wait_until_settled(self.outbox, timeout_s, going_on)

    def waiting(self) -> bool:
        """Whether entries of this process wait in the outbox, unsettled."""
        if self._thread is not None:
            return self._thread.waiting()
        self.outbox.refresh()
        return not self.outbox.settled(self.outbox.marks())

    def drain(self, deadline: float) -> None:
        """Deliver until `deadline` at most, then stop the courier process; what is left
        stays on disk, fsynced, for the next client on this buffer directory."""
        if self._thread is not None:
            return self._thread.drain(deadline)
        if self._child is not None:
            self.flush(max(0.0, deadline - time.monotonic()), while_reachable=True)
            self._stop(deadline)
        self.outbox.refresh()
        finish_outbox(self.outbox)

    def _stop(self, deadline: float) -> None:
        """End its stdin and wait for it (its batch, its fsync) until `deadline`; then kill
        it (what it sent meanwhile is sent again later: the service takes it as a duplicate)."""
        with self._lock:
            child = self._child
            if child is None:
                return
            stdin, self._stdin = self._stdin, -1
            _close(stdin)
            try:
                child.wait(max(_STOP_WAIT_S, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            self._read_reports()
            self._retire()

    def after_fork(self) -> None:
        """In a forked child: the parent's courier process stays the parent's (the pipes were
        closed by `close_in_forked_child`); the child starts its own for its own segments."""
        self.outbox.after_fork()
        self._lock = threading.Lock()
        self._reset()
        if self._thread is not None:
            self._thread.after_fork()


def _close(descriptor: int) -> None:
    forget_descriptor(descriptor)  # its number is reused: a fork must not close that one
    os.close(descriptor)
