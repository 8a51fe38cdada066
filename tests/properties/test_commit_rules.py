"""Properties of the commit-association rules: hash 7-40 hex (kept in lower case), source
manual/llm/ci, and which run a commit goes to (active, recently ended, or found by the shell)."""

from __future__ import annotations

from datetime import datetime

import attrs
from hypothesis import given
from hypothesis import strategies as st

from telemetry.core import (
    COMMIT_FIELDS,
    AssociateCommit,
    CoreSettings,
    Decision,
    EndRun,
    RegistryState,
    decide,
)
from telemetry.effects import (
    AppendBuffer,
    AppendNdjson,
    BufferEntry,
    CommitDetails,
    CommitEntry,
    FindRunAndPostCommit,
    PostCommit,
)

from .strategies import SOURCES, active_states, bad_hashes, bad_sources, good_hashes, times


def _commit(run_id: str, commit_hash: str, source: str, at: datetime) -> AssociateCommit:
    return AssociateCommit(
        run_id, commit_hash, source, at, "Ann <ann@example.org>", "2024-05-01T10:00:00+00:00"
    )


def _details(commit_hash: str, source: str) -> CommitDetails:
    return CommitDetails(commit_hash.lower(), source, "Ann <ann@example.org>", "2024-05-01T10:00:00+00:00")


@given(active_states(), bad_hashes(), st.sampled_from(SOURCES), times)
def test_commit_hash_must_be_7_to_40_hex(
    state: RegistryState, commit_hash: str, source: str, at: datetime
) -> None:
    run_id = sorted(state.active)[0]
    expected = (False, f"Invalid commit hash '{commit_hash}': expected 7-40 hex characters")
    assert decide(state, _commit(run_id, commit_hash, source, at)) == Decision(state, expected, ())


@given(active_states(), good_hashes, bad_sources, times)
def test_commit_source_must_be_manual_llm_or_ci(
    state: RegistryState, commit_hash: str, source: str, at: datetime
) -> None:
    run_id = sorted(state.active)[0]
    expected = (False, f"Invalid commit source '{source}': expected one of manual, llm, ci")
    assert decide(state, _commit(run_id, commit_hash, source, at)) == Decision(state, expected, ())


def _assert_associated(state: RegistryState, command: AssociateCommit, decision: Decision) -> None:
    held = state.active.get(command.run_id) or state.recent.runs[command.run_id]
    commit = _details(command.commit_hash, command.commit_source)
    record = attrs.evolve(
        held,
        git_commit_hash=commit.commit_hash,
        git_commit_source=commit.commit_source,
        git_commit_author=commit.commit_author,
        git_commit_timestamp=commit.commit_timestamp,
    )
    assert decision.reply == (True, f"Commit {commit.commit_hash} associated with run {command.run_id}")
    assert decision.effects == (
        PostCommit(record, commit, fallback=AppendBuffer(BufferEntry("update", record, COMMIT_FIELDS))),
        AppendNdjson("run_update", record),
    )
    assert COMMIT_FIELDS == (
        "git_commit_hash",
        "git_commit_source",
        "git_commit_author",
        "git_commit_timestamp",
    )


@given(active_states(), good_hashes, st.sampled_from(SOURCES), times)
def test_commit_on_active_run_updates_it_in_lower_case(
    state: RegistryState, commit_hash: str, source: str, at: datetime
) -> None:
    run_id = sorted(state.active)[0]
    command = _commit(run_id, commit_hash, source, at)
    decision = decide(state, command)
    _assert_associated(state, command, decision)
    assert decision.state.active[run_id].git_commit_hash == commit_hash.lower()
    assert decision.state.recent == state.recent


@given(active_states(), good_hashes, st.sampled_from(SOURCES), times)
def test_commit_after_end_uses_recent_run(
    state: RegistryState, commit_hash: str, source: str, at: datetime
) -> None:
    run_id = sorted(state.active)[0]
    state = decide(state, EndRun(run_id, "success", at)).state
    command = _commit(run_id, commit_hash, source, at)
    decision = decide(state, command)
    _assert_associated(state, command, decision)
    assert decision.state.recent.runs[run_id].git_commit_source == source
    assert decision.state.active == state.active


@given(
    active_states(min_runs=2, settings=CoreSettings(recent_capacity=1)),
    good_hashes,
    st.sampled_from(SOURCES),
    times,
    st.booleans(),
)
def test_commit_for_a_run_the_client_forgot_is_found_by_the_shell_or_buffered_by_run_id(
    state: RegistryState, commit_hash: str, source: str, at: datetime, never_known: bool
) -> None:
    """A run neither active nor recent (never known, or forgotten) is looked up by run id;
    if the service cannot be reached, the commit is buffered by run id (no record to carry)."""
    first, second, *_ = sorted(state.active)
    for run_id in (first, second):
        state = decide(state, EndRun(run_id, "success", at)).state
    forgotten = "never-known" if never_known else first
    details = _details(commit_hash, source)
    expected = (FindRunAndPostCommit(forgotten, details, AppendBuffer(CommitEntry(forgotten, details))),)
    assert decide(state, _commit(forgotten, commit_hash, source, at)) == Decision(state, None, expected)
