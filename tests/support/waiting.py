"""Polling helpers for tests that wait on another thread or process: `eventually` returns
what was seen (the test asserts on it), `wait_for` fails the test naming what never came."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """The first truthy result of `check()`, polled until `timeout` (then the last one)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.02)


def wait_for(condition: Callable[[], bool], what: str, timeout: float, poll: float = 0.02) -> None:
    """Return once `condition()` holds; fail with `what` after `timeout` seconds (generous
    deadlines: a failure here is a hang, not a speed)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(poll)
