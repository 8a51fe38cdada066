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
