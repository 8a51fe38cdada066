"""One line of an effect log: `{"at": ISO time, "outcome": ..., "effect": <the effect through
the effects codec>}`, its writing and its reading back."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import get_args

import attrs

from telemetry.effects.codec import CodecError, from_jsonable, to_jsonable
from telemetry.effects.vocabulary import EFFECT_TYPES, Effect
from telemetry.shell.edge import safe_repr
from telemetry.wire.format import dumps
from telemetry.shell.observer import Performed

_OUTCOMES: tuple[str, ...] = get_args(Performed)


class UnreadableLine(ValueError):
    """A line that is not an effect-log line (torn, edited, from another file)."""


@attrs.frozen
class LoggedEffect:
    """One effect the client performed, what became of it, and when."""

    at: datetime
    outcome: Performed
    effect: Effect


def encode_line(effect: Effect, outcome: Performed, at: float) -> str:
    """The line for `effect` performed at `at` (seconds since the epoch), without its
    newline. A user value JSON cannot hold (a set, an object) is written as text, as the
    NDJSON backup does; a cycle raises."""
    document = {
        "at": datetime.fromtimestamp(at, timezone.utc).isoformat(),
        "outcome": outcome,
        "effect": to_jsonable(effect),
    }
    return dumps(document).decode("utf-8")


def decode_line(line: str) -> LoggedEffect:
    """Read back a line written by `encode_line`; `UnreadableLine` says why it cannot be."""
    try:
        document = json.loads(line)
        at = datetime.fromisoformat(document["at"])
        outcome = document["outcome"]
        effect = from_jsonable(document["effect"])
    except (ValueError, KeyError, TypeError, AttributeError, CodecError) as error:
        raise UnreadableLine(f"{type(error).__name__}: {error}") from None
    if outcome not in _OUTCOMES:
        raise UnreadableLine(f"unknown outcome {safe_repr(outcome)[:40]}")
    if not isinstance(effect, EFFECT_TYPES):
        raise UnreadableLine(f"not an effect: {type(effect).__name__}")
    return LoggedEffect(at, outcome, effect)  # type: ignore[arg-type]
