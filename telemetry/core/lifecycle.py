"""The run lifecycle: `start_run` opens a run (`running`), `set_metrics` changes it while
active, `end_run` closes it with one terminal status and moves it to the recent runs,
`Heartbeat` renews the lease of every active run.

Deliveries to the service fall back to a buffer entry carrying the whole record, so a
failed delivery is never a lost one."""

from __future__ import annotations

from datetime import datetime

from returns.result import Failure, Success

from telemetry.core.commands import EndRun, Heartbeat, SetMetrics, StartRun
from telemetry.core.decision import Decision
from telemetry.core.fields import END_FIELDS, START_FIELDS, UPDATE_FIELDS, accepted_changes
from telemetry.core.counters import RunIdCounters
from telemetry.core.run_ids import RejectionReason, duplicate_run_id, generate_run_id, validate_custom_run_id
from telemetry.core.state import RegistryState
from telemetry.core.status import UNKNOWN_STATUS_FALLBACK, terminal_status, unknown_status_summary
from telemetry.core.wording import shortened
from telemetry.effects.records import BufferEntry, RunRecord, updated
from telemetry.effects.vocabulary import (
    AppendBuffer,
    AppendNdjson,
    Effect,
    IncrementMetric,
    Log,
    PatchRun,
    PostRun,
    PostSheets,
)

UNKNOWN_NAME = "unknown"


def _timestamp(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


def _named(value: str, what: str) -> tuple[str, tuple[Log, ...]]:
    if value.strip():
        return value, ()
    return UNKNOWN_NAME, (Log("warning", f"{what} is blank; recorded as '{UNKNOWN_NAME}'"),)


def _choose_run_id(
    state: RegistryState, command: StartRun, agent_name: str
) -> tuple[str, RunIdCounters, tuple[Log, ...]]:
    counters = state.counters
    rejection: RejectionReason | None = None
    logs: tuple[Log, ...] = ()
    if command.custom_run_id is not None:
        match validate_custom_run_id(command.custom_run_id):
            case Success(custom):
                if custom not in state.active:
                    return custom, counters.tally(custom=1), ()
                renamed = duplicate_run_id(custom, command.nonce[8:16])
                logs = (Log("error", f"Custom run_id '{shortened(custom)}' is already active; using {renamed}"),)
                return renamed, counters.tally(custom=1, duplicate=1), logs
            case Failure(reason):
                rejection = reason
    run_id = generate_run_id(agent_name, command.at, command.nonce[:8])
    duplicate = run_id in state.active
    if duplicate:
        logs += (Log("info", "Regenerating run_id to avoid duplicate"),)
        run_id = generate_run_id(agent_name, command.at, command.nonce[8:16])
    if rejection is not None and command.custom_run_id is not None:
        refused = shortened(command.custom_run_id)
        logs = (Log("warning", f"Custom run_id {refused!r} rejected ({rejection}); using generated run_id {run_id}"), *logs)
    return run_id, counters.tally(generated=1, duplicate=duplicate, rejection=rejection), logs


def decide_start(state: RegistryState, command: StartRun) -> Decision:
    agent_name, agent_logs = _named(command.agent_name, "agent_name")
    job_type, job_logs = _named(command.job_type, "job_type")
    run_id, counters, id_logs = _choose_run_id(state, command, agent_name)
    changes, field_logs = accepted_changes(None, command.fields, START_FIELDS, "context_json")
    record = RunRecord(
        event_id=command.event_id,
        run_id=run_id,
        agent_name=agent_name,
        job_type=job_type,
        start_time=_timestamp(command.at),
        trigger_type=command.trigger_type,
        **changes,
    )
    effects: tuple[Effect, ...] = (
        *agent_logs,
        *job_logs,
        *id_logs,
        *field_logs,
        PostRun(record, fallback=AppendBuffer(BufferEntry("create", record))),
        AppendNdjson("run_start", record),
    )
    next_state = RegistryState(state.active.set(run_id, record), state.recent, counters, state.settings)
    return Decision(next_state, run_id, effects)


def _duration_ms(start_time: str, end: datetime) -> int:
    elapsed = end - datetime.fromisoformat(start_time)
    return max(0, round(elapsed.total_seconds() * 1000))


def _final_status(said: str, summary: str | None) -> tuple[str, str | None, tuple[Log, ...]]:
    """The terminal status, the run's `error_summary` (for a status that is not one, the
    reason, unless the run has the agent's own `summary`) and the warnings."""
    status = terminal_status(said)
    if status is not None:
        return status, summary, ()
    log = Log("warning", f"Unknown status '{shortened(said)}'; run recorded as '{UNKNOWN_STATUS_FALLBACK}'")
    return UNKNOWN_STATUS_FALLBACK, summary if summary is not None else unknown_status_summary(said), (log,)


def _unknown_run(state: RegistryState, run_id: str, method: str) -> Decision:
    """The spec's warning, in its words, for a run this client does not hold."""
    return Decision(
        state,
        None,
        (Log("warning", f"[WARN] Run ID not found: {shortened(run_id, 255)}"), IncrementMetric(f"{method}.unknown_run")),
    )


def decide_end(state: RegistryState, command: EndRun) -> Decision:
    record = state.active.get(command.run_id)
    if record is None:
        return _unknown_run(state, command.run_id, "end_run")
    changes, field_logs = accepted_changes(record, command.fields, UPDATE_FIELDS, "metrics_json")
    given_summary = changes.pop("error_summary", record.error_summary)
    status, summary, status_logs = _final_status(command.status, given_summary)
    record = updated(
        record,
        **changes,
        error_summary=summary,
        status=status,
        end_time=_timestamp(command.at),
        duration_ms=_duration_ms(record.start_time, command.at),
    )
    fields = END_FIELDS + tuple(name for name in UPDATE_FIELDS if getattr(record, name) is not None)
    export: tuple[Effect, ...] = (PostSheets(record),) if state.settings.export_enabled else ()
    effects: tuple[Effect, ...] = (
        *status_logs,
        *field_logs,
        PatchRun(record, fields, fallback=AppendBuffer(BufferEntry("update", record, fields))),
        AppendNdjson("run_end", record),
        *export,
    )
    next_state = RegistryState(
        state.active.delete(command.run_id),
        state.recent.remember(record, state.settings.recent_capacity),
        state.counters,
        state.settings,
    )
    return Decision(next_state, None, effects)


def decide_set_metrics(state: RegistryState, command: SetMetrics) -> Decision:
    record = state.active.get(command.run_id)
    if record is None:
        return _unknown_run(state, command.run_id, "set_metrics")
    changes, logs = accepted_changes(record, command.fields, UPDATE_FIELDS, "metrics_json")
    record = updated(record, **changes)
    next_state = RegistryState(state.active.set(command.run_id, record), state.recent, state.counters, state.settings)
    return Decision(next_state, None, logs)


def decide_heartbeat(state: RegistryState, command: Heartbeat) -> Decision:
    """One lease renewal per active run, in run-id order (a hash map's order changes with
    the process's hash seed); a missed heartbeat is not buffered (the next one replaces
    it), so there is no fallback."""
    at = _timestamp(command.at)
    effects = tuple(
        PatchRun(updated(record, heartbeat_at=at), ("heartbeat_at",))
        for _, record in sorted(state.active.items())
    )
    return Decision(state, None, effects)
