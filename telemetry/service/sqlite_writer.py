"""The single writer of a SQLite file: one thread takes write jobs from a queue and
commits them in groups (many requests, one transaction, one fsync). A job's result is
delivered only after its group committed, so an acknowledged write is durable.

Under concurrent load a small group waits up to `COMMIT_DELAY_S` for more jobs (the
`commit_delay` of PostgreSQL): with a few clients each waiting for its answer, committing
every request alone spends a whole fsync, and its CPU, on each. "Concurrent" means the
last group had company (more than one job) and committed just now; a lone client whose
requests come one after the other never waits, since nobody else's job would come.

A job is a function of the connection. If a job fails, the group is rolled back and its
jobs are retried one transaction each, so one failure never costs the others. If the
transaction cannot even begin (another writer kept the file locked for the whole busy
timeout), no job is at fault: the whole group fails at once, since a retry per job would
wait the busy timeout again for each."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar, cast

from telemetry.service.store import StoreUnavailable

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]
Outcome = tuple[Any, BaseException | None]
_log = logging.getLogger("telemetry.service")
_STOP = object()
COMMIT_DELAY_S = 0.0003
SMALL_GROUP = 4
# "Concurrent load": the previous group had several jobs and committed less than this ago.
BUSY_WINDOW_S = 0.005


class _Pending:
    """A queued job and where its outcome goes (an asyncio future of `loop`, or a
    concurrent future when `loop` is None)."""

    __slots__ = ("job", "future", "loop")

    def __init__(self, job: Job, future: Any, loop: asyncio.AbstractEventLoop | None) -> None:
        self.job = job
        self.future = future
        self.loop = loop


def settle(items: list[tuple[Any, Any, BaseException | None]]) -> None:
    """Answer each waiting future (future, value, error), unless its waiter is gone."""
    for future, value, error in items:
        if future.done():
            continue  # the request was cancelled (client gone); the write stands
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)


class GroupWriter:
    """Owns the write connection; `run` (async) and `run_sync` queue a job and wait for it."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], max_group_size: int) -> None:
        self._connect = connect
        self._max_group_size = max_group_size
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="telemetry-sqlite-writer", daemon=True)
        self._connection: sqlite3.Connection | None = None
        self._accepting = False
        self._lock = threading.Lock()
        self._last_commit = 0.0
        self._last_group_size = 0
        self.groups = 0
        self.jobs = 0
        self.errors: Counter[str] = Counter()

    def start(self) -> None:
        """Open the connection here, so a file that cannot be opened fails the caller."""
        self._connection = self._connect()
        self._accepting = True
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def queued(self) -> int:
        """Jobs waiting for the writer (approximate: it changes as you look)."""
        return self._queue.qsize()

    def stop(self) -> None:
        """Refuse new jobs, let the queued ones commit, then close the connection."""
        with self._lock:
            self._accepting = False
            self._queue.put(_STOP)
        self._thread.join()

    def _submit(self, pending: _Pending) -> None:
        with self._lock:
            if not self._accepting or not self._thread.is_alive():
                raise StoreUnavailable("the store is shutting down")
            self._queue.put(pending)

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._submit(_Pending(job, future, loop))
        return await future

    def run_sync(self, job: Callable[[sqlite3.Connection], T]) -> T:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._submit(_Pending(job, future, None))
        return future.result()

    def _serve(self) -> None:
        connection = self._connection
        assert connection is not None, "start() opens the connection before the thread runs"
        try:
            stopping = False
            while not stopping:
                group, stopping = self._next_group()
                if group:
                    self._deliver(group, self._commit(connection, group))
        finally:
            connection.close()

    def _next_group(self) -> tuple[list[_Pending], bool]:
        """Block for one job, then take whatever else is queued (waiting a little for more
        if the group is small and the service busy), up to the group size."""
        item = self._queue.get()
        busy = self._last_group_size > 1 and time.monotonic() - self._last_commit < BUSY_WINDOW_S
        group: list[_Pending] = []
        while item is not _STOP:
            group.append(cast(_Pending, item))
            if len(group) >= self._max_group_size:
                return group, False
            try:
                if busy and len(group) < SMALL_GROUP:
                    item = self._queue.get(timeout=COMMIT_DELAY_S)
                else:
                    item = self._queue.get_nowait()
            except queue.Empty:
                return group, False
        return group, True

    def _commit(self, connection: sqlite3.Connection, group: list[_Pending]) -> list[Outcome]:
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            return [(None, self._failure(error)) for _ in group]
        try:
            values = [pending.job(connection) for pending in group]
            connection.execute("COMMIT")
            self._last_commit = time.monotonic()
            self._last_group_size = len(group)
        except Exception as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            if len(group) > 1:
                return [outcome for pending in group for outcome in self._commit(connection, [pending])]
            return [(None, self._failure(error))]
        self.groups += 1
        self.jobs += len(group)
        return [(value, None) for value in values]

    def _failure(self, error: Exception) -> BaseException:
        kind = type(error).__name__
        self.errors[kind] += 1
        if self.errors[kind] == 1:
            _log.error("SQLite write failed (%s: %s); further %s errors are only counted", kind, error, kind)
        if isinstance(error, sqlite3.Error):
            return StoreUnavailable(f"SQLite write failed: {kind}")
        return error

    @staticmethod
    def _deliver(group: list[_Pending], outcomes: list[Outcome]) -> None:
        """One wake-up per event loop for the whole group, not one per request."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Any, BaseException | None]]] = {}
        for pending, (value, error) in zip(group, outcomes):
            if pending.loop is None:
                settle([(pending.future, value, error)])
            else:
                by_loop.setdefault(pending.loop, []).append((pending.future, value, error))
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(settle, items)
            except RuntimeError:
                pass  # that loop is closed: nobody waits for these answers any more
