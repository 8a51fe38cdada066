"""Two service replicas on one PostgreSQL database, agent processes spread over both; one
replica is SIGKILLed in the middle of the load and stays dead, so its agents buffer; their
buffers are then synced to the survivor. The database must hold exactly one row per run,
each in its final state: no run lost, none duplicated, none regressed.

Size from the environment: TELEMETRY_REPLICA_AGENTS (per replica, 2),
TELEMETRY_REPLICA_RUNS (runs per agent, 120), TELEMETRY_REPLICA_SECONDS (how long the load
is spread over, 12)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from tests.chaos.helpers import agent_env, assert_exact_final_states, parsed_rows, read_journal, run_sync, start_agent
from tests.support.postgres import TestDatabase, stored_rows
from tests.support.service import ServiceProcess
from tests.support.waiting import wait_for

AGENTS = int(os.environ.get("TELEMETRY_REPLICA_AGENTS", "2"))
RUNS = int(os.environ.get("TELEMETRY_REPLICA_RUNS", "120"))
LOAD_SECONDS = float(os.environ.get("TELEMETRY_REPLICA_SECONDS", "12"))
WAIT_S = 120.0


def test_a_replica_killed_under_load_loses_and_duplicates_nothing_after_its_agents_sync_to_the_survivor(
    tmp_path: Path, postgres_database: TestDatabase
) -> None:
    seed = random.randrange(2**32)
    url = postgres_database.schema_url("replicas")
    survivor, doomed = (ServiceProcess(tmp_path / f"replica-{n}.sqlite", database_url=url).start() for n in range(2))
    buffers = {survivor: tmp_path / "buffer-survivor", doomed: tmp_path / "buffer-doomed"}
    journals: dict[ServiceProcess, list[Path]] = {survivor: [], doomed: []}
    agents = []
    for replica, side in ((survivor, "s"), (doomed, "d")):
        for index in range(AGENTS):
            journal = tmp_path / f"agent-{side}{index}.journal"
            journals[replica].append(journal)
            env = agent_env(replica.url, tmp_path / f"agent-{side}{index}", buffers[replica])
            agents.append(start_agent(f"replica-{side}{index}", RUNS, journal, env, LOAD_SECONDS / RUNS))
    # Kill once the doomed replica's agents have ended a random share (10-40%) of their runs.
    share = random.Random(seed).uniform(0.1, 0.4)
    wait_for(lambda: _ended(journals[doomed]) >= share * AGENTS * RUNS, "the doomed replica's agents under way", WAIT_S)
    doomed.kill()
    killed_at = _ended(journals[doomed])
    outputs = [agent.communicate(timeout=LOAD_SECONDS * 10 + 300) for agent in agents]
    assert [agent.returncode for agent in agents] == [0] * len(agents), [err[-2000:] for _, err in outputs]
    assert killed_at < AGENTS * RUNS, f"seed {seed}: the kill came after the load"
    # What had to wait on disk: buffer files (sync mode), or batches the courier could not
    # deliver from the outbox (background mode, the default the agents run in here).
    metrics = [json.loads(out.splitlines()[-1]) for out, _ in outputs[AGENTS:]]
    kept = [counts.get("buffer.appended", 0) + counts.get("outbox.unavailable", 0) for counts in metrics]
    assert sum(kept) > 0, "the doomed replica's agents never had to buffer"
    for buffer_dir in buffers.values():
        if not buffer_dir.exists():
            continue  # the survivor's agents, which never had to buffer
        synced = run_sync(buffer_dir, survivor.url, "--loop", "--max-seconds", "120")
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert not list(buffer_dir.glob("rejected/*.json")) and not list(buffer_dir.glob("corrupt/*.json"))
    survivor.stop()
    all_journals = journals[survivor] + journals[doomed]
    assert_exact_final_states(parsed_rows(stored_rows(url)), all_journals, 2 * AGENTS * RUNS, seed)


def _ended(journals: list[Path]) -> int:
    return sum(len(read_journal(journal).ended) for journal in journals)
