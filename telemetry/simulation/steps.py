"""The steps of a scenario: calls an agent makes on the client facade (`Start`, `End`,
`Metrics`, `Commit`, `Event`, `Heartbeat`) and changes to the world (`Advance` of the
simulated clock, `SetCondition` of the service and the disk).

A run is named by its label (given to `Start`, default: its custom run id, else `run-N`
for the N-th start) or, for a run the simulated client never started, by a literal run id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Union

import attrs

from telemetry.simulation.conditions import SetCondition


@attrs.frozen
class Start:
    """`client.start_run(agent_name, job_type, trigger_type, run_id=run_id, **fields)`."""

    agent_name: str = "agent"
    job_type: str = "job"
    label: str | None = None
    run_id: str | None = None
    trigger_type: str = "cli"
    fields: Mapping[str, Any] = attrs.Factory(dict)


@attrs.frozen
class End:
    """`client.end_run(run, status, **fields)`."""

    run: str
    status: str = "success"
    fields: Mapping[str, Any] = attrs.Factory(dict)


@attrs.frozen
class Metrics:
    """`client.set_metrics(run, **fields)` (what `RunContext.set_metrics` calls)."""

    run: str
    fields: Mapping[str, Any]


@attrs.frozen
class Commit:
    """`client.associate_commit(run, commit_hash, commit_source, author, timestamp)`."""

    run: str
    commit_hash: str
    commit_source: str = "ci"
    commit_author: str | None = None
    commit_timestamp: str | None = None


@attrs.frozen
class Event:
    """`client.log_event(run, event_type, payload)`."""

    run: str
    event_type: str
    payload: Any = None


@attrs.frozen
class Heartbeat:
    """One beat of the heartbeat worker: renew the lease of every active run."""


@attrs.frozen
class Advance:
    """Let `seconds` of simulated time pass."""

    seconds: float = attrs.field(validator=attrs.validators.ge(0))


ClientStep = Union[Start, End, Metrics, Commit, Event, Heartbeat]
Step = Union[Start, End, Metrics, Commit, Event, Heartbeat, Advance, SetCondition]
STEP_TYPES: tuple[type, ...] = Step.__args__  # type: ignore[attr-defined]
