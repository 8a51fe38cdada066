"""Background threads and their lifecycle: none at import, each started lazily on first
use, daemon, forgotten and restarted in a forked child, and drained at interpreter exit
within a budget (what is still undelivered then is on disk, never dropped silently).
Every client's exit hook measures its budget from one moment, the start of interpreter exit,
so several clients in one process still exit within the largest budget, not their sum.

A background worker is anything with `ensure_started`, `drain` and `after_fork`; the
client adds each one to its `Lifecycle` in one line."""

from __future__ import annotations

import atexit
import os
import random
import threading
import time
import weakref
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from telemetry.shell.edge import seconds
from telemetry.shell.self_metrics import SelfMetrics

T = TypeVar("T")
EXIT_TEARDOWN_RESERVE_S = 0.25
# When the first exit hook of this process ran (time.monotonic); None until then.
_exit_started: float | None = None


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Exponential backoff with jitter, the one retry wait of the client, sync and export:
    a random wait in [d/2, d], d = min(cap, base * 2**(attempt-1)), so workers that saw
    the same outage do not come back in step."""
    ceiling = min(cap_s, base_s * 2 ** min(max(attempt - 1, 0), 32))
    return rng.uniform(ceiling / 2, ceiling)


class Worker(Protocol):
    """A background worker the lifecycle starts, drains and resets."""

    def ensure_started(self) -> None:
        """Start the worker's thread unless it runs in this process already (cheap)."""

    def drain(self, deadline: float) -> None:
        """Finish or save pending work before `deadline` (time.monotonic), then stop."""

    def after_fork(self) -> None:
        """In a forked child: forget the parent's threads, locks and queued work."""


class PerProcess(Generic[T]):
    """A value built on first use in each process (a thread, a connection pool, a worker):
    a pid check notices a fork even without the at-fork hook, and the child builds its own.
    A build that raises leaves nothing behind, so the next `get` tries again."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is not None and self._pid == os.getpid():
            return value
        with self._lock:
            if self._value is None or self._pid != os.getpid():
                self._value, self._pid = self._build(), os.getpid()
            return self._value

    def current(self) -> T | None:
        """The value built in this process, if any (never the parent's)."""
        value = self._value
        return value if value is not None and self._pid == os.getpid() else None

    def forget(self) -> None:
        """Drop the value (in a forked child, or once it is closed)."""
        self._value = None
        self._lock = threading.Lock()


class LazyThread:
    """One daemon thread running `target`, started on first `ensure_started()` in each
    process."""

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        self._thread = PerProcess(lambda: _started(threading.Thread(target=target, name=name, daemon=True)))

    def ensure_started(self) -> None:
        self._thread.get()

    def join(self, deadline: float) -> bool:
        """Wait for the thread to end, until `deadline`; True if it ended (or never ran)."""
        thread = self._thread.current()
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(max(0.0, deadline - time.monotonic()))
        return not thread.is_alive()

    def after_fork(self) -> None:
        self._thread.forget()


def _started(thread: threading.Thread) -> threading.Thread:
    thread.start()
    return thread


class Lifecycle:
    """The client's background workers: started together on first use, reset in a forked
    child, drained in order at `close()` or interpreter exit within `exit_budget_s`. A
    worker that fails to start or drain is counted and logged once, never raised."""

    def __init__(self, exit_budget_s: float, metrics: SelfMetrics) -> None:
        self._exit_budget_s = exit_budget_s
        self._metrics = metrics
        self._workers: list[Worker] = []
        self._fork_hooks: list[Callable[[], None]] = []
        self._closed = False
        self._all_started = False
        # A strong reference on purpose: lines queued by a client the agent dropped are
        # still written at exit. The fork hook must not keep the lifecycle alive.
        atexit.register(self.at_exit)
        os.register_at_fork(after_in_child=weak_callback(self.after_fork))

    def add(self, worker: Worker) -> None:
        self._workers.append(worker)

    def on_fork(self, reset: Callable[[], None]) -> None:
        """Also run `reset` in a forked child (for parts that hold locks or sockets)."""
        self._fork_hooks.append(reset)

    def ensure_started(self) -> None:
        """Start every worker; one that cannot (no thread to be had) is tried again next time.
        Once all are started in this process, a flag (reset at fork and close) spares every
        later run the workers' pid checks, a system call each."""
        if self._all_started:
            return
        started = True
        for worker in self._workers:
            try:
                worker.ensure_started()
            except Exception as error:
                started = False
                self._metrics.swallowed(
                    f"thread_start.{type(worker).__name__}", error, "could not start a background thread; it is tried again at the next run"
                )
        self._all_started = started and not self._closed

    def close(self, budget_s: object = None) -> None:
        """Drain every worker within `budget_s` (None, or anything but a number >= 0: the
        exit budget), once; the first ones (files) come first."""
        self._close(time.monotonic() + self.budget(budget_s, "close"))

    def budget(self, budget_s: object, method: str) -> float:
        """`budget_s` as seconds to wait; the exit budget for None, and (warned about)
        for anything but a number >= 0."""
        seconds = self._exit_budget_s if budget_s is None else _wait_seconds(budget_s)
        if seconds is None:
            self._metrics.swallowed(
                f"{method}.budget",
                f"a {method} budget of type {type(budget_s).__name__} is not a number >= 0;"
                f" the exit budget ({self._exit_budget_s} s) is used instead",
                f"{method}() was given an unusable budget",
            )
            seconds = self._exit_budget_s
        return seconds

    def at_exit(self) -> None:
        # The budget bounds the whole exit, counted from its start (shared by every client),
        # and draining stops a little early so the interpreter's own teardown fits in it.
        global _exit_started
        if _exit_started is None:
            _exit_started = time.monotonic()
        self._close(_exit_started + max(0.0, self._exit_budget_s - EXIT_TEARDOWN_RESERVE_S))

    def _close(self, deadline: float) -> None:
        if self._closed:
            return
        self._closed = True
        self._all_started = False
        atexit.unregister(self.at_exit)
        for worker in self._workers:
            try:
                worker.drain(deadline)
            except Exception as error:
                self._metrics.swallowed(f"drain.{type(worker).__name__}", error, "a background task could not finish at close")

    def after_fork(self) -> None:
        self._all_started = False
        for reset in self._fork_hooks:
            reset()
        for worker in self._workers:
            worker.after_fork()


def _wait_seconds(value: object) -> float | None:
    """`value` as a number of seconds one can wait for, or None if it is not a number >= 0
    (NaN, a string, a bool...); an endless wait is capped at what a lock can wait."""
    number = seconds(value)
    return None if number is None or number < 0 else min(number, threading.TIMEOUT_MAX)


def weak_callback(method: Callable[[], None]) -> Callable[[], None]:
    """A callable that runs the bound `method` while its object lives, and does nothing once
    it is gone: hooks that must not keep their object alive."""
    reference = weakref.WeakMethod(method)

    def call() -> None:
        alive = reference()
        if alive is not None:
            alive()

    return call
