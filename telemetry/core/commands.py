"""The commands the facade gives the core. Each carries every input of its decision,
including the time (`at`) and fresh randomness (`event_id`, `nonce`) the shell drew."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Union

import attrs

if TYPE_CHECKING:
    # attrs.Attribute is generic only in the stubs; typeguard must not evaluate it.
    from attrs import Attribute

NONCE_LENGTH = 16


def _nonce(instance: object, attribute: Attribute[str], value: str) -> None:
    if len(value) < NONCE_LENGTH:
        raise ValueError(f"nonce needs {NONCE_LENGTH} hex characters, got {len(value)}")


def _aware(instance: object, attribute: Attribute[datetime], value: datetime) -> None:
    if value.utcoffset() is None:
        raise ValueError(f"{attribute.name} must be an aware datetime")


@attrs.frozen
class StartRun:
    """`start_run`: open a run. `nonce` supplies the uuid8 parts of generated ids."""

    agent_name: str
    job_type: str
    at: datetime = attrs.field(validator=_aware)
    event_id: str
    nonce: str = attrs.field(validator=_nonce)
    trigger_type: str = "cli"
    custom_run_id: str | None = None
    fields: Mapping[str, Any] = attrs.Factory(dict)


@attrs.frozen
class EndRun:
    """`end_run`: close a run with a status and final fields."""

    run_id: str
    status: str
    at: datetime
    fields: Mapping[str, Any] = attrs.Factory(dict)


@attrs.frozen
class LogEvent:
    """`log_event`: record something that happened during a run."""

    run_id: str
    event_type: str
    at: datetime
    payload: Any = None


@attrs.frozen
class SetMetrics:
    """`RunContext.set_metrics`: change fields of an active run before it ends."""

    run_id: str
    fields: Mapping[str, Any]


@attrs.frozen
class AssociateCommit:
    """`associate_commit`: link a git commit to an active or ended run."""

    run_id: str
    commit_hash: str
    commit_source: str
    at: datetime
    commit_author: str | None = None
    commit_timestamp: str | None = None


@attrs.frozen
class ValidateCustomRunId:
    """`_validate_custom_run_id`: judge a custom id and count a refusal."""

    run_id: str


@attrs.frozen
class Heartbeat:
    """Renew the lease of every active run, so the service can tell live runs from runs
    whose process died."""

    at: datetime


CommitOutcome = Literal["associated", "buffered", "not_stored", "run_unknown", "refused"]


@attrs.frozen
class CommitSettled:
    """What became of a commit the shell delivered (h11's `send_failed()`): stored by the
    service, durably buffered, stored nowhere, its run unknown, or refused with `reason`.
    `held` when the client held the run (its commit rode on the run's full record)."""

    run_id: str
    commit_hash: str
    outcome: CommitOutcome
    reason: str = ""
    held: bool = False


Command = Union[
    StartRun, EndRun, LogEvent, SetMetrics, AssociateCommit, ValidateCustomRunId, Heartbeat, CommitSettled
]
