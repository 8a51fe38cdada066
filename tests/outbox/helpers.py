"""Helpers of the outbox tests: runs as entries (made by the real core), an outbox and its
courier on a directory, and the rows they became."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import attrs
from telemetry.effects.records import BufferEntry, RunRecord
from telemetry.shell.outbox import Courier, Outbox
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.service_api import ServiceApi


def run_entries(status: str = "success", **end: Any) -> tuple[BufferEntry, BufferEntry]:
    """A run's create and its end (an update naming the fields an end sets)."""
    record = RunRecord(
        event_id=str(uuid.uuid4()),
        run_id=f"outbox-{uuid.uuid4().hex[:8]}",
        agent_name="outbox-agent",
        job_type="outbox-test",
        start_time="2026-12-05T10:00:00+00:00",
    )
    ended = attrs.evolve(record, status=status, end_time="2026-12-05T10:00:05+00:00", **end)
    return BufferEntry("create", record), BufferEntry("update", ended, ("status", "end_time", *sorted(end)))


def outbox_and_courier(buffer_dir: Path, api: ServiceApi, **outbox: Any) -> tuple[Outbox, Courier]:
    box = Outbox(buffer_dir, SelfMetrics(), **outbox)
    return box, Courier(box, lambda: api, fsync_interval_s=0.0)


def deliver_all(courier: Courier) -> None:
    """Steps until nothing is left to ship (the segments stay: the active one takes writes)."""
    while courier.step():
        pass


def stored(db_path: Path, event_id: str) -> dict[str, Any] | None:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as connection:
        connection.row_factory = sqlite3.Row
        row = connection.execute("SELECT * FROM agent_runs WHERE event_id = ?", (event_id,)).fetchone()
    return None if row is None else dict(row)
