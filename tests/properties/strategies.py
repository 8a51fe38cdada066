"""Hypothesis strategies for the core's inputs: times, nonces, event ids, custom run ids
(valid and refused, with the reason), field values (good and bad), statuses and commands,
and the steps of simulation scenarios."""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from telemetry.core import (
    AssociateCommit,
    EndRun,
    Heartbeat,
    LogEvent,
    SetMetrics,
    StartRun,
    ValidateCustomRunId,
    decide,
)
from telemetry.core.state import CoreSettings, RegistryState
from telemetry.effects.records import COUNT_FIELDS, RECORD_FIELDS, STORED_STATUSES, RunRecord
from telemetry.simulation import Advance, Commit, End, Event, Metrics, SetCondition, Start
from telemetry.simulation import Heartbeat as SimulatedHeartbeat

# The rules under test, written out here rather than read from the code under test.
MAX_RUN_ID = 255
FORBIDDEN = ("/", "\\", "\x00")
HEX = "0123456789abcdef"
STATUS_ALIASES = {"failed": "failure", "completed": "success", "succeeded": "success"}
TERMINAL = ("success", "failure", "partial", "timeout", "cancelled")
SOURCES = ("manual", "llm", "ci")
KNOWN_STATUS_WORDS = frozenset({*TERMINAL, *STATUS_ALIASES, "running"})
JSON_FIELDS = ("metrics_json", "context_json")
UPDATE_TEXT_FIELDS = (
    "input_summary",
    "output_summary",
    "error_summary",
    "error_details",
    "source_ref",
    "target_ref",
    "git_repo",
    "git_branch",
    "git_run_tag",
)
START_ONLY_TEXT_FIELDS = (
    "product",
    "product_family",
    "platform",
    "subdomain",
    "website",
    "website_section",
    "item_name",
    "insight_id",
    "parent_run_id",
    "host",
    "environment",
    "agent_owner",
)
UPDATE_FIELDS = (*COUNT_FIELDS, *UPDATE_TEXT_FIELDS, *JSON_FIELDS)
START_FIELDS = (*UPDATE_FIELDS, *START_ONLY_TEXT_FIELDS)
NOT_SETTABLE_AT_START = tuple(name for name in RECORD_FIELDS if name not in START_FIELDS)
NOT_SETTABLE_AT_UPDATE = tuple(name for name in RECORD_FIELDS if name not in UPDATE_FIELDS)


def expected_rejection(custom: str) -> str | None:
    """The spec's verdict on a custom run id, written independently of the core."""
    if not custom.strip():
        return "empty"
    if len(custom) > MAX_RUN_ID:
        return "too_long"
    return "invalid_chars" if any(mark in custom for mark in FORBIDDEN) else None


times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(timezone.utc)
)
nonces = st.text(alphabet=HEX, min_size=16, max_size=32)
# Generation and regeneration use the two halves of the nonce; fresh randomness never
# repeats a half, so properties about regeneration draw nonces whose halves differ.
split_nonces = nonces.filter(lambda nonce: nonce[:8] != nonce[8:16])
event_ids = st.uuids().map(str)
names = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=20)
blank_names = st.text(alphabet=" \t\n", max_size=4)

_id_chars = st.characters(exclude_characters="".join(FORBIDDEN), exclude_categories=["Cs"])
valid_custom_ids = st.one_of(
    st.text(_id_chars, min_size=1, max_size=40),
    st.text(_id_chars, min_size=230, max_size=MAX_RUN_ID),
).filter(lambda run_id: run_id.strip() != "")
blank_custom_ids = st.text(alphabet=" \t\n\r\x0b\x0c\u00a0\u2003", max_size=300)
too_long_custom_ids = st.text(min_size=MAX_RUN_ID + 1, max_size=400).filter(lambda s: s.strip() != "")


@st.composite
def custom_ids_with_separator(draw: st.DrawFn) -> str:
    """A custom id of at most 255 characters holding at least one `/`, `\\` or NUL."""
    before = draw(st.text(_id_chars, max_size=100))
    after = draw(st.text(max_size=100))
    return before + draw(st.sampled_from(FORBIDDEN)) + after


rejected_custom_ids = st.one_of(
    blank_custom_ids.map(lambda run_id: (run_id, "empty")),
    too_long_custom_ids.map(lambda run_id: (run_id, "too_long")),
    custom_ids_with_separator().map(lambda run_id: (run_id, "invalid_chars")),
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
json_dicts = st.dictionaries(st.text(max_size=5), json_values, max_size=4)
good_counts = st.integers(0, 10**12) | st.integers(0, 10**6).map(float)
bad_counts = st.one_of(
    st.integers(max_value=-1),
    st.booleans(),
    st.floats(allow_nan=False).filter(lambda x: not x.is_integer() or x < 0),
    st.text(max_size=5),
    st.none(),
)
good_texts = st.text(max_size=20) | st.integers() | st.floats(allow_nan=False) | st.none()
bad_texts = (
    st.booleans()
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)
unknown_names = st.text(min_size=1, max_size=12).filter(lambda name: name not in RECORD_FIELDS)


def good_value(name: str) -> st.SearchStrategy[Any]:
    """A value the field `name` accepts."""
    if name in COUNT_FIELDS:
        return good_counts
    if name in JSON_FIELDS:
        return json_values
    return good_texts


def bad_value(name: str) -> st.SearchStrategy[Any]:
    """A value the count or text field `name` refuses."""
    return bad_counts if name in COUNT_FIELDS else bad_texts


def good_fields(allowed: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """A subset of the `allowed` fields, each with an acceptable value."""
    return st.fixed_dictionaries({}, optional={name: good_value(name) for name in allowed})


refusable_update_fields = tuple(name for name in UPDATE_FIELDS if name not in JSON_FIELDS)

good_terminal_said = st.sampled_from(TERMINAL)
alias_said = st.sampled_from(sorted(STATUS_ALIASES))


@st.composite
def spelled_loosely(draw: st.DrawFn, word: str) -> str:
    """`word` in any mix of case, with blanks around it."""
    cased = "".join(c.upper() if draw(st.booleans()) else c for c in word)
    return draw(st.sampled_from(["", " ", "\t"])) + cased + draw(st.sampled_from(["", " ", "\n"]))


garbage_statuses = st.text(max_size=12).filter(lambda said: said.strip().lower() not in KNOWN_STATUS_WORDS)
good_hashes = st.text(alphabet=HEX + "ABCDEF", min_size=7, max_size=40)


@st.composite
def bad_hashes(draw: st.DrawFn) -> str:
    """Too short, too long, or holding a character that is not hexadecimal."""
    kind = draw(st.sampled_from(["short", "long", "non_hex"]))
    if kind == "short":
        return draw(st.text(alphabet=HEX, max_size=6))
    if kind == "long":
        return draw(st.text(alphabet=HEX, min_size=41, max_size=60))
    stray = draw(st.characters().filter(lambda c: c not in string.hexdigits))
    hex_part = draw(st.text(alphabet=HEX, min_size=7, max_size=39))
    cut = draw(st.integers(0, len(hex_part)))
    return hex_part[:cut] + stray + hex_part[cut:]


bad_sources = st.text(max_size=10).filter(lambda source: source not in SOURCES)


def start_runs(
    custom_run_ids: st.SearchStrategy[str | None] = st.none(),
    fields: st.SearchStrategy[Mapping[str, Any]] = st.just({}),
    agent_names: st.SearchStrategy[str] = names,
    nonce: st.SearchStrategy[str] = nonces,
    at: st.SearchStrategy[datetime] = times,
) -> st.SearchStrategy[StartRun]:
    """`StartRun` commands; by default with a generated id and no extra fields."""
    return st.builds(
        StartRun,
        agent_name=agent_names,
        job_type=names,
        at=at,
        event_id=event_ids,
        nonce=nonce,
        trigger_type=st.sampled_from(["cli", "web", "scheduler", "mcp", "manual"]),
        custom_run_id=custom_run_ids,
        fields=fields,
    )


any_custom_ids = st.none() | valid_custom_ids | rejected_custom_ids.map(lambda pair: pair[0])
statuses = st.one_of(good_terminal_said, alias_said, alias_said.flatmap(spelled_loosely), garbage_statuses)


def end_runs(
    run_ids: st.SearchStrategy[str], fields: st.SearchStrategy[Mapping[str, Any]] = st.just({})
) -> st.SearchStrategy[EndRun]:
    """`EndRun` commands with any status: stored, alias, loosely spelled or garbage."""
    return st.builds(EndRun, run_id=run_ids, status=statuses, at=times, fields=fields)


def log_events(run_ids: st.SearchStrategy[str]) -> st.SearchStrategy[LogEvent]:
    """`LogEvent` commands with JSON payloads."""
    return st.builds(LogEvent, run_id=run_ids, event_type=names, at=times, payload=json_values)


def set_metrics(run_ids: st.SearchStrategy[str]) -> st.SearchStrategy[SetMetrics]:
    """`SetMetrics` commands mixing good, bad, unknown and not-settable fields."""
    mixed = st.dictionaries(
        st.sampled_from(RECORD_FIELDS) | unknown_names,
        good_texts | bad_counts | json_values,
        max_size=4,
    )
    return st.builds(SetMetrics, run_id=run_ids, fields=good_fields(UPDATE_FIELDS) | mixed)


def associate_commits(run_ids: st.SearchStrategy[str]) -> st.SearchStrategy[AssociateCommit]:
    """`AssociateCommit` commands with good and bad hashes and sources."""
    return st.builds(
        AssociateCommit,
        run_id=run_ids,
        commit_hash=good_hashes | bad_hashes(),
        commit_source=st.sampled_from(SOURCES) | bad_sources,
        at=times,
        commit_author=st.none() | st.text(max_size=20),
        commit_timestamp=st.none() | times.map(datetime.isoformat),
    )


validate_custom_run_ids = st.builds(
    ValidateCustomRunId, run_id=valid_custom_ids | rejected_custom_ids.map(lambda pair: pair[0])
)
heartbeats = st.builds(Heartbeat, at=times)


def _record_field(name: str) -> st.SearchStrategy[Any]:
    if name in COUNT_FIELDS:
        return st.integers(0, 10**9)
    if name == "status":
        return st.sampled_from(STORED_STATUSES)
    if name == "duration_ms":
        return st.none() | st.integers(0, 10**9)
    if name in JSON_FIELDS:
        return json_values
    if name in ("event_id", "run_id", "agent_name", "job_type", "start_time", "trigger_type"):
        return st.text(max_size=12)
    return st.none() | st.text(max_size=12)


run_records = st.fixed_dictionaries({name: _record_field(name) for name in RECORD_FIELDS}).map(
    lambda values: RunRecord(**values)
)


@st.composite
def active_states(
    draw: st.DrawFn, min_runs: int = 1, max_runs: int = 3, settings: CoreSettings = CoreSettings()
) -> RegistryState:
    """A state holding `min_runs` to `max_runs` active runs (custom or generated ids, with
    or without fields), after some other runs have ended. Kept cheap to draw: many
    properties start from one."""
    state = RegistryState(settings=settings)
    at = draw(times)
    total = draw(st.integers(min_runs, max_runs))
    ended = draw(st.integers(0, 2))
    for number in range(total + ended):
        custom = draw(st.sampled_from([None, f"run-{number}"]))
        fields = draw(st.sampled_from([{}, {"items_discovered": number, "product": "words"}]))
        nonce = f"{number:08x}{number + 1:08x}"
        state = decide(
            state, StartRun("agent", "job", at, f"event-{number}", nonce, custom_run_id=custom, fields=fields)
        ).state
    for run_id in draw(st.permutations(sorted(state.active)))[:ended]:
        state = decide(state, EndRun(run_id, "success", at + timedelta(seconds=1))).state
    return state


# Simulation scenarios (`telemetry.simulation`): steps over a few run labels, with world changes.
_labels = st.sampled_from(["a", "b", "c"])
_service_changes = st.builds(
    SetCondition,
    service=st.sampled_from(["up", "down", "slow", "erroring", "refusing", "unauthorized"]) | st.none(),
    disk_full=st.booleans() | st.none(),
)
simulation_steps = st.lists(
    st.one_of(
        st.builds(Start, label=_labels, run_id=st.none() | st.sampled_from(["custom", "a/b"]), fields=good_fields(UPDATE_FIELDS)),
        st.builds(End, run=_labels, status=statuses, fields=good_fields(UPDATE_FIELDS)),
        st.builds(Metrics, run=_labels, fields=good_fields(UPDATE_FIELDS)),
        st.builds(Commit, run=_labels | st.just("elsewhere"), commit_hash=good_hashes | bad_hashes(), commit_source=st.sampled_from(SOURCES)),
        st.builds(Event, run=_labels, event_type=names, payload=json_values),
        st.builds(SimulatedHeartbeat),
        st.builds(Advance, st.floats(0, 10, allow_nan=False)),
        _service_changes,
    ),
    max_size=25,
)
