"""Properties of the run-id rules: generated id format, custom id validation and its order,
fallback to a generated id, duplicate handling, and the run-id counters."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from telemetry.core import (
    RegistryState,
    RunIdCounters,
    StartRun,
    ValidateCustomRunId,
    decide,
    run_id_metrics,
    run_id_snapshot,
)
from telemetry.effects import Log
from telemetry.core.run_ids import generate_run_id

from .strategies import (
    FORBIDDEN,
    MAX_RUN_ID,
    blank_custom_ids,
    blank_names,
    custom_ids_with_separator,
    expected_rejection,
    names,
    nonces,
    rejected_custom_ids,
    split_nonces,
    start_runs,
    times,
    too_long_custom_ids,
    valid_custom_ids,
)

_GENERATED = re.compile(r"(\d{8})T(\d{6})Z-(.+)-([0-9a-f]{8})")


def _validate(run_id: str) -> tuple[RegistryState, object]:
    decision = decide(RegistryState(), ValidateCustomRunId(run_id))
    return decision.state, decision.reply


@given(custom_ids_with_separator())
def test_custom_id_with_separator_is_rejected(run_id: str) -> None:
    state, reply = _validate(run_id)
    assert reply == (False, "invalid_chars")
    assert state.counters == RunIdCounters(rejected_invalid_chars=1)


@given(blank_custom_ids)
def test_blank_custom_id_is_rejected_as_empty(run_id: str) -> None:
    state, reply = _validate(run_id)
    assert reply == (False, "empty")
    assert state.counters == RunIdCounters(rejected_empty=1)


@given(too_long_custom_ids, st.sampled_from(["", *FORBIDDEN]))
def test_custom_id_over_255_is_rejected_as_too_long(run_id: str, mark: str) -> None:
    """Length is checked before characters: a long id with a `/` is `too_long`."""
    state, reply = _validate(run_id + mark)
    assert reply == (False, "too_long")
    assert state.counters == RunIdCounters(rejected_too_long=1)


@given(valid_custom_ids)
def test_valid_custom_id_is_accepted_and_not_counted(run_id: str) -> None:
    state, reply = _validate(run_id)
    assert reply == (True, None)
    assert state.counters == RunIdCounters()


@given(start_runs(valid_custom_ids))
def test_valid_custom_id_is_kept_as_the_run_id(command: StartRun) -> None:
    decision = decide(RegistryState(), command)
    assert decision.reply == command.custom_run_id
    assert decision.state.counters == RunIdCounters(custom_accepted=1)
    assert not [effect for effect in decision.effects if isinstance(effect, Log)]


@given(start_runs(), rejected_custom_ids)
def test_rejected_custom_id_falls_back_to_generated_id(command: StartRun, rejected: tuple[str, str]) -> None:
    run_id, reason = rejected
    decision = decide(RegistryState(), attrs.evolve(command, custom_run_id=run_id))
    assert decision.reply == decide(RegistryState(), command).reply
    assert _GENERATED.fullmatch(decision.reply)
    assert decision.state.counters == RunIdCounters(generated=1, **{f"rejected_{reason}": 1})
    shown = repr(run_id if len(run_id) <= 40 else run_id[:40] + "…")
    used = decision.reply
    assert Log("warning", f"Custom run_id {shown} rejected ({reason}); using generated run_id {used}") in decision.effects


@given(start_runs())
def test_generated_id_has_spec_format(command: StartRun) -> None:
    decision = decide(RegistryState(), command)
    match = _GENERATED.fullmatch(decision.reply)
    assert match is not None
    assert match.group(1, 2, 3, 4) == (
        command.at.strftime("%Y%m%d"),
        command.at.strftime("%H%M%S"),
        command.agent_name,
        command.nonce[:8],
    )
    assert decision.state.counters == RunIdCounters(generated=1)


@given(start_runs(agent_names=blank_names))
def test_blank_agent_name_is_recorded_as_unknown(command: StartRun) -> None:
    decision = decide(RegistryState(), command)
    assert decision.reply.split("-")[1] == "unknown"
    assert decision.state.active[decision.reply].agent_name == "unknown"
    assert Log("warning", "agent_name is blank; recorded as 'unknown'") in decision.effects


@given(valid_custom_ids, start_runs(), nonces)
def test_duplicate_custom_id_gets_duplicate_suffix_within_255(
    custom: str, command: StartRun, nonce: str
) -> None:
    first = decide(RegistryState(), attrs.evolve(command, custom_run_id=custom))
    second = decide(first.state, attrs.evolve(command, custom_run_id=custom, nonce=nonce))
    suffix = f"-duplicate-{nonce[8:16]}"
    assert second.reply == custom[: MAX_RUN_ID - len(suffix)] + suffix
    assert len(second.reply) <= MAX_RUN_ID
    assert set(second.state.active) == {custom, second.reply}
    assert second.state.counters == RunIdCounters(custom_accepted=2, duplicates_detected=1)
    shown = custom if len(custom) <= 40 else custom[:40] + "…"
    assert Log("error", f"Custom run_id '{shown}' is already active; using {second.reply}") in second.effects


@given(start_runs(nonce=split_nonces), names)
def test_duplicate_generated_id_is_regenerated(command: StartRun, job_type: str) -> None:
    first = decide(RegistryState(), command)
    second = decide(first.state, attrs.evolve(command, job_type=job_type))
    assert second.reply == f"{command.at:%Y%m%dT%H%M%SZ}-{command.agent_name}-{command.nonce[8:16]}"
    assert set(second.state.active) == {first.reply, second.reply}
    assert second.state.active[first.reply] == first.state.active[first.reply]
    assert second.state.counters == RunIdCounters(generated=2, duplicates_detected=1)
    assert Log("info", "Regenerating run_id to avoid duplicate") in second.effects


@given(
    st.lists(st.one_of(valid_custom_ids, rejected_custom_ids.map(lambda pair: pair[0])), max_size=8), times
)
def test_counters_match_snapshot_shape(custom_ids: list[str], at: datetime) -> None:
    state = RegistryState()
    for custom in custom_ids:
        state = decide(state, ValidateCustomRunId(custom)).state
    for number, custom in enumerate(custom_ids):
        start = StartRun(
            "agent", "job", at, f"event-{number}", f"{number:08x}{number:08x}f", custom_run_id=custom
        )
        state = decide(state, start).state
    counters = state.counters
    reasons = [expected_rejection(custom) for custom in custom_ids]
    accepted = [custom for custom, reason in zip(custom_ids, reasons) if reason is None]
    assert counters == RunIdCounters(
        custom_accepted=len(accepted),
        generated=len(custom_ids) - len(accepted),
        rejected_empty=2 * reasons.count("empty"),
        rejected_too_long=2 * reasons.count("too_long"),
        rejected_invalid_chars=2 * reasons.count("invalid_chars"),
        duplicates_detected=len(accepted) - len(set(accepted)),
    )
    metrics = run_id_metrics(counters)
    rejected = counters.rejected_empty + counters.rejected_too_long + counters.rejected_invalid_chars
    total = counters.custom_accepted + counters.generated
    assert metrics == {
        "custom_accepted": counters.custom_accepted,
        "generated": counters.generated,
        "rejected": {
            "empty": counters.rejected_empty,
            "too_long": counters.rejected_too_long,
            "invalid_chars": counters.rejected_invalid_chars,
            "total": rejected,
        },
        "duplicates_detected": counters.duplicates_detected,
        "total_runs": total,
        "custom_percentage": round(100 * counters.custom_accepted / total, 2) if total else 0.0,
    }
    assert run_id_snapshot(counters, at.isoformat()) == {
        "run_id_metrics": metrics,
        "timestamp": at.isoformat(),
    }


@given(st.text(alphabet="0123456789abcdef", max_size=15))
def test_short_nonce_is_refused(nonce: str) -> None:
    with pytest.raises(ValueError, match="16 hex characters"):
        StartRun("agent", "job", datetime(2024, 1, 1, tzinfo=timezone.utc), "event", nonce)


@given(st.datetimes(timezones=st.none()))
def test_start_time_without_zone_is_refused(at: datetime) -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        StartRun("agent", "job", at, "event", "0123456789abcdef")


@given(st.text(min_size=1).filter(str.strip), st.datetimes(timezones=st.timezones()))
def test_generated_id_is_in_utc_and_free_of_separators(agent_name: str, at: datetime) -> None:
    assume(at.utcoffset() is not None)
    run_id = generate_run_id(agent_name, at, "a1b2c3d4")
    utc = at.astimezone(timezone.utc)
    # YYYY is four digits even before the year 1000 (strftime's %Y is not, on glibc).
    assert run_id.startswith(f"{utc.year:04d}" + utc.strftime("%m%dT%H%M%SZ-"))
    assert not any(mark in run_id for mark in ("/", "\\", "\x00"))
