"""The circuit breaker in front of the service, so a down or hung service costs the agent
at most one short timeout. Rules, read top to bottom:

1. `closed`: deliveries go to the service.
2. A delivery the service could not take (refused connection, timeout, 408/429/5xx) opens
   the breaker: deliveries go straight to their fallback, without touching the network.
3. Once `cooldown_s` has passed, the next delivery starts one probe in the background
   (`probing`) and still takes the fallback; more deliveries keep taking it meanwhile.
4. A probe or delivery that reaches the service closes the breaker; a failed one reopens
   it for another cooldown.

The transitions are pure functions of (state, time); `CircuitBreaker` only holds the
current state behind a lock and reads the clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

import attrs

Mode = Literal["closed", "open", "probing"]
Verdict = Literal["send", "skip", "probe"]


@attrs.frozen
class BreakerState:
    mode: Mode = "closed"
    opened_at: float = 0.0


CLOSED = BreakerState()


def admit(state: BreakerState, now: float, cooldown_s: float) -> tuple[BreakerState, Verdict]:
    """Whether a delivery may go to the service now (`send`), must take its fallback
    (`skip`), or must take its fallback and start the probe (`probe`)."""
    if state.mode == "closed":
        return state, "send"
    if state.mode == "open" and now - state.opened_at >= cooldown_s:
        return BreakerState("probing", state.opened_at), "probe"
    return state, "skip"


def after_attempt(state: BreakerState, reached: bool, now: float) -> BreakerState:
    """The state once an attempt (delivery or probe) reached the service, or did not."""
    return CLOSED if reached else BreakerState("open", now)


class CircuitBreaker:
    """The breaker shared by every thread of one client."""

    def __init__(self, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED

    def admit(self) -> Verdict:
        with self._lock:
            self._state, verdict = admit(self._state, self._clock(), self._cooldown_s)
            return verdict

    def record(self, reached: bool) -> bool:
        """Note an attempt's result; True if this opened a closed breaker."""
        with self._lock:
            was_closed = self._state.mode == "closed"
            self._state = after_attempt(self._state, reached, self._clock())
            return was_closed and not reached

    def reset_after_fork(self) -> None:
        """The child starts closed: it has its own connections and no probe running."""
        self._lock = threading.Lock()
        self._state = CLOSED
