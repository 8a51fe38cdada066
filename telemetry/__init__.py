"""Run telemetry for autonomous agents: `from telemetry import TelemetryClient`.

The public names load on first use, so importing `telemetry.core` (or the service) does
not pull in the client's shell; no thread starts at import either way."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telemetry.shell.client import TelemetryClient
    from telemetry.shell.config import TelemetryConfig
    from telemetry.shell.run_context import RunContext
    from telemetry.shell.stats import RunIDMetrics

__all__ = ["RunContext", "RunIDMetrics", "TelemetryClient", "TelemetryConfig"]
_HOMES = {
    "TelemetryClient": "telemetry.shell.client",
    "TelemetryConfig": "telemetry.shell.config",
    "RunContext": "telemetry.shell.run_context",
    "RunIDMetrics": "telemetry.shell.stats",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'telemetry' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
