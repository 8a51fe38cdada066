"""Background delivery under real kills: agent processes in background mode share a buffer
directory, the service up, and are SIGKILLed at random moments of their load. Every run
whose `end_run` returned is in the database with its final state once the next client
starts on that directory (it adopts the dead agents' segments; its `flush()` waits for
them), or after `telemetry sync`; with the agents' courier in its own process (the
default) or on a thread."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from telemetry import TelemetryClient, TelemetryConfig
from tests.chaos.helpers import agent_env, mismatches, read_journal, run_sync, start_agent, stored_rows
from tests.support.service import ServiceProcess

AGENTS = 3


@pytest.mark.parametrize("courier", ["process", "thread"])
@pytest.mark.parametrize("taker", ["next client", "telemetry sync"])
def test_agents_killed_at_random_moments_lose_no_ended_run(tmp_path: Path, taker: str, courier: str) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    service = ServiceProcess(tmp_path / "telemetry.sqlite").start()
    buffer_dir = tmp_path / "buffer"
    journals = [tmp_path / f"agent-{index}.journal" for index in range(AGENTS)]
    agents = [
        start_agent(f"killed-{index}", 100_000, journals[index],
                    agent_env(service.url, tmp_path / f"agent-{index}", buffer_dir, TELEMETRY_DELIVERY="background", TELEMETRY_COURIER=courier), 0.0)
        for index in range(AGENTS)
    ]  # fmt: skip
    began = time.monotonic()
    for agent, moment in zip(agents, sorted(rng.uniform(1.0, 3.0) for _ in agents)):
        time.sleep(max(0.0, began + moment - time.monotonic()))
        agent.send_signal(signal.SIGKILL)
        agent.communicate()
    if taker == "next client":
        config = TelemetryConfig(api_url=service.url, base_dir=tmp_path / "next", buffer_dir=buffer_dir, delivery="background")
        client = TelemetryClient(config)
        assert client.flush(120.0), f"seed {seed}: {client.self_metrics()}"
        client.close()
    else:
        synced = run_sync(buffer_dir, service.url, "--loop", "--max-seconds", "120")
        assert synced.returncode == 0, synced.stdout + synced.stderr
    service.stop()
    rows = {row["run_id"]: row for row in stored_rows(tmp_path / "telemetry.sqlite")}
    ended = {run_id: line for journal in journals for run_id, line in read_journal(journal).ended.items()}
    assert len(ended) > 3 * AGENTS, f"seed {seed}: the agents ended too few runs to tell"
    lost = sorted(set(ended) - set(rows))
    assert lost == [], f"seed {seed}: {len(lost)} ended runs lost, e.g. {lost[:5]}"
    wrong = {run_id: diff for run_id, line in ended.items() if (diff := mismatches(rows[run_id], line))}
    assert wrong == {}, f"seed {seed}: {len(wrong)} runs not in their final state"
    # (A kill in the middle of a write may leave a torn frame, quarantined: never an ended run's.)
    assert not list(buffer_dir.glob("rejected/*.json"))
