"""Several workers on one buffer directory, as threads and as `telemetry sync` processes:
every entry is acknowledged by exactly one of them, and the service holds each run's
final state. Claims left by a dead worker are given back; a live worker's are not."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import attrs
import httpx

from telemetry.effects.records import BufferEntry
from telemetry.shell.buffer import CLAIMS_DIR, BufferDirectory
from telemetry.shell.service_api import ServiceApi
from telemetry.shell.sync import SyncReport, SyncWorker
from tests.support.service import ServiceProcess
from tests.sync.helpers import T0, RunPlan, buffered_run, differences, fetch_row, simple_record, write_entry

STAMP = T0.isoformat(timespec="microseconds")


def _runs(buffer_dir: Path, count: int) -> str:
    """`count` runs of a new agent, each a create and an end; the agent's name."""
    agent = f"agent-{uuid.uuid4().hex[:8]}"
    entries: list[BufferEntry] = []
    for _ in range(count):
        start = simple_record(start_time=STAMP, agent_name=agent)
        end = attrs.evolve(start, status="failure", end_time=STAMP, duration_ms=0, items_failed=1)
        entries += [BufferEntry("create", start), BufferEntry("update", end, ("status", "end_time", "duration_ms", "items_failed"))]
    entries = entries[::2] + entries[1::2]  # all creates first, then all ends
    for sequence, entry in enumerate(entries):
        write_entry(buffer_dir, sequence, entry)
    return agent


def _statuses(service: ServiceProcess, agent: str) -> Counter[str]:
    """How many of the agent's rows the service holds, by status."""
    with httpx.Client(base_url=service.url) as client:
        rows = client.get("/api/v1/runs", params={"agent_name": agent, "limit": 1000}).json()
    return Counter(row["status"] for row in rows)


def test_worker_threads_share_one_buffer_and_each_run_converges(shared_service: ServiceProcess, tmp_path: Path) -> None:
    """Runs made by the real core (create, end, commit after the end), written updates
    first so that workers race to create the same runs from different entries."""
    plan = RunPlan({"items_discovered": 4}, {"items_succeeded": 3}, "failed", {"error_summary": "boom"}, "after_end")
    runs = [buffered_run(plan) for _ in range(150)]
    by_kind = [[run.entries[kind] for run in runs] for kind in (1, 2, 0)]  # ends, commits, creates
    for sequence, entry in enumerate(entry for kind in by_kind for entry in kind):
        write_entry(tmp_path, sequence, entry)
    apis = [ServiceApi(shared_service.url, read_timeout=10.0) for _ in range(4)]
    reports: list[SyncReport] = []
    barrier = threading.Barrier(len(apis))

    def work(api: ServiceApi) -> None:
        worker = SyncWorker(BufferDirectory(tmp_path), api, window=30, batch_size=10)
        barrier.wait()
        reports.append(worker.run_once())

    threads = [threading.Thread(target=work, args=(api,)) for api in apis]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for api in apis:
        api.close()
    assert sum(report.delivered + report.duplicates for report in reports) == 3 * len(runs)
    assert sum(1 for report in reports if report.delivered) > 1, "the workers did not share the work"
    assert BufferDirectory(tmp_path).pending() == [] and not list((tmp_path / CLAIMS_DIR).iterdir())
    with httpx.Client(base_url=shared_service.url) as client:
        for run in runs:
            row = fetch_row(client, run.final.event_id)
            assert row is not None and differences(row, run.final) == {}


def _acknowledged(stdout: str) -> int:
    counts = dict(re.findall(r"(delivered|duplicates)\s*\S\s*(\d+)", stdout))
    return int(counts["delivered"]) + int(counts["duplicates"])


def test_sync_processes_share_one_buffer_and_acknowledge_each_entry_once(
    shared_service: ServiceProcess, tmp_path: Path
) -> None:
    agent = _runs(tmp_path, 400)
    command = [
        sys.executable, "-m", "telemetry", "sync", "--buffer-dir", str(tmp_path), "--api-url", shared_service.url,
    ]  # fmt: skip
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], [err for _, err in outputs]
    assert sum(_acknowledged(out) for out, _ in outputs) == 800
    assert BufferDirectory(tmp_path).pending() == []
    assert _statuses(shared_service, agent) == {"failure": 400}


def _claimed_by(buffer: BufferDirectory, pid: int, age_s: float) -> Path:
    """A file claimed by a pass of process `pid` that began `age_s` ago."""
    path = write_entry(buffer.path, 0, BufferEntry("create", simple_record(start_time=STAMP)))
    claims = buffer.path / CLAIMS_DIR / f"{pid}.{time.time_ns() - int(age_s * 1e9)}.{uuid.uuid4().hex[:8]}"
    claims.mkdir(parents=True)
    os.rename(path, claims / path.name)
    return claims / path.name


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_claims_of_dead_or_stalled_workers_are_given_back_and_delivered(
    shared_service: ServiceProcess, tmp_path: Path
) -> None:
    buffer = BufferDirectory(tmp_path)
    dead = _claimed_by(buffer, _dead_pid(), age_s=1)
    stalled = _claimed_by(buffer, os.getpid(), age_s=600)
    live = _claimed_by(buffer, os.getpid(), age_s=1)
    api = ServiceApi(shared_service.url)
    report = SyncWorker(buffer, api, claim_timeout_s=300).run_once()
    api.close()
    assert (report.delivered, report.remaining) == (2, 0)
    assert not dead.exists() and not stalled.exists() and live.exists()


def test_a_file_is_claimed_by_one_worker_only(tmp_path: Path) -> None:
    buffer = BufferDirectory(tmp_path)
    path = write_entry(tmp_path, 0, BufferEntry("create", simple_record()))
    mine, theirs = buffer.open_claims(), buffer.open_claims()
    first, second = buffer.claim(path.name, mine), buffer.claim(path.name, theirs)
    assert first is not None and os.path.exists(first) and second is None
    assert buffer.pending() == []
    buffer.release(first)
    assert buffer.pending() == [path]
