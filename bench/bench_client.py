"""Benchmarks of the public client (issue 3): log_event per call against a bare json.dumps +
buffered write, the kill -9 loss window of the NDJSON writer, start+end against a live
service with its time split, start+end with the service refused and hung, and the
interpreter's exit time with a hung service. Run from the repository root."""

from __future__ import annotations

import argparse
import json
import mmap
import random
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import attrs  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from telemetry import TelemetryClient, TelemetryConfig  # noqa: E402
from telemetry.effects.records import RunRecord  # noqa: E402
from telemetry.shell.buffer import BufferDirectory  # noqa: E402
from telemetry.shell.service_api import ServiceApi  # noqa: E402
from tests.support.receiver import HANG, HungPort, Receiver, closed_port_url  # noqa: E402
from tests.support.service import ServiceProcess  # noqa: E402

from machine_speed import cpu_reference  # noqa: E402 (beside this script)

Row = tuple[str, str, str]
PAYLOAD = {"step": 3, "item": "page-17", "ok": True}


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(action: Callable[[], object], count: int) -> list[float]:
    """Seconds per call of `action`, `count` calls."""
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def client_for(base: Path, url: str, **extra: object) -> TelemetryClient:
    return TelemetryClient(TelemetryConfig(api_url=url, base_dir=base, **extra))  # type: ignore[arg-type]


def bench_log_event(base: Path, calls: int) -> list[Row]:
    client = client_for(base / "events", closed_port_url(), heartbeat_interval_s=0)
    run_id = client.start_run("bench", "log-event")
    timed(lambda: client.log_event(run_id, "checkpoint", PAYLOAD), 5_000)  # warm up
    ours = timed(lambda: client.log_event(run_id, "checkpoint", PAYLOAD), calls)
    client.flush()
    with open(base / "baseline.ndjson", "w") as out:
        def bare() -> None:
            line = {"run_id": run_id, "event_type": "checkpoint", "timestamp": datetime.now(timezone.utc).isoformat(), "payload": PAYLOAD}
            out.write(json.dumps(line) + "\n")

        timed(bare, 5_000)
        baseline = timed(bare, calls)
    written = client.self_metrics().get("ndjson.lines_written", 0)
    client.close()
    us = 1e6
    return [
        ("log_event p50 / p99", f"{pct(ours, .5) * us:.2f} / {pct(ours, .99) * us:.2f} µs", "p50 <= 5 µs, p99 <= 50 µs"),
        ("json.dumps + buffered write p50 / p99", f"{pct(baseline, .5) * us:.2f} / {pct(baseline, .99) * us:.2f} µs", "reference"),
        ("ratio log_event / bare (p50, p99)", f"{pct(ours, .5) / pct(baseline, .5):.2f}x, {pct(ours, .99) / pct(baseline, .99):.2f}x", ""),
        ("lines on disk after flush()", f"{written} of {calls + 5_000 + 1}", "all"),
    ]


KILL_CHILD = """
import mmap, os, struct, sys, time
from telemetry import TelemetryClient, TelemetryConfig
client = TelemetryClient(TelemetryConfig(api_url=sys.argv[1], base_dir=sys.argv[2], heartbeat_interval_s=0))
fd = os.open(sys.argv[3], os.O_RDWR)
shared = mmap.mmap(fd, 16)
print("ready", flush=True)
number = 0
while True:
    number += 1
    client.log_event("kill", "tick", {"i": number, "t": time.monotonic()})
    struct.pack_into("<qd", shared, 0, number, time.monotonic())  # accepted: the call returned
    time.sleep(0.0002)
"""


def _kill_once(base: Path, url: str) -> tuple[int, float]:
    base.mkdir(parents=True)
    marker = base / "accepted.bin"
    marker.write_bytes(b"\0" * 16)
    child = subprocess.Popen([sys.executable, "-c", KILL_CHILD, url, str(base), str(marker)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    time.sleep(random.uniform(0.3, 0.8))
    child.send_signal(signal.SIGKILL)
    child.wait()
    with open(marker, "r+b") as handle:
        accepted, accepted_at = struct.unpack_from("<qd", mmap.mmap(handle.fileno(), 16))
    lines = [json.loads(line) for path in base.glob("ndjson/*.ndjson") for line in path.read_bytes().splitlines() if line.endswith(b"}}")]
    last = max(lines, key=lambda line: line["payload"]["i"])["payload"] if lines else {"i": 0, "t": accepted_at}
    return accepted - last["i"], max(0.0, accepted_at - last["t"])


def bench_kill_window(base: Path, rounds: int) -> list[Row]:
    results = [_kill_once(base / f"kill-{n}", closed_port_url()) for n in range(rounds)]
    lost = [r[0] for r in results]
    window_ms = [r[1] * 1e3 for r in results]
    return [
        (f"kill -9 loss window ({rounds} kills)", f"median {statistics.median(window_ms):.0f} ms, max {max(window_ms):.0f} ms", "<= ~100 ms"),
        ("events lost per kill", f"median {statistics.median(lost):.0f}, max {max(lost)}", "(at ~1 event / 0.25 ms)"),
    ]


_END_FIELDS = ("status", "end_time", "duration_ms", "items_discovered", "items_succeeded", "items_failed", "items_skipped")


def _direct_pair(api: ServiceApi, number: int) -> None:
    """The two requests a client pair sends, with the same bodies, straight from ServiceApi."""
    now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    record = RunRecord(str(uuid.uuid4()), f"direct-{number}", "bench", "pair", now)
    api.create(record)
    ended = attrs.evolve(record, status="success", end_time=datetime.now(timezone.utc).isoformat(timespec="microseconds"), duration_ms=1)
    api.patch(ended, _END_FIELDS)


def bench_live_pairs(base: Path, pairs: int) -> list[Row]:
    service = ServiceProcess(base / "live" / "telemetry.sqlite").start()
    try:
        client = client_for(base / "live-client", service.url, heartbeat_interval_s=0)
        api = ServiceApi(service.url)
        pair = lambda: client.end_run(client.start_run("bench", "pair"))  # noqa: E731
        timed(pair, 30)
        through_client, direct, health = [], [], []
        cpu = 0.0
        for number in range(pairs):  # interleaved, so drift in the machine's load hits all three alike
            started = time.process_time()
            through_client += timed(pair, 1)
            cpu += time.process_time() - started
            direct += timed(lambda: _direct_pair(api, number), 1)
            health += timed(api.health, 1)
        client.close()
        api.close()
    finally:
        service.stop()
    ms = 1e3
    c50, d50, h50 = pct(through_client, .5), pct(direct, .5), pct(health, .5)
    return [
        ("start+end pair, live service p50 / p99", f"{c50 * ms:.2f} / {pct(through_client, .99) * ms:.2f} ms", "p50 <= 4 ms (2xx = durable)"),
        ("  client CPU per pair", f"{cpu / pairs * ms:.2f} ms", "process_time of this process (all threads), mean"),
        ("  client (decide, edge, interpreter)", f"{(c50 - d50) * ms:.2f} ms", "pair - same 2 requests sent directly"),
        ("  HTTP (2 loopback round trips)", f"{2 * h50 * ms:.2f} ms", "2 x GET /health"),
        ("  server (validate + durable commit)", f"{(d50 - 2 * h50) * ms:.2f} ms", "direct pair - 2 x health"),
    ]


def _failed_pairs(base: Path, url: str, pairs: int, fsync: str) -> tuple[float, list[float]]:
    # Background sync off: this measures the agent's own path, and counts its buffer files.
    client = client_for(base, url, heartbeat_interval_s=0, buffer_fsync=fsync, sync_interval_s=0)
    detection = timed(lambda: client.end_run(client.start_run("bench", "first")), 1)[0]
    samples = timed(lambda: client.end_run(client.start_run("bench", "pair")), pairs)
    pending = len(BufferDirectory(base / "buffer").pending())
    client.close()
    assert pending == 2 * (pairs + 1), pending
    return detection, samples


def bench_down_pairs(base: Path, pairs: int) -> list[Row]:
    rows: list[Row] = []
    with HungPort() as hung:
        for name, url in (("refused", closed_port_url()), ("hung", hung.url)):
            for fsync in ("always", "never"):
                first, samples = _failed_pairs(base / f"{name}-{fsync}", url, pairs, fsync)
                rows.append((
                    f"start+end, service {name}, fsync={fsync}",
                    f"first {first * 1e3:.1f} ms; then p50 {pct(samples, .5) * 1e3:.2f} / p99 {pct(samples, .99) * 1e3:.2f} ms",
                    "p99 <= 5 ms after detection",
                ))  # fmt: skip
    return rows


EXIT_CHILD = """
import sys, time
from telemetry import TelemetryClient, TelemetryConfig
config = dict(api_url=sys.argv[1], base_dir=sys.argv[2])
if sys.argv[3]:
    config["export_url"] = sys.argv[3]
client = TelemetryClient(TelemetryConfig(**config))
for number in range(50):
    run_id = client.start_run("bench", "exit")
    for step in range(20):
        client.log_event(run_id, "step", {"n": step})
    client.end_run(run_id)
print(time.monotonic(), flush=True)
"""


def _exit_once(base: Path, url: str, export: str) -> tuple[float, int, int]:
    child = subprocess.Popen([sys.executable, "-c", EXIT_CHILD, url, str(base), export], cwd=REPO, stdout=subprocess.PIPE, text=True)
    stdout, _ = child.communicate(timeout=120)
    exited = time.monotonic()
    # Default config, background sync included: entries its last pass claimed stay in place.
    on_disk = len(BufferDirectory(base / "buffer").pending())
    lines = sum(len(p.read_bytes().splitlines()) for p in base.glob("ndjson/*.ndjson"))
    return exited - float(stdout.split()[-1]), on_disk, lines


def bench_exit(base: Path) -> list[Row]:
    rows: list[Row] = []
    with HungPort() as hung, Receiver(HANG) as export:
        for name, export_url in (("hung service", ""), ("hung service + hung export", export.url)):
            seconds, records, lines = _exit_once(base / name.replace(" ", "-"), hung.url, export_url)
            rows.append((f"exit time, {name}", f"{seconds:.2f} s; {records}/100 records buffered, {lines}/1100 lines", "<= 2 s, all on disk"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200_000, help="log_event calls")
    parser.add_argument("--pairs", type=int, default=300, help="start+end pairs per scenario")
    parser.add_argument("--kills", type=int, default=8, help="kill -9 rounds")
    parser.add_argument("--only", default="events,kill,live,down,exit", help="comma-separated parts to run")
    options = parser.parse_args()
    parts = {
        "events": lambda base: bench_log_event(base, options.calls),
        "kill": lambda base: bench_kill_window(base, options.kills),
        "live": lambda base: bench_live_pairs(base, options.pairs),
        "down": lambda base: bench_down_pairs(base, options.pairs),
        "exit": bench_exit,
    }
    table = Table("measure", "result", "target / note", title="telemetry client", caption=cpu_reference())
    with tempfile.TemporaryDirectory(prefix="bench-client-") as temporary:
        for name in options.only.split(","):
            for row in parts[name](Path(temporary)):
                table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    main()
