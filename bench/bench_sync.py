"""Drain rate of `SyncWorker` into a real local service (SQLite, synchronous=FULL): a buffer
of N entries as an outage leaves it (several agents' runs interleaved, each a create and its
end, plus ends of runs whose create got through before the outage), synced until empty.
Prints entries/s (target >= 10,000), the CPU per entry of the sync (by thread) and of the
service, and checks the rows afterwards.

Usage: .venv/bin/python bench/bench_sync.py [--entries 100000] [--ends-only 0.02] [--dir DIR]"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import attrs
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support

from telemetry.effects.records import BufferEntry, RunRecord  # noqa: E402
from telemetry.shell.buffer import BufferDirectory  # noqa: E402
from telemetry.shell.edge import fresh_event_id  # noqa: E402
from telemetry.shell.service_api import ServiceApi  # noqa: E402
from telemetry.shell.sync import SyncWorker  # noqa: E402
from telemetry.wire.format import record_to_wire  # noqa: E402
from tests.support.service import ServiceProcess  # noqa: E402

from machine_speed import cpu_reference  # noqa: E402 (beside this script)

AGENTS = 8
OPEN_RUNS_PER_AGENT = 4
END_FIELDS = ("status", "end_time", "duration_ms", "items_discovered", "items_succeeded", "metrics_json")


def _run(agent: int, index: int) -> tuple[RunRecord, RunRecord]:
    """A run's record at start and at its end, as the client's core builds them (with its
    time-ordered event id)."""
    start = RunRecord(
        event_id=fresh_event_id(),
        run_id=f"20250601T120000Z-bench-{agent}-{index:08d}",
        agent_name=f"bench-agent-{agent}",
        job_type="bench",
        start_time="2025-06-01T12:00:00.000000+00:00",
        host="bench-host",
        context_json={"input": f"batch-{index % 100}"},
    )
    end = attrs.evolve(
        start,
        status=random.choice(("success", "success", "failure", "partial")),
        end_time="2025-06-01T12:00:05.000000+00:00",
        duration_ms=5000,
        items_discovered=index % 50,
        items_succeeded=index % 40,
        metrics_json={"tokens": index, "pages": index % 7},
    )
    return start, end


def _agent_entries(agent: int, runs: int) -> list[BufferEntry]:
    """One agent's entries in the order it writes them: a few runs open at a time."""
    entries: list[BufferEntry] = []
    open_runs: list[RunRecord] = []
    for index in range(runs):
        start, end = _run(agent, index)
        entries.append(BufferEntry("create", start))
        open_runs.append(end)
        if len(open_runs) >= OPEN_RUNS_PER_AGENT:
            entries.append(BufferEntry("update", open_runs.pop(random.randrange(len(open_runs))), END_FIELDS))
    entries.extend(BufferEntry("update", end, END_FIELDS) for end in open_runs)
    return entries


def write_buffer(buffer: BufferDirectory, entries: int, ends_only: float) -> tuple[list[RunRecord], int]:
    """Fill the buffer; the starts of the ends-only runs (already delivered), and runs total."""
    ends_only_runs = int(entries * ends_only)
    pair_runs = (entries - ends_only_runs) // 2
    per_agent = [_agent_entries(agent, pair_runs // AGENTS) for agent in range(AGENTS)]
    interleaved = [e for group in itertools.zip_longest(*per_agent) for e in group if e is not None]
    delivered_starts: list[RunRecord] = []
    for index in range(ends_only_runs):
        start, end = _run(AGENTS, index)
        delivered_starts.append(start)
        interleaved.insert(random.randrange(len(interleaved) + 1), BufferEntry("update", end, END_FIELDS))
    for entry in interleaved:
        buffer.append(entry, "2025-06-01T12:00:05+00:00")
    return delivered_starts, len(delivered_starts) + pair_runs // AGENTS * AGENTS


def _own_and_helpers_cpu() -> float:
    """CPU seconds of this process and of its ended helper processes (the service, not yet
    reaped, is not among them)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _cpu_seconds(stat_path: str) -> float:
    """User + system CPU seconds in a /proc `stat` file (of a process or a thread)."""
    with open(stat_path) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ThreadCpu:
    """CPU seconds of this process's threads by name (pool threads by prefix), sampled from
    /proc every `interval_s`: what a thread spends after its last sample is missed, so the
    shares are approximate; the process total (`time.process_time`) is exact."""

    def __init__(self, interval_s: float = 0.2) -> None:
        self._seen: dict[int, tuple[str, float]] = {}
        self._start: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._interval_s = interval_s
        self._thread = threading.Thread(target=self._sample_until_stopped, name="bench-sampler", daemon=True)

    def __enter__(self) -> ThreadCpu:
        self._sample()
        self._start = dict(self._seen)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def by_name(self) -> list[tuple[str, float]]:
        """(thread name, CPU seconds), most first."""
        spent: dict[str, float] = {}
        for tid, (name, seconds) in self._seen.items():
            spent[name] = spent.get(name, 0.0) + seconds - self._start.get(tid, (name, 0.0))[1]
        return sorted(spent.items(), key=lambda item: -item[1])

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._sample()

    def _sample(self) -> None:
        names = {thread.native_id: thread.name.rsplit("_", 1)[0] for thread in threading.enumerate()}
        for tid in map(int, os.listdir("/proc/self/task")):
            try:
                seconds = _cpu_seconds(f"/proc/self/task/{tid}/stat")
            except OSError:
                continue  # the thread ended meanwhile
            name = names.get(tid) or self._seen.get(tid, ("?", 0.0))[0]
            self._seen[tid] = (name, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--ends-only", type=float, default=0.02, help="share of entries that are ends of delivered runs")
    parser.add_argument("--dir", type=Path, default=None, help="where the buffer and database go")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench-sync-", dir=args.dir))
    buffer = BufferDirectory(directory / "buffer", fsync="never")
    started = time.perf_counter()
    delivered_starts, runs = write_buffer(buffer, args.entries, args.ends_only)
    total = len(buffer.pending())
    # Written without fsync to save time; the client's default (fsync "always") leaves them
    # on disk, so they are flushed before the clock starts.
    os.sync()
    print(f"setup: {total:,} buffer files in {time.perf_counter() - started:.1f} s ({runs:,} runs); {cpu_reference()}")
    service = ServiceProcess(directory / "telemetry.sqlite").start()
    assert service.pid is not None
    api = ServiceApi(service.url, read_timeout=60.0)
    try:
        for offset in range(0, len(delivered_starts), 500):
            api.create_batch_wire([record_to_wire(record) for record in delivered_starts[offset : offset + 500]])
        service_started = _cpu_seconds(f"/proc/{service.pid}/stat")
        with ThreadCpu() as threads:
            started, cpu_started = time.perf_counter(), _own_and_helpers_cpu()
            report = SyncWorker(buffer, api).run_once()
            elapsed, cpu = time.perf_counter() - started, _own_and_helpers_cpu() - cpu_started
        service_cpu = _cpu_seconds(f"/proc/{service.pid}/stat") - service_started
        stats = httpx.get(f"{service.url}/metrics", timeout=30).json()
    finally:
        api.close()
        service.stop()
        shutil.rmtree(directory)  # 100,000 files and a database per run
    print(f"sync: {total:,} entries in {elapsed:.2f} s = {total / elapsed:,.0f} entries/s (target >= 10,000)")
    # The sync's own CPU (all its threads; the service is another process): steadier than
    # the wall rate on a shared machine, and what the service's core has to share.
    print(f"sync cpu: {cpu:.2f} s = {cpu / total * 1e6:.1f} us per entry")
    shares = ", ".join(f"{name} {seconds / total * 1e6:.1f}" for name, seconds in threads.by_name())
    print(f"  by thread of this process (us per entry, sampled): {shares}")
    print(f"service cpu: {service_cpu:.2f} s = {service_cpu / total * 1e6:.1f} us per entry")
    print(f"report: {report}")
    running = stats["by_status"].get("running", 0)
    ok = report.remaining == 0 and stats["total_runs"] == runs and running == 0
    print(f"check: rows {stats['total_runs']:,} (expected {runs:,}), still running {running}: {'OK' if ok else 'FAILED'}")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
