"""Run telemetry for autonomous agents: `from telemetry import TelemetryClient` (or
`AsyncTelemetryClient` in an asyncio agent).

The public names load on first use, so importing `telemetry.core` (or the service) does
not pull in the client's shell; no thread starts at import either way."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telemetry.shell.async_client import AsyncTelemetryClient
    from telemetry.shell.client import TelemetryClient
    from telemetry.shell.config import TelemetryConfig
    from telemetry.shell.run_context import AsyncRunContext, RunContext
    from telemetry.shell.stats import RunIDMetrics
    from telemetry.shell.tracking import current_run

__all__ = [
    "AsyncRunContext",
    "AsyncTelemetryClient",
    "RunContext",
    "RunIDMetrics",
    "TelemetryClient",
    "TelemetryConfig",
    "current_run",
]
_HOMES = {
    "TelemetryClient": "telemetry.shell.client",
    "AsyncTelemetryClient": "telemetry.shell.async_client",
    "AsyncRunContext": "telemetry.shell.run_context",
    "current_run": "telemetry.shell.tracking",
    "TelemetryConfig": "telemetry.shell.config",
    "RunContext": "telemetry.shell.run_context",
    "RunIDMetrics": "telemetry.shell.stats",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'telemetry' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
