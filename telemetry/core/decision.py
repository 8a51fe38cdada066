"""What the core returns for a command: the next state, the reply for the caller and the
effects the shell must perform, in order."""

from __future__ import annotations

from typing import Any, Union

import attrs

from telemetry.core.state import RegistryState
from telemetry.effects.vocabulary import Effect


# What a public call returns: a run id (`start_run`), a `(success, message)` pair
# (`associate_commit`, custom run-id validation, whose message may be None), or nothing.
Reply = Union[str, tuple[bool, str], tuple[bool, str | None], dict[str, Any], None]


@attrs.frozen
class Decision:
    """The outcome of one command."""

    state: RegistryState
    reply: Reply
    effects: tuple[Effect, ...]
