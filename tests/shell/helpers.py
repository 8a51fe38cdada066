"""Helpers for the client's tests: configs with short timeouts whose files live in the
test's own directory, and readers for what the client left on disk or in the service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from telemetry import TelemetryClient, TelemetryConfig
from telemetry.effects.records import BufferEntry, CommitEntry
from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.outbox.drain import unsettled_entries
from tests.support.buffer_files import read_entry, record_from_wire

ClientFactory = Callable[..., TelemetryClient]
# Short enough that a hung service costs a test a fraction of a second.
FAST = {
    "connect_timeout_s": 0.3,
    "read_timeout_s": 0.4,
    "breaker_cooldown_s": 0.3,
    "heartbeat_interval_s": 0.0,
    "sync_interval_s": 0.0,  # the background sync (tests/sync) would empty the buffer under test
    "exit_budget_s": 1.0,
    "export_timeout_s": 1.0,
    "export_backoff_s": 0.05,
}


def fast_config(api_url: str, **overrides: Any) -> TelemetryConfig:
    """A config for tests: short timeouts, no heartbeat; `base_dir` among the overrides."""
    return TelemetryConfig(**{"api_url": api_url, **FAST, **overrides})


def pending_entries(directory: Path) -> list[BufferEntry | CommitEntry]:
    """Every pending buffer entry, oldest first."""
    buffer = BufferDirectory(directory)
    return [read_entry(path) for path in buffer.pending()]


def on_disk(directory: Path) -> list[BufferEntry]:
    """Every run entry waiting in a buffer directory for delivery: its buffer files and, in
    background mode, what its outbox segments hold past their ledger's offset."""
    entries = buffer_entries(directory)
    for columns, payload in unsettled_entries(directory):
        operation, fields, values = orjson.loads(payload)
        entries.append(BufferEntry(operation, record_from_wire(dict(zip(columns, values))), tuple(fields)))
    return entries


def buffer_entries(directory: Path) -> list[BufferEntry]:
    """The pending creates and updates, oldest first (commits buffered by run id left out)."""
    return [entry for entry in pending_entries(directory) if isinstance(entry, BufferEntry)]


def ndjson_lines(directory: Path) -> list[dict[str, Any]]:
    """Every line of every backup file, parsed."""
    lines: list[dict[str, Any]] = []
    for path in sorted(directory.glob("events_*.ndjson")):
        lines.extend(json.loads(line) for line in path.read_bytes().splitlines() if line)
    return lines


def stored_runs(url: str, run_id: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/runs", params={"run_id": run_id}, timeout=10)
    response.raise_for_status()
    rows: list[dict[str, Any]] = response.json()
    return rows


REPO = Path(__file__).resolve().parents[2]


def python_process(code: str, *args: str, **popen: Any) -> subprocess.Popen[str]:
    """A fresh Python interpreter running `code` with `sys.argv[1:] == args` (the repo
    importable), output as text."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def run_python(code: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run `code` to its end; fails the test if it takes longer than `timeout`."""
    process = python_process(code)
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
