"""Helpers of the chaos tests: agent processes (tests/support/agent_load.py) with their
environment, their journals, `telemetry sync` as a process, and the rows of a stopped
service's store read directly, and the check that every run arrived once, in its final state."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
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


def parsed_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The `ROW_FIELDS` of rows whose JSON columns are text, with metrics_json parsed."""
    picked = [{name: row[name] for name in ROW_FIELDS} for row in rows]
    for row in picked:
        row["metrics_json"] = json.loads(row["metrics_json"]) if row["metrics_json"] else None
    return picked


def stored_rows(db_path: Path) -> list[dict[str, Any]]:
    """Every row of `agent_runs` of a SQLite file (the service must be stopped), JSON
    columns parsed."""
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return parsed_rows([dict(row) for row in connection.execute("SELECT * FROM agent_runs")])
    finally:
        connection.close()


def assert_exact_final_states(rows: list[dict[str, Any]], journals: list[Path], total: int, seed: int) -> None:
    """One row per run of the agents' journals (`total` in all), none lost, none duplicated,
    each in the final state its agent journaled."""
    expected = {run_id: line for journal in journals for run_id, line in read_journal(journal).ended.items()}
    assert len(expected) == total, "an agent did not finish its runs"
    per_run = Counter((row["agent_name"], row["run_id"]) for row in rows)
    assert [key for key, count in per_run.items() if count > 1] == [], f"seed {seed}: duplicated rows"
    assert len({row["event_id"] for row in rows}) == len(rows)
    by_run = {row["run_id"]: row for row in rows}
    lost = sorted(set(expected) - set(by_run))
    assert lost == [], f"seed {seed}: {len(lost)} runs lost, e.g. {lost[:5]}"
    wrong = {run_id: mismatches(by_run[run_id], line) for run_id, line in expected.items()}
    wrong = {run_id: diff for run_id, diff in wrong.items() if diff}
    assert wrong == {}, f"seed {seed}: {len(wrong)} runs not in their final state (regressed)"
    assert len(rows) == total


def mismatches(row: Mapping[str, Any], expected: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Field -> (stored, expected) where a row differs from an agent's final state."""
    return {
        name: (row.get(name), value)
        for name, value in expected.items()
        if name != "ended" and row.get(name) != value
    }
