"""INV-2 under real faults: agent processes do runs (events, metrics, failures) through the
real client while the service is SIGKILLed and restarted at random moments; after
`telemetry sync` the database holds exactly one row per run, each in its final state.

Size from the environment: TELEMETRY_CHAOS_AGENTS (4), TELEMETRY_CHAOS_RUNS (runs per agent,
150 here; 2500 for the full test), TELEMETRY_CHAOS_KILLS (5), TELEMETRY_CHAOS_SECONDS (how
long the load is spread over, 20). The full test is documented in docs/sync.md."""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from pathlib import Path

from tests.chaos.helpers import agent_env, assert_exact_final_states, run_sync, start_agent, stored_rows
from tests.support.service import ServiceProcess

AGENTS = int(os.environ.get("TELEMETRY_CHAOS_AGENTS", "4"))
RUNS = int(os.environ.get("TELEMETRY_CHAOS_RUNS", "150"))
KILLS = int(os.environ.get("TELEMETRY_CHAOS_KILLS", "5"))
LOAD_SECONDS = float(os.environ.get("TELEMETRY_CHAOS_SECONDS", "20"))


class Killer(threading.Thread):
    """SIGKILLs the service at random moments of the load and starts it again after a random
    outage; records whether the agents were still running at each kill."""

    def __init__(self, service: ServiceProcess, agents: list[subprocess.Popen[str]], seed: int) -> None:
        super().__init__(name="chaos-killer", daemon=True)
        self.service, self.agents = service, agents
        self.rng = random.Random(seed)
        self.kills_during_load = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            began = time.monotonic()
            # Moments in the first half: each restart waits for /health, which takes seconds
            # on a loaded machine, and every kill must still land while the agents run.
            for moment in sorted(self.rng.uniform(0.05, 0.5) * LOAD_SECONDS for _ in range(KILLS)):
                time.sleep(max(0.0, began + moment - time.monotonic()))
                if all(agent.poll() is not None for agent in self.agents):
                    return
                self.service.kill()
                self.kills_during_load += 1
                time.sleep(self.rng.uniform(0.0, 0.5))
                self.service.start()
        except Exception as error:  # reported by the test, not lost in a thread
            self.error = error


def test_service_killed_repeatedly_under_load_loses_regresses_and_duplicates_nothing(tmp_path: Path, delivery: str) -> None:
    seed = random.randrange(2**32)
    service = ServiceProcess(tmp_path / "telemetry.sqlite").start()
    buffer_dir = tmp_path / "buffer"  # shared by every agent, and by their sync threads
    journals = [tmp_path / f"agent-{index}.journal" for index in range(AGENTS)]
    agents = [
        start_agent(f"chaos-{index}", RUNS, journals[index],
                    agent_env(service.url, tmp_path / f"agent-{index}", buffer_dir, TELEMETRY_DELIVERY=delivery),
                    LOAD_SECONDS / RUNS)
        for index in range(AGENTS)
    ]  # fmt: skip
    killer = Killer(service, agents, seed)
    killer.start()
    outputs = [agent.communicate(timeout=LOAD_SECONDS * 10 + 300) for agent in agents]
    killer.join()
    assert killer.error is None, f"seed {seed}: {killer.error!r}"
    assert [agent.returncode for agent in agents] == [0] * AGENTS, [err[-2000:] for _, err in outputs]
    assert killer.kills_during_load >= KILLS, f"seed {seed}: only {killer.kills_during_load} kills during the load"
    metrics = [json.loads(out.splitlines()[-1]) for out, _ in outputs]
    met = sum(m.get("buffer.appended", 0) + m.get("outbox.unavailable", 0) for m in metrics)
    assert met > 0, "the outages never reached the agents"
    if not service.is_running():
        service.start()
    synced = run_sync(buffer_dir, service.url, "--loop", "--max-seconds", "240")
    service.stop()
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert not list(buffer_dir.glob("rejected/*.json")) and not list(buffer_dir.glob("corrupt/*.json"))
    assert_exact_final_states(stored_rows(tmp_path / "telemetry.sqlite"), journals, AGENTS * RUNS, seed)
