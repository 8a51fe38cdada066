"""Helpers of the chaos tests: agent processes (tests/support/agent_load.py) with their
environment, their journals, `telemetry sync` as a process, and the rows of a stopped
service's SQLite file read with plain `sqlite3`."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

REPO = Path(__file__).resolve().parents[2]
AGENT_SCRIPT = REPO / "tests" / "support" / "agent_load.py"
_OUR_PREFIXES = ("TELEMETRY_", "METRICS_", "GOOGLE_SHEETS_")
ROW_FIELDS = ("event_id", "run_id", "agent_name", "status", "error_summary", "items_discovered",
              "items_succeeded", "items_failed", "metrics_json")  # fmt: skip


def agent_env(url: str, base_dir: Path, buffer_dir: Path, **settings: str) -> dict[str, str]:
    """An agent's environment: this service, its own files, a shared buffer directory, short
    timeouts and a fast background sync; nothing inherited from the developer's shell."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(_OUR_PREFIXES)}
    env.update(
        PYTHONPATH=str(REPO),
        TELEMETRY_API_URL=url,
        TELEMETRY_BASE_DIR=str(base_dir),
        TELEMETRY_BUFFER_DIR=str(buffer_dir),
        TELEMETRY_HTTP_CONNECT_TIMEOUT="0.3",
        TELEMETRY_HTTP_READ_TIMEOUT="2",
        TELEMETRY_BREAKER_COOLDOWN="0.3",
        TELEMETRY_SYNC_INTERVAL="0.5",
        TELEMETRY_HEARTBEAT_INTERVAL="0.5",
    )
    env.update(settings)
    return env


def start_agent(name: str, runs: int, journal: Path, env: Mapping[str, str], pace_s: float) -> subprocess.Popen[str]:
    command = [
        sys.executable, str(AGENT_SCRIPT), "--agent", name, "--runs", str(runs),
        "--journal", str(journal), "--pace-s", f"{pace_s:.4f}",
    ]  # fmt: skip
    return subprocess.Popen(
        command, env=dict(env), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@attrs.frozen
class Journal:
    """What an agent said about its runs: started, about to end, ended (with the final
    state it expects, by run id)."""

    started: tuple[str, ...]
    ending: frozenset[str]
    ended: Mapping[str, Mapping[str, Any]]


def read_journal(path: Path) -> Journal:
    started: list[str] = []
    ending: set[str] = set()
    ended: dict[str, dict[str, Any]] = {}
    if path.exists():
        for text in path.read_text().splitlines():
            line = json.loads(text)  # every line was fsynced whole before the next began
            if "started" in line:
                started.append(line["started"])
            elif "ending" in line:
                ending.add(line["ending"])
            else:
                ended[line["ended"]] = line
    return Journal(tuple(started), frozenset(ending), ended)


def run_sync(buffer_dir: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`telemetry sync` as a real process."""
    command = [sys.executable, "-m", "telemetry", "sync", "--buffer-dir", str(buffer_dir), "--api-url", url, *args]
    env = {name: value for name, value in os.environ.items() if not name.startswith(_OUR_PREFIXES)}
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)


def stored_rows(db_path: Path) -> list[dict[str, Any]]:
    """Every row of `agent_runs` (the service must be stopped), JSON columns parsed."""
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        cursor = connection.execute(f"SELECT {', '.join(ROW_FIELDS)} FROM agent_runs")
        rows = [dict(zip(ROW_FIELDS, values)) for values in cursor]
    finally:
        connection.close()
    for row in rows:
        row["metrics_json"] = json.loads(row["metrics_json"]) if row["metrics_json"] else None
    return rows


def mismatches(row: Mapping[str, Any], expected: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Field -> (stored, expected) where a row differs from an agent's final state."""
    return {
        name: (row.get(name), value)
        for name, value in expected.items()
        if name != "ended" and row.get(name) != value
    }
