"""An agent SIGKILLed in the middle of its load, after an outage made it buffer (or, in
background mode, keep its runs in the outbox): every run that ended before the kill
reaches the database after `telemetry sync`, with its final state; the runs open at the kill are ended as `timeout` by the lease sweep, so no zombie
`running` row is left."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from tests.chaos.helpers import Journal, agent_env, mismatches, read_journal, run_sync, start_agent, stored_rows
from tests.support.service import ServiceProcess
from tests.support.waiting import wait_for

LEASE_S = 1
WAIT_S = 120.0


def test_runs_ended_before_an_agent_kill_arrive_and_open_ones_are_swept(tmp_path: Path, delivery: str) -> None:
    service = ServiceProcess(tmp_path / "telemetry.sqlite").start()
    journal_path, buffer_dir = tmp_path / "agent.journal", tmp_path / "buffer"
    env = agent_env(service.url, tmp_path / "agent", buffer_dir, TELEMETRY_DELIVERY=delivery)
    agent = start_agent("doomed", 100_000, journal_path, env, 0.1)

    def ended() -> int:
        return len(read_journal(journal_path).ended)

    wait_for(lambda: ended() >= 15, "15 runs ended with the service up", WAIT_S)
    service.kill()
    outage_began = ended()
    wait_for(lambda: ended() >= outage_began + 15, "15 runs ended during the outage", WAIT_S)
    # Kill inside a run: right after it journaled its start, while it works for 0.1 s.
    wait_for(lambda: journal_path.read_text().splitlines()[-1].startswith('{"started"'), "a run open", WAIT_S)
    agent.send_signal(signal.SIGKILL)
    agent.communicate()
    killed_at = time.monotonic()
    service.start()
    synced = run_sync(buffer_dir, service.url)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    time.sleep(max(0.0, killed_at + LEASE_S + 0.5 - time.monotonic()))  # let the leases expire
    swept = httpx.post(f"{service.url}/api/v1/runs/sweep", params={"lease_seconds": LEASE_S}, timeout=30)
    assert swept.status_code == 200, swept.text
    service.stop()
    _assert_ended_arrived_and_open_swept(read_journal(journal_path), tmp_path / "telemetry.sqlite")


def _assert_ended_arrived_and_open_swept(journal: Journal, db_path: Path) -> None:
    rows = {row["run_id"]: row for row in stored_rows(db_path)}
    assert [row for row in rows.values() if row["status"] == "running"] == [], "zombie runs"
    missing = [run_id for run_id in journal.started if run_id not in rows]
    assert missing == [], f"started runs never stored: {missing[:5]}"
    for run_id, line in journal.ended.items():
        assert mismatches(rows[run_id], line) == {}, run_id
    open_at_kill = [run_id for run_id in journal.started if run_id not in journal.ending]
    assert open_at_kill, "the kill found no run open"
    for run_id in open_at_kill:
        assert rows[run_id]["status"] == "timeout", run_id
        assert "lease expired" in (rows[run_id]["error_summary"] or ""), run_id
    for run_id in journal.ending - set(journal.ended):  # killed inside end_run: either is right
        assert rows[run_id]["status"] in ("timeout", "success", "failure"), run_id
