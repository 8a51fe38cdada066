"""The quick checks of `validated_create`/`validated_patch` and the pydantic models they
stand in for give the same result on any body: the same row, or a ValidationError (the
models then name the refused fields in the 422)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from telemetry.service.validation import (
    CREATE_FIELDS,
    IGNORED_FIELDS,
    PATCH_FIELDS,
    model_create,
    model_patch,
)
from telemetry.service.fast_validation import validated_create, validated_patch
from tests.service.helpers import run_body

# Values at the edges of every rule: types, ranges, statuses and aliases, hashes, zones,
# event ids (no "/", control characters, "." or "..").
_EDGES: list[Any] = [
    None, True, False, -1, 0, 3, 2**63 - 1, 2**63, 1.0, 0.5, "", "x", "running", "FAILED", "Completed",
    "bogus", "ci", "llm", "manual", "CI", "abcdef1", "ABCDEF1234", "abcde", "g" * 8, "a" * 41, "abcdef1\n",
    "2024-05-01T12:00:00+02:00", "2024-05-01T12:00:00", "noon", "2024-05-01T12:00:00Z", "12", [1], {"a": 1},
    "a/b", "/", "a\nb", "a\x00b", "a\x7fb", "a\x85b", "a\\b", "a%2Fb", ".", "..", "...",
]  # fmt: skip
_VALUES = st.one_of(
    st.sampled_from(_EDGES),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_IGNORED = sorted(IGNORED_FIELDS)
_NAMES = st.sampled_from([*CREATE_FIELDS, *_IGNORED, "unknown"])


def _outcome(validate: Callable[[Any], dict[str, Any]], body: Any) -> Any:
    try:
        return validate(body)
    except ValidationError:
        return "refused"


def test_every_edge_value_of_every_field_gets_the_same_answer() -> None:
    for name in [*CREATE_FIELDS, *_IGNORED, "unknown"]:
        for value in _EDGES:
            body = {**run_body(), name: value}
            assert _outcome(validated_create, body) == _outcome(model_create, body), (name, value)
            patch = {name: value}
            assert _outcome(validated_patch, patch) == _outcome(model_patch, patch), (name, value)


@given(st.dictionaries(_NAMES, _VALUES, max_size=4), st.lists(st.sampled_from(CREATE_FIELDS), max_size=2))
def test_create_quick_checks_agree_with_the_model(changes: dict[str, Any], removed: list[str]) -> None:
    body = {**run_body(), **changes}
    for name in removed:
        body.pop(name, None)
    assert _outcome(validated_create, body) == _outcome(model_create, body)


@given(st.dictionaries(st.sampled_from([*PATCH_FIELDS, *_IGNORED, "event_id", "unknown"]), _VALUES, max_size=4))
def test_patch_quick_checks_agree_with_the_model(body: dict[str, Any]) -> None:
    fast, model = _outcome(validated_patch, body), _outcome(model_patch, body)
    assert fast == model
    if isinstance(fast, dict):
        assert list(fast) == list(model)  # `updated_fields` keeps the same order


@given(st.one_of(st.none(), st.integers(), st.lists(st.integers(), max_size=2), st.text(max_size=3)))
def test_non_objects_are_refused_by_both(body: Any) -> None:
    assert _outcome(validated_create, body) == _outcome(model_create, body) == "refused"
    assert _outcome(validated_patch, body) == _outcome(model_patch, body) == "refused"
