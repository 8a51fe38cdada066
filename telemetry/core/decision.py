"""What the core returns for a command: the next state, the reply for the caller and the
effects the shell must perform, in order."""

from __future__ import annotations

from typing import Any

import attrs

from telemetry.core.state import RegistryState
from telemetry.effects.vocabulary import Effect


@attrs.frozen
class Decision:
    """The outcome of one command."""

    state: RegistryState
    reply: Any
    effects: tuple[Effect, ...]
