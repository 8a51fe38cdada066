"""Properties of the field rules: which fields a start, `set_metrics` and `end_run` may set,
which values counts and text fields take, how JSON fields merge, and where unknown names go."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from telemetry.core import EndRun, RegistryState, SetMetrics, StartRun, decide
from telemetry.effects import COUNT_FIELDS, Effect, Log, PatchRun, RunRecord

from .strategies import (
    JSON_FIELDS,
    NOT_SETTABLE_AT_START,
    NOT_SETTABLE_AT_UPDATE,
    START_FIELDS,
    UPDATE_FIELDS,
    active_states,
    bad_counts,
    bad_value,
    good_counts,
    good_fields,
    good_value,
    json_dicts,
    json_values,
    refusable_update_fields,
    start_runs,
    times,
    unknown_names,
)


def _active_record(state: RegistryState) -> tuple[str, RunRecord]:
    return sorted(state.active.items())[0]


def _set(state: RegistryState, fields: dict[str, Any]) -> tuple[RunRecord, tuple[Effect, ...]]:
    run_id, _ = _active_record(state)
    decision = decide(state, SetMetrics(run_id, fields))
    return decision.state.active[run_id], decision.effects


def _expected(name: str, value: Any) -> Any:
    """The value a field holds after being given `value` (JSON merge aside)."""
    if name in COUNT_FIELDS:
        return int(value)
    if value is None or name in JSON_FIELDS or isinstance(value, str):
        return value
    return str(value)


@given(active_states(), good_fields(tuple(name for name in UPDATE_FIELDS if name not in JSON_FIELDS)))
def test_set_metrics_applies_good_values_of_update_fields(
    state: RegistryState, fields: dict[str, Any]
) -> None:
    record, effects = _set(state, fields)
    assert effects == ()
    for name, value in fields.items():
        assert getattr(record, name) == _expected(name, value)


@given(active_states(), st.sampled_from(COUNT_FIELDS), good_counts | bad_counts)
def test_set_metrics_accepts_only_non_negative_counts(state: RegistryState, name: str, count: Any) -> None:
    """A count is an integer >= 0 or an integral float; bools, negatives, fractions, text
    and None are refused with a warning and the count keeps its value."""
    _, before = _active_record(state)
    record, effects = _set(state, {name: count})
    integral = isinstance(count, int) or (isinstance(count, float) and count.is_integer())
    good = integral and not isinstance(count, bool) and count >= 0
    if good:
        assert getattr(record, name) == int(count) and type(getattr(record, name)) is int
        assert effects == ()
    else:
        assert getattr(record, name) == getattr(before, name)
        assert effects == (Log("warning", f"field '{name}' refused value {count!r}"),)


@given(
    active_states(),
    st.sampled_from(refusable_update_fields).flatmap(lambda name: st.tuples(st.just(name), bad_value(name))),
    st.sampled_from(COUNT_FIELDS),
    good_counts,
)
def test_refused_value_warns_and_the_rest_still_applies(
    state: RegistryState, bad: tuple[str, Any], other: str, count: int | float
) -> None:
    name, value = bad
    _, before = _active_record(state)
    fields = {name: value} if other == name else {name: value, other: count}
    record, effects = _set(state, fields)
    assert effects == (Log("warning", f"field '{name}' refused value {value!r}"),)
    assert getattr(record, name) == getattr(before, name)
    if other != name:
        assert getattr(record, other) == int(count)


@given(active_states(), st.sampled_from(NOT_SETTABLE_AT_UPDATE), json_values)
def test_fields_outside_update_fields_cannot_be_set_after_start(
    state: RegistryState, name: str, value: Any
) -> None:
    """Commit fields change only through `associate_commit`, lifecycle fields only by the core."""
    _, before = _active_record(state)
    record, effects = _set(state, {name: value})
    assert record == before
    assert effects == (Log("warning", f"field '{name}' cannot be set here; ignored"),)


@given(start_runs(fields=good_fields(START_FIELDS)))
def test_start_applies_good_values_of_start_fields(command: StartRun) -> None:
    decision = decide(RegistryState(), command)
    record = decision.state.active[decision.reply]
    assert not [effect for effect in decision.effects if isinstance(effect, Log)]
    for name, value in command.fields.items():
        assert getattr(record, name) == _expected(name, value)


@given(
    start_runs(
        fields=st.sampled_from(NOT_SETTABLE_AT_START).flatmap(
            lambda name: st.fixed_dictionaries({name: json_values})
        )
    )
)
def test_fields_outside_start_fields_cannot_be_set_at_start(command: StartRun) -> None:
    (name,) = command.fields
    decision = decide(RegistryState(), command)
    assert Log("warning", f"field '{name}' cannot be set here; ignored") in decision.effects
    assert (
        decision.state.active[decision.reply]
        == decide(RegistryState(), attrs.evolve(command, fields={})).state.active[decision.reply]
    )


@given(active_states(), st.dictionaries(unknown_names, json_values, min_size=1, max_size=3), json_dicts)
def test_unknown_metric_names_go_to_metrics_json(
    state: RegistryState, metrics: dict[str, Any], held: dict[str, Any]
) -> None:
    run_id, _ = _active_record(state)
    state = decide(state, SetMetrics(run_id, {"metrics_json": held})).state
    record, effects = _set(state, metrics)
    assert effects == ()
    assert record.metrics_json == {**held, **metrics}


@given(start_runs(fields=st.dictionaries(unknown_names, json_values, min_size=1, max_size=3)))
def test_unknown_names_at_start_go_to_context_json(command: StartRun) -> None:
    decision = decide(RegistryState(), command)
    assert decision.state.active[decision.reply].context_json == dict(command.fields)


@given(active_states(), st.sampled_from(JSON_FIELDS), json_values, json_values)
def test_json_fields_merge(state: RegistryState, name: str, first: Any, second: Any) -> None:
    """A dict given where a dict is held is merged into it; anything else replaces it."""
    run_id, _ = _active_record(state)
    state = decide(state, SetMetrics(run_id, {name: first})).state
    record, _ = _set(state, {name: second})
    merged = {**first, **second} if isinstance(first, dict) and isinstance(second, dict) else second
    assert getattr(record, name) == merged


@given(active_states(), st.dictionaries(st.sampled_from(UPDATE_FIELDS), st.none(), max_size=3), times)
def test_end_patches_end_fields_and_every_held_update_field(
    state: RegistryState, cleared: dict[str, Any], at: datetime
) -> None:
    run_id, _ = _active_record(state)
    (patch,) = [
        e for e in decide(state, EndRun(run_id, "success", at, cleared)).effects if isinstance(e, PatchRun)
    ]
    held = tuple(name for name in UPDATE_FIELDS if getattr(patch.record, name) is not None)
    assert patch.fields[:3] == ("status", "end_time", "duration_ms")
    assert sorted(patch.fields[3:]) == sorted(held)


@given(active_states(), good_fields(UPDATE_FIELDS), times)
def test_end_applies_update_fields(state: RegistryState, fields: dict[str, Any], at: datetime) -> None:
    run_id, before = _active_record(state)
    (patch,) = [
        e for e in decide(state, EndRun(run_id, "partial", at, fields)).effects if isinstance(e, PatchRun)
    ]
    for name, value in fields.items():
        held = getattr(before, name)
        merged = {**held, **value} if isinstance(held, dict) and isinstance(value, dict) else value
        assert getattr(patch.record, name) == _expected(name, merged)


@given(
    active_states(),
    st.dictionaries(unknown_names, json_values, min_size=1, max_size=3),
    json_values,
    st.booleans(),
)
def test_unknown_names_replacing_a_held_non_object_warn(
    state: RegistryState, metrics: dict[str, Any], held: Any, same_call: bool
) -> None:
    """Nothing the agent says is dropped silently: when `metrics_json` holds something that
    is not an object, the unknown names replace it, with a warning."""
    run_id, _ = _active_record(state)
    if same_call:
        metrics = {"metrics_json": held, **metrics}
    else:
        state = decide(state, SetMetrics(run_id, {"metrics_json": held})).state
    record, effects = _set(state, metrics)
    extra = {name: value for name, value in metrics.items() if name != "metrics_json"}
    assert record.metrics_json == ({**held, **extra} if isinstance(held, dict) else extra)
    kept = held is None or isinstance(held, dict)
    assert effects == (
        ()
        if kept
        else (Log("warning", f"metrics_json held {held!r}, not an object; replaced by {sorted(extra)}"),)
    )
