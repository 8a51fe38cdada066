"""`run_blocking`: the value of a coroutine whose awaits never suspend, and one clear error
(the coroutine closed) when one does."""

from __future__ import annotations

import asyncio

import pytest

from telemetry.shell.ports import SuspendedError, run_blocking


async def _answer(value: int) -> int:
    return value


async def _sum_of_answers() -> int:
    return await _answer(1) + await _answer(2)


def test_a_coroutine_that_never_suspends_gives_its_value() -> None:
    assert run_blocking(_sum_of_answers()) == 3


def test_an_exception_inside_the_coroutine_reaches_the_caller() -> None:
    async def broken() -> int:
        raise ValueError("bad answer")

    with pytest.raises(ValueError, match="bad answer"):
        run_blocking(broken())


def test_a_coroutine_that_suspends_is_a_clear_error_and_is_closed() -> None:
    finished: list[str] = []

    async def sleeps() -> int:
        try:
            await asyncio.sleep(0)  # a bare yield to the event loop: a real suspension
            return 1
        finally:
            finished.append("closed")

    with pytest.raises(SuspendedError, match="sleeps.*suspended.*event loop"):
        run_blocking(sleeps())
    assert finished == ["closed"]
