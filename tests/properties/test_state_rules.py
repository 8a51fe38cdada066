"""Properties of the state: `decide` is deterministic and never changes the state it is given,
and the memory of recently ended runs is bounded, forgetting the oldest first."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry.core import Command, CoreSettings, EndRun, RegistryState, StartRun, decide

from .strategies import (
    active_states,
    associate_commits,
    end_runs,
    heartbeats,
    log_events,
    names,
    set_metrics,
    start_runs,
    times,
    any_custom_ids,
    validate_custom_run_ids,
)


def _commands(run_ids: list[str]) -> st.SearchStrategy[Command]:
    targets = st.sampled_from(run_ids) | names
    return st.one_of(
        start_runs(any_custom_ids | st.sampled_from(run_ids)),
        end_runs(targets),
        log_events(targets),
        set_metrics(targets),
        associate_commits(targets),
        validate_custom_run_ids,
        heartbeats,
    )


@given(active_states(min_runs=1, settings=CoreSettings(export_enabled=True, recent_capacity=2)), st.data())
def test_decide_is_deterministic_and_leaves_state_unchanged(
    state: RegistryState, data: st.DataObject
) -> None:
    command = data.draw(_commands(sorted({*state.active, *state.recent.runs})))
    state_before, command_before = copy.deepcopy(state), copy.deepcopy(command)
    first = decide(state, command)
    assert decide(state, command) == first
    assert state == state_before
    assert command == command_before


@given(st.integers(1, 4), st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), max_size=12), times)
def test_recent_runs_are_bounded(capacity: int, run_ids: list[str], at: datetime) -> None:
    """After every end, the recent runs are exactly the distinct ids of the last
    `capacity` ends, each as it ended most recently."""
    state = RegistryState(settings=CoreSettings(recent_capacity=capacity))
    ended: list[str] = []
    for number, run_id in enumerate(run_ids):
        start = StartRun("agent", "job", at, f"event-{number}", "0" * 16, custom_run_id=run_id)
        state = decide(state, start).state
        decision = decide(state, EndRun(run_id, "success", at))
        state = decision.state
        ended.append(run_id)
        assert set(state.recent.runs) == set(ended[-capacity:])
        assert state.recent.runs[run_id].event_id == f"event-{number}"


@given(active_states(min_runs=2, max_runs=4), times)
def test_earlier_states_stay_valid_after_later_decisions(state: RegistryState, at: datetime) -> None:
    """States are persistent values: deciding from one state never disturbs another."""
    before = copy.deepcopy(state)
    run_id = sorted(state.active)[0]
    ended = decide(state, EndRun(run_id, "failed", at)).state
    assert run_id in state.active and run_id not in ended.active
    assert state == before


@pytest.mark.parametrize("capacity", [0, -1])
def test_recent_capacity_must_be_positive(capacity: int) -> None:
    """A capacity below 1 would make every `end_run` fail (ring index modulo 0)."""
    with pytest.raises(ValueError, match="recent_capacity"):
        CoreSettings(recent_capacity=capacity)


_EFFECTS_PROBE = """
from datetime import datetime, timezone
from telemetry.core import Heartbeat, RegistryState, StartRun, decide
from telemetry.effects.codec import encode_effect
at = datetime(2024, 5, 1, tzinfo=timezone.utc)
state = RegistryState()
for number in range(32):
    state = decide(state, StartRun("agent", "job", at, f"event-{number}", f"{number:016x}")).state
print("\\n".join(encode_effect(effect) for effect in decide(state, Heartbeat(at)).effects))
"""


def test_decisions_do_not_depend_on_the_hash_seed() -> None:
    """Same state and command, same effects in the same order, in every process (string
    hashes, and so the iteration order of hash maps, change with `PYTHONHASHSEED`)."""
    outputs = {
        subprocess.run(
            [sys.executable, "-c", _EFFECTS_PROBE],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1
    assert next(iter(outputs)).count("PatchRun") == 32
