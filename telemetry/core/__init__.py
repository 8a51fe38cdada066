"""The pure functional core: commands in, (state, reply, effects) out. No I/O, no clock,
no randomness, no logging, no threads; the shell supplies time and randomness as data."""

from telemetry.core.commands import (
    AssociateCommit,
    Command,
    EndRun,
    Heartbeat,
    LogEvent,
    SetMetrics,
    StartRun,
    ValidateCustomRunId,
)
from telemetry.core.counters import RunIdCounters, run_id_metrics, run_id_snapshot
from telemetry.core.decide import decide, event_effects
from telemetry.core.fields import COMMIT_FIELDS
from telemetry.core.decision import Decision
from telemetry.core.run_ids import MAX_RUN_ID_LENGTH
from telemetry.core.state import CoreSettings, RecentRuns, RegistryState
from telemetry.core.status import stored_status, terminal_status

__all__ = [
    "COMMIT_FIELDS",
    "MAX_RUN_ID_LENGTH",
    "AssociateCommit",
    "Command",
    "CoreSettings",
    "Decision",
    "EndRun",
    "Heartbeat",
    "LogEvent",
    "RecentRuns",
    "RegistryState",
    "RunIdCounters",
    "SetMetrics",
    "StartRun",
    "ValidateCustomRunId",
    "decide",
    "event_effects",
    "run_id_metrics",
    "run_id_snapshot",
    "stored_status",
    "terminal_status",
]
