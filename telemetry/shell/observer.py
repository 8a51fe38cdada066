"""What became of each performed effect, for whoever watches the interpreter (the effect
log): the outcome words and the observer's one method."""

from __future__ import annotations

from typing import Literal, Protocol

from telemetry.effects.vocabulary import Effect

Performed = Literal["done", "failed", "fell_back", "refused"]
"""`done`: delivered, acknowledged, or a non-delivery effect performed; `failed`: the
performer raised, or nothing could keep the effect; `fell_back`: the effect's fallback
buffer entry took it; `refused`: the service refused it (kept in `rejected/` if it can be)."""


class EffectObserver(Protocol):
    """Told once per effect the interpreter performed, in order."""

    def performed(self, effect: Effect, outcome: Performed) -> None: ...


class _Observers:
    """Several observers told in turn (a caller's own and the effect log)."""

    def __init__(self, observers: tuple[EffectObserver, ...]) -> None:
        self._observers = observers

    def performed(self, effect: Effect, outcome: Performed) -> None:
        for observer in self._observers:
            observer.performed(effect, outcome)


def observers(*given: EffectObserver | None) -> EffectObserver | None:
    """One observer telling each given one (None when none is given: nothing to call)."""
    present = tuple(observer for observer in given if observer is not None)
    if len(present) <= 1:
        return present[0] if present else None
    return _Observers(present)
