"""`decide(state, command) -> Decision`: the single entry point of the pure core.

Same state and command, same decision; the given state is never changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any, assert_never

import attrs
from returns.result import Failure, Success

from telemetry.core.commands import (
    AssociateCommit,
    CommitSettled,
    Command,
    EndRun,
    Heartbeat,
    LogEvent,
    SetMetrics,
    StartRun,
    ValidateCustomRunId,
)
from telemetry.core.commits import commit_reply, validate_commit
from telemetry.core.decision import Decision
from telemetry.core.fields import COMMIT_FIELDS
from telemetry.core.lifecycle import decide_end, decide_heartbeat, decide_set_metrics, decide_start
from telemetry.core.run_ids import validate_custom_run_id
from telemetry.core.state import RegistryState
from telemetry.core.wording import shortened
from telemetry.effects.records import BufferEntry, CommitEntry, RunEvent, updated
from telemetry.effects.vocabulary import (
    AppendBuffer,
    AppendNdjson,
    Effect,
    FindRunAndPostCommit,
    IncrementMetric,
    Log,
    PostCommit,
)


def decide(state: RegistryState, command: Command) -> Decision:
    """The decision for `command` in `state`."""
    match command:
        case LogEvent():
            return _decide_log_event(state, command)
        case StartRun():
            return decide_start(state, command)
        case EndRun():
            return decide_end(state, command)
        case SetMetrics():
            return decide_set_metrics(state, command)
        case AssociateCommit():
            return _decide_associate_commit(state, command)
        case ValidateCustomRunId():
            return _decide_validate(state, command)
        case Heartbeat():
            return decide_heartbeat(state, command)
        case CommitSettled():
            return Decision(state, commit_reply(command), ())
        case _:
            assert_never(command)


def _decide_log_event(state: RegistryState, command: LogEvent) -> Decision:
    return Decision(state, None, event_effects(state, command.run_id, command.event_type, command.at, command.payload))


def event_effects(state: RegistryState, run_id: str, event_type: str, at: datetime, payload: Any) -> tuple[Effect, ...]:
    """The effects of `log_event`, which never changes the state: events go to the NDJSON
    backup only (spec TEL-03); one for an unknown run is still kept, with a warning,
    because the agent may log after `end_run`. The client calls this directly, not through
    `decide`: building the LogEvent and the Decision would cost a third of its hot path."""
    line = AppendNdjson("event", RunEvent(run_id, event_type, payload, at))
    if run_id in state.active or run_id in state.recent.runs:
        return (line,)
    return (
        Log("warning", f"log_event for unknown run ID: {shortened(run_id, 255)}"),
        IncrementMetric("log_event.unknown_run"),
        line,
    )


def _decide_associate_commit(state: RegistryState, command: AssociateCommit) -> Decision:
    match validate_commit(
        command.commit_hash, command.commit_source, command.commit_author, command.commit_timestamp
    ):
        case Failure(message):
            return Decision(state, (False, message), ())
        case Success(commit):
            pass
    record = state.active.get(command.run_id) or state.recent.runs.get(command.run_id)
    if record is None:
        fallback = AppendBuffer(CommitEntry(command.run_id, commit))
        return Decision(state, None, (FindRunAndPostCommit(command.run_id, commit, fallback),))
    record = updated(
        record,
        git_commit_hash=commit.commit_hash,
        git_commit_source=commit.commit_source,
        git_commit_author=commit.commit_author,
        git_commit_timestamp=commit.commit_timestamp,
    )
    if command.run_id in state.active:
        state = attrs.evolve(state, active=state.active.set(command.run_id, record))
    else:
        state = attrs.evolve(state, recent=state.recent.replace(record))
    effects = (
        PostCommit(record, commit, fallback=AppendBuffer(BufferEntry("update", record, COMMIT_FIELDS))),
        AppendNdjson("run_update", record),
    )
    reply = (True, f"Commit {commit.commit_hash} associated with run {command.run_id}")
    return Decision(state, reply, effects)


def _decide_validate(state: RegistryState, command: ValidateCustomRunId) -> Decision:
    match validate_custom_run_id(command.run_id):
        case Success(_):
            return Decision(state, (True, None), ())
        case Failure(reason):
            counters = state.counters.tally(rejection=reason)
            return Decision(attrs.evolve(state, counters=counters), (False, reason), ())
    raise AssertionError("unreachable")
