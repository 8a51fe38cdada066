"""Helpers of the sync tests: buffer entries made by the real core (what a client would have
buffered with the service down), buffer files under chosen names, and rows read back."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import httpx

from telemetry.core import AssociateCommit, EndRun, RegistryState, SetMetrics, StartRun, decide
from telemetry.core.commands import Command
from telemetry.effects.records import BufferEntry, CommitEntry, RunRecord
from telemetry.effects.vocabulary import AppendBuffer
from telemetry.shell.buffer_claims import CLAIMS_DIR, LOCK_NAME
from telemetry.wire.format import buffer_document, record_to_wire

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
# Fields the service owns or stamps itself; everything else must round-trip exactly.
SERVER_FIELDS = ("created_at", "updated_at", "heartbeat_at")


@attrs.frozen
class RunPlan:
    """One run as an agent would live it: start fields, metrics set while it runs, an end,
    and optionally a commit associated before or after the end."""

    start_fields: Mapping[str, Any]
    metrics: Mapping[str, Any]
    status: str
    end_fields: Mapping[str, Any]
    commit: str | None  # None, "before_end" or "after_end"
    seconds: int = 5


@attrs.frozen
class Buffered:
    """The entries a run left in the buffer (oldest first) and the record it ended with."""

    entries: tuple[BufferEntry, ...]
    final: RunRecord


def _fallbacks(effects: Sequence[object]) -> list[BufferEntry]:
    fallbacks = (getattr(effect, "fallback", None) for effect in effects)
    # A run the core holds is never buffered by run id: no `CommitEntry` comes from it.
    return [f.entry for f in fallbacks if isinstance(f, AppendBuffer) and isinstance(f.entry, BufferEntry)]


def buffered_run(plan: RunPlan, agent: str = "sync-agent") -> Buffered:
    """Drive the real core through the plan; every delivery effect is taken as failed, so
    each fallback buffer entry is kept, in the order the core asked for them."""
    state = RegistryState()
    event_id = str(uuid.uuid4())
    start = StartRun(agent, "convergence", T0, event_id, uuid.uuid4().hex, fields=dict(plan.start_fields))
    decision = decide(state, start)
    state, run_id, entries = decision.state, decision.reply, _fallbacks(decision.effects)
    assert isinstance(run_id, str)
    commit = AssociateCommit(run_id, "a1b2c3d4e5f6", "ci", T0, "bot <bot@example.com>")
    end_at = T0 + timedelta(seconds=plan.seconds)
    commands: list[Command] = [SetMetrics(run_id, dict(plan.metrics))]
    if plan.commit == "before_end":
        commands.append(commit)
    commands.append(EndRun(run_id, plan.status, end_at, dict(plan.end_fields)))
    if plan.commit == "after_end":
        commands.append(commit)
    for command in commands:
        decision = decide(state, command)
        state = decision.state
        entries.extend(_fallbacks(decision.effects))
    return Buffered(tuple(entries), state.recent.runs[run_id])


def write_entry(buffer_dir: Path, sequence: int, entry: BufferEntry | CommitEntry) -> Path:
    """A buffer file whose name sorts by `sequence`, so the test decides delivery order."""
    buffer_dir.mkdir(parents=True, exist_ok=True)
    path = buffer_dir / f"{sequence:020d}_{uuid.uuid4().hex}.json"
    # Written under a hidden name, then renamed, as `BufferDirectory.append` does: a sync
    # thread already running would otherwise claim the file empty and quarantine it.
    hidden = path.with_name(f".{path.name}.tmp")
    hidden.write_bytes(buffer_document(entry, T0.isoformat()))
    os.rename(hidden, path)
    return path


def claims_files(buffer_dir: Path) -> list[str]:
    """The claims files of passes in `buffer_dir` (all but the claims lock)."""
    claims = buffer_dir / CLAIMS_DIR
    return sorted(path.name for path in claims.iterdir() if path.name != LOCK_NAME) if claims.exists() else []


def fetch_row(client: httpx.Client, event_id: str) -> dict[str, Any] | None:
    response = client.get(f"/api/v1/runs/{event_id}")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    row: dict[str, Any] = response.json()
    return row


def differences(row: Mapping[str, Any], record: RunRecord) -> dict[str, tuple[Any, Any]]:
    """Field -> (stored, expected) for every field where the row is not the record."""
    expected = record_to_wire(record)
    return {
        name: (row.get(name), value)
        for name, value in expected.items()
        if name not in SERVER_FIELDS and row.get(name) != value
    }


def simple_record(event_id: str | None = None, **fields: Any) -> RunRecord:
    """A minimal valid running record with a fresh event id."""
    return RunRecord(
        event_id=event_id or str(uuid.uuid4()),
        run_id=fields.pop("run_id", f"run-{uuid.uuid4().hex[:8]}"),
        agent_name=fields.pop("agent_name", "sync-agent"),
        job_type=fields.pop("job_type", "unit"),
        start_time=fields.pop("start_time", T0.isoformat()),
        **fields,
    )
