"""The run a block of the agent is in: `current_run()` (a contextvar, so each thread and
each asyncio task sees its own) and the `@client.tracked(...)` decorator of both clients,
which wraps a function in a run and a coroutine function in an awaited one."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

CallableT = TypeVar("CallableT", bound=Callable[..., Any])
# The innermost tracked block's context (a RunContext or an AsyncRunContext).
_CURRENT: ContextVar[Any] = ContextVar("telemetry_current_run", default=None)


def current_run() -> Any:
    """The `RunContext` (or `AsyncRunContext`) of the innermost `track_run` block or
    `@tracked` call this code runs in, or None outside one. Never raises."""
    return _CURRENT.get()


@contextmanager
def entered(context: Any) -> Iterator[None]:
    """`current_run()` is `context` inside the block, and what it was before after it."""
    token = _CURRENT.set(context)
    try:
        yield
    finally:
        try:
            _CURRENT.reset(token)
        except ValueError:  # left in another context (a generator closed elsewhere)
            _CURRENT.set(None)


BlockingBlock = Callable[[], AbstractContextManager[Any]]
AsyncBlock = Callable[[], AbstractAsyncContextManager[Any]]


def tracked_decorator(blocking: BlockingBlock, awaited: AsyncBlock) -> Callable[[CallableT], CallableT]:
    """A decorator running each call of a function inside `blocking()` and each call of a
    coroutine function inside `awaited()`; the wrapped function keeps its kind, its name
    and its signature."""

    def decorate(function: CallableT) -> CallableT:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_awaited(*args: Any, **kwargs: Any) -> Any:
                async with awaited():
                    return await function(*args, **kwargs)

            return run_awaited  # type: ignore[return-value]

        @functools.wraps(function)
        def run_blocking(*args: Any, **kwargs: Any) -> Any:
            with blocking():
                return function(*args, **kwargs)

        return run_blocking  # type: ignore[return-value]

    return decorate


def awaitable_block(block: BlockingBlock) -> AsyncBlock:
    """An async context manager around a blocking one (the threaded client's `track_run`
    around a coroutine function: its calls wait as they do anywhere else)."""

    @asynccontextmanager
    async def wrapped() -> AsyncIterator[Any]:
        with block() as context:
            yield context

    return wrapped
