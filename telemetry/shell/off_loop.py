"""`OffLoop`: the async client's one worker thread for what must not run on the event loop
(buffer files fsynced on a slow disk, the outbox's flush, the drain at close), awaited by
the caller; calls run one at a time, in order. Built on first use in each process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from telemetry.shell.workers import PerProcess

T = TypeVar("T")


class OffLoop:
    """Runs blocking calls on one worker thread and awaits them (see the module)."""

    def __init__(self) -> None:
        self._executor = PerProcess(lambda: ThreadPoolExecutor(1, thread_name_prefix="telemetry-async-files"))

    async def __call__(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor.get(), function, *args)

    def close(self) -> None:
        """Stop the thread once its calls are done; a later call builds a new one."""
        executor = self._executor.current()
        self._executor.forget()
        if executor is not None:
            executor.shutdown(wait=False)
