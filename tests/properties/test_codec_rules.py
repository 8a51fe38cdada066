"""Properties of the effect codec: every effect survives `encode_effect` / `decode_effect`,
user JSON is copied untouched (a `"type"` key stays a key), and bad lines are refused."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry.effects import (
    EFFECT_TYPES,
    AppendBuffer,
    AppendNdjson,
    BufferEntry,
    CommitDetails,
    CommitEntry,
    Effect,
    FindRunAndPostCommit,
    IncrementMetric,
    Log,
    PatchRun,
    PostCommit,
    PostRun,
    PostSheets,
    RunEvent,
)
from telemetry.effects.codec import CodecError, decode_effect, encode_effect
from telemetry.effects.records import RECORD_FIELDS

from .strategies import json_values, names, run_records, times

_texts = st.text(max_size=12)
_buffer_entries = st.builds(
    BufferEntry,
    operation=st.sampled_from(["create", "update"]),
    record=run_records,
    fields=st.lists(st.sampled_from(RECORD_FIELDS), max_size=4).map(tuple),
)
_commits = st.builds(CommitDetails, _texts, _texts, st.none() | _texts, st.none() | _texts)
_any_entries = _buffer_entries | st.builds(CommitEntry, _texts, _commits)
_fallbacks = st.none() | st.builds(AppendBuffer, _any_entries)
_events = st.builds(RunEvent, _texts, names, json_values, times)
_EFFECTS_BY_TYPE: dict[type, st.SearchStrategy[Effect]] = {
    PostRun: st.builds(PostRun, run_records, _fallbacks),
    PatchRun: st.builds(
        PatchRun, run_records, st.lists(st.sampled_from(RECORD_FIELDS), max_size=4).map(tuple), _fallbacks
    ),
    PostCommit: st.builds(PostCommit, run_records, _commits, _fallbacks),
    FindRunAndPostCommit: st.builds(FindRunAndPostCommit, _texts, _commits, _fallbacks),
    AppendBuffer: st.builds(AppendBuffer, _any_entries),
    AppendNdjson: st.one_of(
        st.builds(AppendNdjson, st.sampled_from(["run_start", "run_end", "run_update"]), run_records),
        st.builds(AppendNdjson, st.just("event"), _events),
    ),
    PostSheets: st.builds(PostSheets, run_records),
    IncrementMetric: st.builds(IncrementMetric, _texts),
    Log: st.builds(Log, st.sampled_from(["debug", "info", "warning", "error"]), _texts),
}
effects = st.one_of(*_EFFECTS_BY_TYPE.values())


def test_strategy_covers_every_effect_type() -> None:
    assert set(_EFFECTS_BY_TYPE) == set(EFFECT_TYPES)


@given(effects)
def test_codec_round_trips_every_effect(effect: Effect) -> None:
    line = encode_effect(effect)
    assert "\n" not in line
    assert decode_effect(line) == effect


@given(st.dictionaries(st.sampled_from(["type", "iso", "record"]), json_values, min_size=1), times)
def test_user_json_is_copied_untouched(payload: dict[str, object], at: datetime) -> None:
    """A user dict that looks like a tagged object (`"type": "datetime"`) stays a dict."""
    payload = {**payload, "type": "datetime"}
    effect = AppendNdjson("event", RunEvent("run", "checkpoint", payload, at))
    decoded = decode_effect(encode_effect(effect))
    assert isinstance(decoded, AppendNdjson) and isinstance(decoded.body, RunEvent)
    assert decoded.body.payload == payload


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"type": "Teleport", "where": "mars"}', "unknown type tag 'Teleport'"),
        ('{"type": "IncrementMetric"}', "cannot build IncrementMetric"),
        ('{"type": "Log", "level": "info", "message": "m", "colour": "red"}', "cannot build Log"),
        ('{"type": "CommitDetails", "commit_hash": "abc1234", "commit_source": "ci"}', "not an effect"),
        ('"just text"', "not an effect"),
    ],
)
def test_codec_refuses_what_is_not_an_effect(line: str, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        decode_effect(line)


@given(times)
def test_datetimes_are_tagged_with_their_iso_text(at: datetime) -> None:
    encoded = json.loads(encode_effect(AppendNdjson("event", RunEvent("run", "step", None, at))))
    assert encoded["body"]["timestamp"] == {"type": "datetime", "iso": at.isoformat()}
    assert encoded["body"]["type"] == "RunEvent" and encoded["type"] == "AppendNdjson"
