"""Benchmarks of background delivery (issue 13), each beside its reference in the same run:

- pairs: start+end pair in background mode (p50, p99), back to back, with the service up,
  refused and hung (after the first detection), and the sync mode's pair in the same run;
  with the service up also paced (`--pace-ms` of sleep between two pairs: a cold CPU), and
  with the courier on a thread of the agent's process (`courier="thread"`) instead of its
  own process (the default);
- events: log_event p50 / p99 in background mode;
- deliver: entries/s delivered from an outbox into the local service (creates and
  updates), the agent appending as fast as it can while its courier (process, then
  thread) delivers; reference:
  the service's own batch ingest rate (POST /runs/batch of 100 from 4 threads, raw sockets);
- drain: 100,000 entries left by a process killed with SIGKILL, delivered by `telemetry
  sync`'s drain;
- rss: RSS growth over N start+end pairs with the service down, and disk bytes per run;
- visibility: delay from start_run returning to the row being readable via GET.

Usage: .venv/bin/python bench/bench_outbox.py [--only pairs,events,deliver,drain,rss,visibility]
       [--pairs 5000] [--rounds 5] [--entries 100000] [--rss-pairs 1000000] [--visibility 300]"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench_client import PAYLOAD, client_for, pct, timed  # noqa: E402 (beside this script)
from bench_service import _load, batch_bodies  # noqa: E402 (beside this script)
from machine_speed import cpu_reference  # noqa: E402 (beside this script)
from telemetry.shell.outbox.courier_process import CourierProcess  # noqa: E402
from telemetry.shell.outbox.drain import drain_outbox  # noqa: E402
from telemetry.shell.service_api import ServiceApi  # noqa: E402
from tests.support.receiver import HungPort, closed_port_url  # noqa: E402
from tests.support.service import ServiceProcess  # noqa: E402

Row = tuple[str, str, str]
US = 1e6


def _pair(client: object) -> None:
    client.end_run(client.start_run("bench", "pair"), items_succeeded=3)  # type: ignore[attr-defined]


def _pair_row(name: str, samples: list[float], target: str) -> Row:
    return (name, f"p50 {pct(samples, .5) * US:.1f} / p99 {pct(samples, .99) * US:.1f} µs", target)


def paced(action: Callable[[], object], count: int, pace_s: float) -> list[float]:
    """Seconds per call of `action`, with `pace_s` of sleep (the agent's work) between calls."""
    samples = []
    for _ in range(count):
        time.sleep(pace_s)
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def _gc_collections() -> int:
    return sum(generation["collections"] for generation in gc.get_stats())


def timed_with_causes(action: Callable[[], object], count: int, slow_s: float = 250e-6) -> tuple[list[float], str]:
    """Seconds per call of `action`, and why the calls over `slow_s` were slow: the agent's
    thread preempted by the OS (an involuntary context switch: another process or thread
    had the CPU), waiting for the interpreter lock held by another thread of this process
    (a voluntary switch: the courier, the NDJSON writer), a garbage collection, or none of
    these. Reading the thread's rusage costs ~1 µs per call, outside the timed part."""
    samples: list[float] = []
    causes = {"preempted": 0, "GIL wait": 0, "gc": 0, "other": 0}
    for _ in range(count):
        before, collections = resource.getrusage(resource.RUSAGE_THREAD), _gc_collections()
        start = time.perf_counter()
        action()
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_THREAD)
        samples.append(elapsed)
        if elapsed > slow_s:
            if after.ru_nivcsw > before.ru_nivcsw:
                causes["preempted"] += 1
            elif after.ru_nvcsw > before.ru_nvcsw:
                causes["GIL wait"] += 1
            else:
                causes["gc" if _gc_collections() > collections else "other"] += 1
    slow = sum(causes.values())
    return samples, f"{slow} of {count} over {slow_s * US:g} µs: " + ", ".join(f"{name} {n}" for name, n in causes.items())


def _rounds(action: Callable[[], object], pairs: int, rounds: int) -> tuple[list[float], list[float], str]:
    """`pairs` timed calls in `rounds` rounds with a short pause between them: all the
    samples, each round's p50 (a round runs in one placement of the client's threads on the
    cores, which can move its whole p50), and why the slow calls were slow."""
    samples: list[float] = []
    medians: list[float] = []
    causes: list[str] = []
    for _ in range(rounds):
        time.sleep(0.05)
        part, why = timed_with_causes(action, pairs // rounds)
        samples += part
        medians.append(pct(part, 0.5))
        causes.append(why.split(": ", 1)[1])
    return samples, medians, causes[0] if rounds == 1 else "first round: " + causes[0]


def _pair_rows(name: str, samples: list[float], medians: list[float], causes: str) -> list[Row]:
    spread = f"{min(medians) * US:.0f}-{max(medians) * US:.0f}"
    return [
        (name, f"p50 {pct(samples, .5) * US:.1f} / p99 {pct(samples, .99) * US:.1f} µs (rounds' p50 {spread})", "p50 <= 50, p99 <= 250 µs"),
        ("  why the slow pairs were slow", causes, "-"),
    ]


def _thread_courier_rows(base: Path, url: str, pairs: int, rounds: int) -> list[Row]:
    """The same pairs with the courier on a thread of the agent's process (`courier="thread"`)."""
    client = client_for(base / "pairs-thread", url, heartbeat_interval_s=0, delivery="background", courier="thread")
    timed(lambda: _pair(client), 50)
    rows = _pair_rows("  same, courier on a thread of the agent (courier=thread)", *_rounds(lambda: _pair(client), pairs, rounds))
    client.close(0.2)
    return [(name, value, "-") for name, value, _ in rows]


def bench_pairs(base: Path, pairs: int, pace_s: float, rounds: int) -> list[Row]:
    rows: list[Row] = []
    service = ServiceProcess(base / "pairs" / "telemetry.sqlite").start()
    try:
        with HungPort() as hung:
            cases = (("up", service.url), ("refused", closed_port_url()), ("hung", hung.url))
            for name, url in cases:
                client = client_for(base / f"pairs-{name}", url, heartbeat_interval_s=0, delivery="background")
                timed(lambda: _pair(client), 50)  # warm-up (and the hung service's first detection)
                rows += _pair_rows(f"start+end, background, service {name}", *_rounds(lambda: _pair(client), pairs, rounds))
                if name == "up":
                    rows.append(("  all delivered after flush()", str(client.flush(30.0)), "True"))
                    slow = paced(lambda: _pair(client), pairs // 3, pace_s)
                    rows.append(_pair_row(f"  same, {pace_s * 1e3:g} ms of sleep between pairs", slow, "-"))
                client.close(0.2)
                if name == "up":
                    rows += _thread_courier_rows(base, url, pairs, rounds)
            sync_client = client_for(base / "pairs-sync", service.url, heartbeat_interval_s=0, delivery="sync")
            timed(lambda: _pair(sync_client), 30)
            samples = timed(lambda: _pair(sync_client), min(pairs, 1000))
            sync_client.close()
            rows.append(_pair_row("start+end, sync mode, service up (reference)", samples, "-"))
    finally:
        service.stop()
    return rows


def bench_events(base: Path, calls: int) -> list[Row]:
    client = client_for(base / "events", closed_port_url(), heartbeat_interval_s=0, delivery="background")
    run_id = client.start_run("bench", "events")
    samples = timed(lambda: client.log_event(run_id, "step", PAYLOAD), calls)
    client.close(0.2)
    return [_pair_row("log_event, background mode", samples, "p50 <= 2 µs")]


def _ingest_reference(service: ServiceProcess) -> float:
    batches = 200
    elapsed, _, failures = _load(service.port, "/api/v1/runs/batch", batch_bodies(4, batches // 4, 5 * 10**7), 200)
    assert not failures, failures[:1]
    return batches * 100 / elapsed


def _cpu_s(stat: str) -> float:
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _courier_cpu_s(client: object) -> float:
    """CPU seconds used so far by the client's courier: its process, or its thread."""
    worker = client._runtime.outbox  # type: ignore[attr-defined]
    if isinstance(worker, CourierProcess):
        return _cpu_s(f"/proc/{worker._child.pid}/stat")
    return sum(_cpu_s(f"/proc/self/task/{thread.native_id}/stat") for thread in threading.enumerate()
               if thread.name == "telemetry-outbox" and thread.native_id is not None)  # fmt: skip


def _deliver_live(base: Path, service: ServiceProcess, entries: int, courier: str) -> tuple[float, float, str]:
    """An agent's client appending pairs as fast as it can while its courier delivers:
    entries/s from the first start_run to the last entry acknowledged, the share of the
    time the agent spent appending, and the CPU per entry of the agent's thread and of the
    courier."""
    client = client_for(base / f"live-{courier}", service.url, heartbeat_interval_s=0, delivery="background", courier=courier)
    _pair(client)  # the courier is running from here
    time.sleep(0.5)  # a courier process has imported what it needs
    started, agent_cpu, courier_cpu = time.perf_counter(), time.thread_time(), _courier_cpu_s(client)
    for _ in range(entries // 2):
        _pair(client)
    appended, agent_cpu = time.perf_counter() - started, time.thread_time() - agent_cpu
    assert client.flush(120.0)
    elapsed, courier_cpu = time.perf_counter() - started, _courier_cpu_s(client) - courier_cpu
    client.close()
    cpu = f"CPU per entry: agent {agent_cpu / entries * US:.0f} µs, courier {courier_cpu / entries * US:.0f} µs"
    return entries / elapsed, appended / elapsed, cpu


DEAD_CHILD = """
import os, sys
from telemetry import TelemetryClient, TelemetryConfig
client = TelemetryClient(TelemetryConfig(api_url=sys.argv[1], base_dir=sys.argv[2], delivery="background",
                                         heartbeat_interval_s=0, sync_interval_s=0))
for number in range(int(sys.argv[3])):
    client.end_run(client.start_run("bench", "dead"), items_succeeded=3)
os.kill(os.getpid(), 9)
"""


def _drain_dead(base: Path, service: ServiceProcess, entries: int) -> tuple[float, int]:
    directory = base / "dead"
    subprocess.run([sys.executable, "-c", DEAD_CHILD, closed_port_url(), str(directory), str(entries // 2)], cwd=REPO, check=False)
    api = ServiceApi(service.url, read_timeout=30.0)
    started = time.perf_counter()
    report = drain_outbox(directory / "buffer", api)
    elapsed = time.perf_counter() - started
    api.close()
    assert report.unavailable is None and report.segments_left == 0, report
    return (report.delivered + report.duplicates) / elapsed, report.delivered + report.duplicates


def bench_deliver(base: Path, entries: int, drain: bool, deliver: bool) -> list[Row]:
    rows: list[Row] = []
    service = ServiceProcess(base / "deliver" / "telemetry.sqlite").start()
    try:
        reference = _ingest_reference(service)
        rows.append(("service batch ingest (POST /runs/batch x100, 4 threads)", f"{reference:,.0f} runs/s", "reference"))
        if deliver:
            for courier in ("process", "thread"):
                live, share, cpu = _deliver_live(base, service, entries, courier)
                rows.append((f"delivery, live agent, {entries:,} entries, courier={courier}", f"{live:,.0f} entries/s ({share:.0%} of it appending)", ">= 20,000" if courier == "process" else "-"))
                rows.append(("  where the time went", cpu, "-"))
        if drain:
            rate, count = _drain_dead(base, service, entries)
            rows.append((f"drain of a killed process's outbox ({count:,} entries)", f"{rate:,.0f} entries/s", ">= 20,000"))
    finally:
        service.stop()
    return rows


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def bench_rss(base: Path, pairs: int) -> list[Row]:
    directory = base / "rss"
    client = client_for(directory, closed_port_url(), heartbeat_interval_s=0, delivery="background",
                        ndjson_dir=directory / "ndjson", outbox_limit_bytes=1 << 40)  # fmt: skip
    for _ in range(10_000):
        _pair(client)
    before = _rss_kb()
    for _ in range(pairs):
        _pair(client)
    growth = (_rss_kb() - before) / 1024
    client.close(0.0)
    outbox_bytes = sum(path.stat().st_size for path in (directory / "buffer" / "outbox").glob("*.seg"))
    return [
        (f"RSS growth over {pairs:,} pairs, service down", f"{growth:.1f} MB (max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)", "<= 20 MB"),
        ("outbox bytes per run (create + end)", f"{outbox_bytes / (pairs + 10_000):,.0f} B", "-"),
    ]


def bench_visibility(base: Path, runs: int) -> list[Row]:
    service = ServiceProcess(base / "visibility" / "telemetry.sqlite").start()
    delays: list[float] = []
    try:
        client = client_for(base / "visibility-client", service.url, heartbeat_interval_s=0, delivery="background")
        with httpx.Client(base_url=service.url) as reader:
            for _ in range(runs):
                run_id = client.start_run("bench", "visible")
                returned = time.perf_counter()
                while reader.get(f"/api/v1/runs/by-run-id/{run_id}").status_code != 200:
                    pass
                delays.append(time.perf_counter() - returned)
                client.end_run(run_id)
                time.sleep(0.002)
        client.close()
    finally:
        service.stop()
    ms = 1e3
    return [("visibility delay, start_run -> row readable via GET", f"p50 {pct(delays, .5) * ms:.1f} / p99 {pct(delays, .99) * ms:.1f} ms", "a few ms to tens of ms")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="pairs,events,deliver,drain,rss,visibility")
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5, help="the pairs are timed in this many rounds")
    parser.add_argument("--pace-ms", type=float, default=1.0, help="the agent's work between two timed pairs")
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rss-pairs", type=int, default=1_000_000)
    parser.add_argument("--visibility", type=int, default=300)
    args = parser.parse_args()
    parts = set(args.only.split(","))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as scratch:
        base = Path(scratch)
        if "pairs" in parts:
            rows += bench_pairs(base, args.pairs, args.pace_ms / 1e3, args.rounds)
        if "events" in parts:
            rows += bench_events(base, args.events)
        if parts & {"deliver", "drain"}:
            rows += bench_deliver(base, args.entries, "drain" in parts, "deliver" in parts)
        if "visibility" in parts:
            rows += bench_visibility(base, args.visibility)
        if "rss" in parts:
            rows += bench_rss(base, args.rss_pairs)
    table = Table(title=f"background delivery ({os.cpu_count()} cores; {cpu_reference()})")
    for column in ("benchmark", "result", "target"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
