"""A pool of daemon threads that runs submitted calls and answers each with a future: what a
sync pass sends and deletes on.

Not `concurrent.futures.ThreadPoolExecutor`: the interpreter joins that executor's threads
at exit, before any `atexit` hook runs, so a request in flight to a hung service held the
agent's exit for a whole read timeout, outside the client's exit budget. A daemon thread
is abandoned at exit instead; the entries it was sending stay in the buffer, to be sent
by a later pass."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
_Call = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class DaemonPool:
    """Up to `workers` daemon threads, started as calls arrive; `shutdown` waits for the
    calls submitted before it."""

    def __init__(self, workers: int, name: str) -> None:
        self._workers = workers
        self._name = name
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        if len(self._threads) < self._workers:
            # Started before the call is queued: a thread refused leaves nothing behind.
            thread = threading.Thread(target=self._serve, name=f"{self._name}_{len(self._threads)}", daemon=True)
            thread.start()
            self._threads.append(thread)
        future: Future[T] = Future()
        self._calls.put((future, function, args))
        return future

    def shutdown(self) -> None:
        for _ in self._threads:
            self._calls.put(None)
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            future, function, args = call
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = function(*args)
            except BaseException as error:  # handed to whoever waits on the future
                future.set_exception(error)
            else:
                future.set_result(result)
