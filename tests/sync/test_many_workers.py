"""Several workers on one buffer directory, as threads and as `telemetry sync` processes:
every entry is acknowledged by exactly one of them, and the service holds each run's
final state. Claims left by a dead or stalled pass are taken over, a live pass's are not,
and a worker stopped in the middle of a claim makes the others report, not hang."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import attrs
import httpx
import pytest

import telemetry.shell.buffer_claims as buffer_module
from telemetry.effects.records import BufferEntry
from telemetry.shell.buffer import CLAIMS_DIR, BufferDirectory
from telemetry.shell.service_api import ServiceApi
from telemetry.shell.sync import SyncReport, SyncWorker
from tests.support.service import ServiceProcess
from tests.sync.helpers import (
    T0,
    RunPlan,
    buffered_run,
    claims_files,
    differences,
    fetch_row,
    simple_record,
    write_entry,
)

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
    assert BufferDirectory(tmp_path).pending() == [] and claims_files(tmp_path) == []
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


# A pass of another process: it claims the file named in argv[2] and waits to be killed.
# With argv[3] == "fork" it first forks a child that outlives it, holding copies of its
# descriptors, then kills itself.
CLAIMING_PROCESS = """
import os, signal, sys, time
from pathlib import Path
from telemetry.shell.buffer import BufferDirectory
claims = BufferDirectory(Path(sys.argv[1])).claims(300.0)
assert claims.take([sys.argv[2]], 0, 1) == ([sys.argv[2]], 1)
if sys.argv[3] == "fork":
    ready, forked = os.pipe()
    child = os.fork()
    if child == 0:  # its at-fork handlers have run once fork() returns here
        os.write(forked, b"x")
        time.sleep(120)
        os._exit(0)
    os.read(ready, 1)  # not before: on a busy machine the child may not have run yet
    print(child, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
print("claimed", flush=True)
time.sleep(120)
"""


def _claiming_process(buffer: BufferDirectory, name: str, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen(
        [sys.executable, "-c", CLAIMING_PROCESS, str(buffer.path), name, mode], env=env, stdout=subprocess.PIPE, text=True
    )


def _pending_create(buffer: BufferDirectory, sequence: int) -> str:
    return write_entry(buffer.path, sequence, BufferEntry("create", simple_record(start_time=STAMP))).name


def test_claims_of_dead_or_stalled_passes_are_taken_over_and_a_live_pass_keeps_its_own(
    shared_service: ServiceProcess, tmp_path: Path
) -> None:
    buffer = BufferDirectory(tmp_path)
    dead, stalled, live = (_pending_create(buffer, sequence) for sequence in range(3))
    killed = _claiming_process(buffer, dead, "wait")
    assert killed.stdout is not None and killed.stdout.readline().strip() == "claimed"
    killed.kill()  # SIGKILL: the kernel drops its lock, its claims file stays behind
    killed.wait()
    stalled_pass, live_pass = buffer.claims(300.0), buffer.claims(300.0)
    assert stalled_pass.take([stalled], 0, 1) == ([stalled], 1)
    assert live_pass.take([live], 0, 1) == ([live], 1)
    stalled_file = next(tmp_path / CLAIMS_DIR / name for name in claims_files(tmp_path) if name.startswith(f"{os.getpid()}."))
    os.utime(stalled_file, (time.time() - 600, time.time() - 600))  # written 10 minutes ago
    api = ServiceApi(shared_service.url)
    report = SyncWorker(buffer, api, claim_timeout_s=300).run_once()
    # The live pass's entry is neither delivered nor left over: it is that pass's to settle.
    assert (report.delivered, report.remaining) == (2, 0)
    assert [path.name for path in buffer.pending()] == [live]
    assert len(claims_files(tmp_path)) == 2, "the dead pass's claims file is removed"
    stalled_pass.release()
    live_pass.release()
    assert SyncWorker(buffer, api).run_once().delivered == 1
    api.close()
    assert buffer.pending() == [] and claims_files(tmp_path) == []


def test_a_child_forked_by_a_pass_does_not_keep_its_claims_alive(shared_service: ServiceProcess, tmp_path: Path) -> None:
    """The child holds copies of the dead pass's descriptors; a lock they kept would hold
    the entry for the whole claim timeout."""
    buffer = BufferDirectory(tmp_path)
    name = _pending_create(buffer, 0)
    parent = _claiming_process(buffer, name, "fork")
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert parent.wait() == -signal.SIGKILL
    try:
        os.kill(child, 0)  # the child still lives
        api = ServiceApi(shared_service.url)
        report = SyncWorker(buffer, api, claim_timeout_s=300).run_once()
        api.close()
        assert (report.delivered, report.remaining) == (1, 0)
    finally:
        os.kill(child, signal.SIGKILL)


# Takes the claims lock of the buffer in argv[1] and stops itself in the middle of its claim.
STOPPED_IN_CLAIM = """
import fcntl, os, signal, sys
lock = os.open(os.path.join(sys.argv[1], ".claims", ".lock"), os.O_RDWR | os.O_CREAT)
fcntl.flock(lock, fcntl.LOCK_EX)
print("locked", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""


def test_a_worker_stopped_while_claiming_makes_passes_report_busy_not_hang(
    shared_service: ServiceProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = BufferDirectory(tmp_path)
    _pending_create(buffer, 0)
    (tmp_path / CLAIMS_DIR).mkdir()
    stopped = subprocess.Popen([sys.executable, "-c", STOPPED_IN_CLAIM, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    api = ServiceApi(shared_service.url)
    try:
        assert stopped.stdout is not None and stopped.stdout.readline().strip() == "locked"
        monkeypatch.setattr(buffer_module, "LOCK_WAIT_S", 0.5)
        report = SyncWorker(buffer, api).run_once()
        assert (report.delivered, report.remaining) == (0, 1)
        assert any(error.startswith("buffer busy:") for error in report.errors)
        # A thread asked to stop while it waits for the lock stops at once.
        monkeypatch.setattr(buffer_module, "LOCK_WAIT_S", 600.0)
        worker = SyncWorker(buffer, api)
        worker.start(interval_s=60.0)
        time.sleep(0.3)
        assert worker.stop(timeout_s=2.0)
    finally:
        stopped.kill()
        stopped.wait()
    assert SyncWorker(buffer, api).run_once().delivered == 1  # the lock died with its holder
    api.close()


def test_an_entry_is_claimed_by_one_pass_at_a_time(tmp_path: Path) -> None:
    buffer = BufferDirectory(tmp_path)
    name = _pending_create(buffer, 0)
    mine, theirs = buffer.claims(300.0), buffer.claims(300.0)
    assert mine.take([name], 0, 1) == ([name], 1)
    assert theirs.take([name], 0, 1) == ([], 1)
    assert buffer.unclaimed_names(300.0) == []
    mine.release()
    assert buffer.unclaimed_names(300.0) == [name]
    assert theirs.take([name], 0, 1) == ([name], 1)
    theirs.release()


def test_something_else_in_the_claims_directory_is_left_alone(shared_api: ServiceApi, tmp_path: Path) -> None:
    buffer = BufferDirectory(tmp_path)
    _pending_create(buffer, 0)
    stray = tmp_path / CLAIMS_DIR / f"{_dead_pid()}.{time.time_ns()}.0badc0de"
    stray.mkdir(parents=True)
    report = SyncWorker(buffer, shared_api).run_once()
    assert (report.delivered, report.remaining, report.errors) == (1, 0, ())
    assert stray.is_dir()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid
