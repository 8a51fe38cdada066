"""Properties of the run lifecycle and status rules: a run starts `running`, ends with one
terminal status (aliases mapped, anything else `failure` with a warning), its duration, the
buffer fallback of every delivery, heartbeats, events and unknown runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from telemetry.core import (
    CoreSettings,
    Decision,
    EndRun,
    Heartbeat,
    LogEvent,
    RegistryState,
    SetMetrics,
    StartRun,
    decide,
    event_effects,
)
from telemetry.core.status import stored_status, terminal_status
from telemetry.effects import (
    COUNT_FIELDS,
    AppendBuffer,
    AppendNdjson,
    BufferEntry,
    Effect,
    IncrementMetric,
    Log,
    PatchRun,
    PostRun,
    PostSheets,
    RunEvent,
    RunRecord,
)

from .strategies import (
    STATUS_ALIASES,
    TERMINAL,
    active_states,
    alias_said,
    end_runs,
    garbage_statuses,
    good_terminal_said,
    heartbeats,
    json_values,
    names,
    run_records,
    spelled_loosely,
    start_runs,
    times,
)


def _end(said: str, start: StartRun, at: datetime | None = None) -> tuple[RegistryState, tuple[Effect, ...]]:
    opened = decide(RegistryState(), start)
    ended = decide(opened.state, EndRun(opened.reply, said, at or start.at))
    return ended.state, ended.effects


def _patch(effects: tuple[Effect, ...]) -> PatchRun:
    (patch,) = [effect for effect in effects if isinstance(effect, PatchRun)]
    return patch


@given(start_runs())
def test_start_opens_a_running_run_posted_with_buffer_fallback(command: StartRun) -> None:
    decision = decide(RegistryState(), command)
    record = decision.state.active[decision.reply]
    assert (record.status, record.event_id, record.start_time) == (
        "running",
        command.event_id,
        command.at.isoformat(timespec="microseconds"),
    )
    assert decision.effects[-2:] == (
        PostRun(record, fallback=AppendBuffer(BufferEntry("create", record))),
        AppendNdjson("run_start", record),
    )


@given(good_terminal_said.flatmap(spelled_loosely), start_runs())
def test_terminal_status_is_stored_as_said_ignoring_case_and_blanks(said: str, start: StartRun) -> None:
    state, effects = _end(said, start)
    assert _patch(effects).record.status == said.strip().lower()
    assert not [effect for effect in effects if isinstance(effect, Log)]


@given(st.sampled_from(["failed", "FAILED", " Failed "]), start_runs())
def test_failed_is_stored_as_failure(said: str, start: StartRun) -> None:
    _, effects = _end(said, start)
    assert _patch(effects).record.status == "failure"


@given(alias_said.flatmap(lambda alias: spelled_loosely(alias).map(lambda said: (alias, said))), start_runs())
def test_status_aliases_are_mapped(alias_and_said: tuple[str, str], start: StartRun) -> None:
    alias, said = alias_and_said
    _, effects = _end(said, start)
    assert _patch(effects).record.status == STATUS_ALIASES[alias]


@given(garbage_statuses | st.just("running"), start_runs())
def test_unknown_status_ends_the_run_as_failure_with_a_warning(said: str, start: StartRun) -> None:
    state, effects = _end(said, start)
    assert _patch(effects).record.status == "failure"
    assert Log("warning", f"Unknown status '{said}'; run recorded as 'failure'") in effects
    assert not state.active


@given(garbage_statuses | st.just("running") | st.text(min_size=41), start_runs(), st.none() | st.text(max_size=20))
def test_unknown_status_says_why_in_error_summary_unless_the_agent_gave_one(
    said: str, start: StartRun, given_summary: str | None
) -> None:
    assume(terminal_status(said) is None)
    fields = {} if given_summary is None else {"error_summary": given_summary}
    start = attrs.evolve(start, fields={k: v for k, v in start.fields.items() if k != "error_summary"})
    state = decide(RegistryState(), start).state
    (run_id,) = state.active.keys()
    record = _patch(decide(state, EndRun(run_id, said, start.at, fields)).effects).record
    if given_summary is not None:
        assert record.error_summary == given_summary
    else:
        shown = said if len(said) <= 40 else said[:40] + "…"
        assert record.error_summary == f"unknown status '{shown}' recorded as failure"
    assert "error_summary" in _patch(decide(state, EndRun(run_id, said, start.at, fields)).effects).fields


@given(good_terminal_said | alias_said, start_runs())
def test_a_known_status_adds_no_error_summary(said: str, start: StartRun) -> None:
    _, effects = _end(said, start)
    assert _patch(effects).record.error_summary is None


@given(st.text(max_size=12) | alias_said.flatmap(spelled_loosely))
def test_stored_status_accepts_running_and_terminal_words_only(said: str) -> None:
    word = said.strip().lower()
    expected = STATUS_ALIASES.get(word, word if word in (*TERMINAL, "running") else None)
    assert stored_status(said) == expected
    assert terminal_status(said) == (None if expected == "running" else expected)


@given(start_runs(), st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(days=400)))
def test_duration_is_end_minus_start_non_negative(start: StartRun, elapsed: timedelta) -> None:
    _, effects = _end("success", start, start.at + elapsed)
    record = _patch(effects).record
    exact_us = elapsed // timedelta(microseconds=1)
    assert record.end_time == (start.at + elapsed).isoformat(timespec="microseconds")
    assert record.duration_ms is not None
    if exact_us <= 0:
        assert record.duration_ms == 0
    else:
        assert abs(record.duration_ms * 1000 - exact_us) <= 500


@given(active_states(), end_runs(names))
def test_end_moves_the_run_from_active_to_recent(state: RegistryState, command: EndRun) -> None:
    run_id = sorted(state.active)[0]
    decision = decide(state, attrs.evolve(command, run_id=run_id))
    patch = _patch(decision.effects)
    assert run_id not in decision.state.active
    assert decision.state.recent.runs[run_id] == patch.record
    assert set(decision.state.active) == set(state.active) - {run_id}
    assert decision.effects[-2:] == (patch, AppendNdjson("run_end", patch.record))


@given(active_states(settings=CoreSettings(export_enabled=True)), end_runs(names))
def test_end_exports_the_ended_run_when_export_is_enabled(state: RegistryState, command: EndRun) -> None:
    decision = decide(state, attrs.evolve(command, run_id=sorted(state.active)[0]))
    assert decision.effects[-1] == PostSheets(_patch(decision.effects).record)


@given(
    active_states(),
    end_runs(names) | st.builds(SetMetrics, run_id=names, fields=st.just({"items_failed": 1})),
)
def test_end_or_set_metrics_of_unknown_run_warns_and_changes_nothing(
    state: RegistryState, command: EndRun | SetMetrics
) -> None:
    command = attrs.evolve(command, run_id="no-such-run")
    method = "end_run" if isinstance(command, EndRun) else "set_metrics"
    warning = Log("warning", "[WARN] Run ID not found: no-such-run")  # the spec's words
    assert decide(state, command) == Decision(
        state, None, (warning, IncrementMetric(f"{method}.unknown_run"))
    )


@given(active_states(), heartbeats)
def test_heartbeat_renews_the_lease_of_every_active_run(state: RegistryState, command: Heartbeat) -> None:
    decision = decide(state, command)
    at = command.at.isoformat(timespec="microseconds")
    assert decision.state == state
    assert decision.effects == tuple(
        PatchRun(attrs.evolve(state.active[run_id], heartbeat_at=at), ("heartbeat_at",))
        for run_id in sorted(state.active)
    )


@given(active_states(), st.data())
def test_buffer_fallback_carries_the_full_record(state: RegistryState, data: st.DataObject) -> None:
    """Every delivery effect with a fallback buffers the very record and fields it delivers."""
    run_id = data.draw(st.sampled_from(sorted(state.active)))
    start = data.draw(start_runs())
    for command in (start, data.draw(end_runs(st.just(run_id)))):
        for effect in decide(state, command).effects:
            if isinstance(effect, PostRun):
                assert effect.fallback == AppendBuffer(BufferEntry("create", effect.record))
            if isinstance(effect, PatchRun):
                assert effect.fallback == AppendBuffer(BufferEntry("update", effect.record, effect.fields))


@given(active_states(), names, times, json_values, st.booleans())
def test_log_event_goes_to_ndjson_only_and_warns_for_unknown_run(
    state: RegistryState, event_type: str, at: datetime, payload: object, known: bool
) -> None:
    run_id = sorted(state.active)[0] if known else "no-such-run"
    decision = decide(state, LogEvent(run_id, event_type, at, payload))
    line = AppendNdjson("event", RunEvent(run_id, event_type, payload, at))
    warnings = (
        Log("warning", f"log_event for unknown run ID: {run_id}"),
        IncrementMetric("log_event.unknown_run"),
    )
    expected = (line,) if known else (*warnings, line)
    assert decision.state == state
    assert decision.effects == expected
    assert event_effects(state, run_id, event_type, at, payload) == expected


@given(active_states(), names, times)
def test_log_event_after_end_is_known(state: RegistryState, event_type: str, at: datetime) -> None:
    run_id = sorted(state.active)[0]
    state = decide(state, EndRun(run_id, "success", at)).state
    assert decide(state, LogEvent(run_id, event_type, at)).effects == (
        AppendNdjson("event", RunEvent(run_id, event_type, None, at)),
    )


@given(run_records, st.sampled_from(COUNT_FIELDS), st.integers(max_value=-1), garbage_statuses | alias_said)
def test_record_holds_only_stored_statuses_and_non_negative_counts(
    record: RunRecord, count_field: str, negative: int, status: str
) -> None:
    negative_count: dict[str, Any] = {count_field: negative}
    with pytest.raises(ValueError, match=f"{count_field} must be >= 0"):
        attrs.evolve(record, **negative_count)
    with pytest.raises(ValueError, match="status must be one of"):
        attrs.evolve(record, status=status)
