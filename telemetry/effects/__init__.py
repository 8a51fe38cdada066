"""The effect vocabulary shared by the core (which emits it) and the shell (which performs
it), with the records the effects carry. Imports only attrs and the standard library."""

from telemetry.effects.records import (
    COMMIT_SOURCES,
    COUNT_FIELDS,
    RECORD_FIELDS,
    STORED_STATUSES,
    TERMINAL_STATUSES,
    BufferEntry,
    CommitDetails,
    CommitEntry,
    RunEvent,
    RunRecord,
)
from telemetry.effects.vocabulary import (
    EFFECT_TYPES,
    AppendBuffer,
    AppendNdjson,
    Effect,
    FindRunAndPostCommit,
    IncrementMetric,
    Log,
    PatchRun,
    PostCommit,
    PostRun,
    PostSheets,
)

__all__ = [
    "COMMIT_SOURCES",
    "COUNT_FIELDS",
    "EFFECT_TYPES",
    "RECORD_FIELDS",
    "STORED_STATUSES",
    "TERMINAL_STATUSES",
    "AppendBuffer",
    "AppendNdjson",
    "BufferEntry",
    "CommitDetails",
    "CommitEntry",
    "Effect",
    "FindRunAndPostCommit",
    "IncrementMetric",
    "Log",
    "PatchRun",
    "PostCommit",
    "PostRun",
    "PostSheets",
    "RunEvent",
    "RunRecord",
]
