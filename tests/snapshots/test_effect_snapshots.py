"""Snapshots of what the core asks for, command by command: the reply and a readable
projection of each effect, so a change in the core's intent shows in review as a diff."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from telemetry.core import (
    AssociateCommit,
    Command,
    CoreSettings,
    EndRun,
    Heartbeat,
    LogEvent,
    RegistryState,
    SetMetrics,
    StartRun,
    decide,
)
from telemetry.effects import Effect
from telemetry.effects.codec import to_jsonable

AT = datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=timezone.utc)
LATER = AT + timedelta(minutes=1, seconds=30, milliseconds=500)
HASH = "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678"


def _start(
    number: int, custom: str | None = None, agent: str = "hugo-translator", nonce: str = "", **fields: Any
) -> StartRun:
    nonce = nonce or f"{number:08x}" + f"{number:08x}".replace("0", "f")
    return StartRun(agent, "translate", AT, f"event-{number:04d}", nonce, custom_run_id=custom, fields=fields)


def _with_runs(*starts: StartRun, ended: tuple[str, ...] = (), export: bool = False) -> RegistryState:
    state = RegistryState(settings=CoreSettings(export_enabled=export))
    for command in starts:
        state = decide(state, command).state
    for run_id in ended:
        state = decide(state, EndRun(run_id, "success", LATER)).state
    return state


def _one_run(**kwargs: Any) -> RegistryState:
    return _with_runs(_start(1, "custom-id-123", product="words", items_discovered=3), **kwargs)


def _end(said: str, **fields: Any) -> tuple[RegistryState, Command]:
    return _one_run(), EndRun("custom-id-123", said, LATER, fields)


def _commit(run_id: str, commit_hash: str = HASH) -> AssociateCommit:
    return AssociateCommit(
        run_id, commit_hash, "llm", LATER, "Ann <ann@example.org>", "2024-05-01T12:31:00+00:00"
    )


CASES: dict[str, Callable[[], tuple[RegistryState, Command]]] = {
    "start_with_custom_id": lambda: (
        RegistryState(),
        _start(1, "custom-id-123", product="words", items_discovered=3, batch=7),
    ),
    "start_with_generated_id": lambda: (RegistryState(), _start(1)),
    "start_with_rejected_id": lambda: (RegistryState(), _start(1, "runs/../etc")),
    "start_with_duplicate_custom_id": lambda: (_one_run(), _start(2, "custom-id-123")),
    "start_with_duplicate_generated_id": lambda: (_with_runs(_start(1)), _start(2, nonce="00000001fffffff2")),
    "start_with_refused_fields": lambda: (
        RegistryState(),
        _start(1, None, " ", items_failed=-1, status="success", git_commit_hash="abc1234"),
    ),
    "end_success": lambda: _end("success", items_succeeded=3, output_summary="3 pages", pages_per_second=2.5),
    "end_failed": lambda: _end("failed", error_summary="boom", items_failed=1),
    "end_completed_alias": lambda: _end(" Completed "),
    "end_unknown_status": lambda: _end("exploded"),
    "end_unknown_run": lambda: (_one_run(), EndRun("no-such-run", "success", LATER)),
    "end_with_export_enabled": lambda: (_one_run(export=True), EndRun("custom-id-123", "partial", LATER)),
    "log_event_known_run": lambda: (
        _one_run(),
        LogEvent("custom-id-123", "checkpoint", LATER, {"step": 2, "type": "page"}),
    ),
    "log_event_unknown_run": lambda: (_one_run(), LogEvent("no-such-run", "checkpoint", LATER)),
    "set_metrics": lambda: (
        _one_run(),
        SetMetrics("custom-id-123", {"items_succeeded": 2.0, "items_skipped": True, "tokens": 512}),
    ),
    "set_metrics_unknown_run": lambda: (_one_run(), SetMetrics("no-such-run", {"items_succeeded": 2})),
    "associate_commit_active_run": lambda: (_one_run(), _commit("custom-id-123")),
    "associate_commit_ended_run": lambda: (_one_run(ended=("custom-id-123",)), _commit("custom-id-123")),
    "associate_commit_unknown_run": lambda: (_one_run(), _commit("run-from-yesterday")),
    "associate_commit_invalid_hash": lambda: (_one_run(), _commit("custom-id-123", "xyz")),
    "heartbeat": lambda: (_with_runs(_start(1, "custom-id-123"), _start(2)), Heartbeat(LATER)),
}


def _readable(value: Any) -> Any:
    """Records without their empty (None) fields; everything else as `to_jsonable` gives it."""
    if isinstance(value, dict):
        keep_none = value.get("type") != "RunRecord"
        return {key: _readable(item) for key, item in value.items() if keep_none or item is not None}
    if isinstance(value, list):
        return [_readable(item) for item in value]
    return value


def _projection(effect: Effect) -> dict[str, Any]:
    """One dict per effect; a fallback that buffers the effect's own record (or commit) says so."""
    projected: dict[str, Any] = _readable(to_jsonable(effect))
    fallback = projected.get("fallback")
    for key in ("record", "commit"):
        if fallback is not None and key in fallback["entry"] and fallback["entry"][key] == projected.get(key):
            fallback["entry"][key] = f"<same as the effect's {key}>"
    return projected


@pytest.mark.parametrize("case", sorted(CASES))
def test_effects_of_each_command(case: str, snapshot: SnapshotAssertion) -> None:
    state, command = CASES[case]()
    decision = decide(state, command)
    assert {
        "reply": decision.reply,
        "effects": [_projection(effect) for effect in decision.effects],
    } == snapshot
