"""The effects the core asks for, as data: what must happen in the world and, where a
delivery can fail, the effect to run instead. The shell performs them; tests read them."""

from __future__ import annotations

from typing import Literal, Union

import attrs

from telemetry.effects.records import BufferEntry, CommitDetails, CommitEntry, RunEvent, RunRecord

NdjsonKind = Literal["run_start", "run_end", "run_update", "event"]
LogLevel = Literal["debug", "info", "warning", "error"]


@attrs.frozen
class AppendBuffer:
    """Write `entry` durably to the local buffer, for the sync worker to deliver later."""

    entry: BufferEntry | CommitEntry


@attrs.frozen
class PostRun:
    """Create the run on the service (`POST /api/v1/runs`)."""

    record: RunRecord
    fallback: AppendBuffer | None = None


@attrs.frozen
class PatchRun:
    """Update `fields` of the run on the service (`PATCH /api/v1/runs/{event_id}`), taking
    their values from `record`."""

    record: RunRecord
    fields: tuple[str, ...]
    fallback: AppendBuffer | None = None


@attrs.frozen
class PostCommit:
    """Associate a commit with a run the client knows (`POST .../{event_id}/associate-commit`)."""

    record: RunRecord
    commit: CommitDetails
    fallback: AppendBuffer | None = None


@attrs.frozen
class FindRunAndPostCommit:
    """Associate a commit with a run the client no longer holds: find it on the service by
    `run_id`, then associate. Its outcome is the reply of `associate_commit`; `fallback`
    keeps the commit for a later sync when the service cannot be reached."""

    run_id: str
    commit: CommitDetails
    fallback: AppendBuffer | None = None


@attrs.frozen
class AppendNdjson:
    """Append one line to the daily NDJSON backup; the shell serialises `body` off the hot path."""

    kind: NdjsonKind
    body: RunRecord | RunEvent


@attrs.frozen
class PostSheets:
    """Fire-and-forget export of an ended run to the secondary HTTP endpoint."""

    record: RunRecord


@attrs.frozen
class IncrementMetric:
    """Count something in the client's self-metrics."""

    name: str


@attrs.frozen
class Log:
    """Write a message to the `telemetry` logger."""

    level: LogLevel
    message: str


Effect = Union[
    PostRun,
    PatchRun,
    PostCommit,
    FindRunAndPostCommit,
    AppendBuffer,
    AppendNdjson,
    PostSheets,
    IncrementMetric,
    Log,
]
EFFECT_TYPES: tuple[type, ...] = Effect.__args__  # type: ignore[attr-defined]
