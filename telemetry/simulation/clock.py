"""Simulated time and seeded randomness: the clock the breaker and the commands read
(time moves only when a step or a simulated wait moves it) and the event ids and nonces
the facade would draw, from one `random.Random(seed)`."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
"""Where simulated wall time starts, unless a simulation is given another start."""


class SimulatedClock:
    """Monotonic seconds since the start, and the wall time they mean."""

    def __init__(self, start: datetime = EPOCH) -> None:
        if start.utcoffset() is None:
            raise ValueError("the simulated clock needs an aware start time")
        self._start = start
        self._elapsed = 0.0

    def monotonic(self) -> float:
        """Seconds since the simulation began (what `time.monotonic` is to the real breaker)."""
        return self._elapsed

    def now(self) -> datetime:
        """The simulated wall time, an aware datetime (what the facade puts in `at`)."""
        return self._start + timedelta(seconds=self._elapsed)

    def advance(self, seconds: float) -> None:
        """Move time forward; never backward (a monotonic clock)."""
        if seconds < 0:
            raise ValueError(f"time cannot move back: advance({seconds})")
        self._elapsed += seconds


class SeededRandomness:
    """Fresh event ids and nonces, the same sequence for the same seed."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def event_id(self) -> str:
        """A UUID-shaped event id (version 4 bits, from the seeded generator)."""
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def nonce(self) -> str:
        """16 hex characters: the two uuid8 parts of generated run ids."""
        return f"{self._random.getrandbits(64):016x}"
