"""Benchmarks of the effect log (issue 14), each figure beside its reference in the same run:

- pairs: start+end pair (p50, p99) with the effect log off and on, in background mode with
  the service refused (the cheapest pair, where the log's share shows most) and in sync
  mode against a live service process; off and on alternate in blocks, so load on the
  machine falls on both alike;
- events: log_event (p50, p99) with the log off and on;
- writer: what the writer thread spends per line (encode through the effects codec and one
  `RotatingFileHandler.emit`), lines/s, and bytes per pair: what a synchronous log would
  add to the caller per effect, and why the caller only queues. (Beyond the queue's 10,000
  lines the caller writes too, as it would when the agent outruns the writer.)

Usage: .venv/bin/python bench/bench_effect_log.py [--only pairs,events,writer] [--pairs 3000]
       [--calls 50000] [--blocks 3]"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench_client import PAYLOAD, client_for, pct, timed  # noqa: E402 (beside this script)
from machine_speed import cpu_reference  # noqa: E402 (beside this script)
from telemetry import TelemetryClient  # noqa: E402
from telemetry.shell.effect_log import EffectLog  # noqa: E402
from telemetry.shell.effect_log.lines import decode_line  # noqa: E402
from telemetry.shell.self_metrics import SelfMetrics  # noqa: E402
from tests.support.receiver import closed_port_url  # noqa: E402
from tests.support.service import ServiceProcess  # noqa: E402

Row = tuple[str, str, str]
US = 1e6


def _pair(client: TelemetryClient) -> None:
    client.end_run(client.start_run("bench", "pair"), items_succeeded=3)


def _figure(samples: list[float]) -> str:
    return f"p50 {pct(samples, .5) * US:.1f} / p99 {pct(samples, .99) * US:.1f} µs"


def _off_and_on(base: Path, url: str, measure: Callable[[TelemetryClient], list[float]], blocks: int, **extra: object) -> tuple[list[float], list[float]]:
    """Samples with the log off and on, in alternating blocks (a fresh client each)."""
    samples: dict[bool, list[float]] = {False: [], True: []}
    for block in range(blocks):
        for logged in (False, True):
            directory = base / f"{block}-{logged}"
            log = {"effect_log": directory / "effects.ndjson"} if logged else {}
            client = client_for(directory, url, heartbeat_interval_s=0, sync_interval_s=0, **log, **extra)
            samples[logged] += measure(client)
            client.close()
    return samples[False], samples[True]


def bench_pairs(base: Path, pairs: int, blocks: int) -> list[Row]:
    rows: list[Row] = []

    def measure(client: TelemetryClient) -> list[float]:
        timed(lambda: _pair(client), 300)  # warm up (and, refused, the first detection)
        return timed(lambda: _pair(client), pairs // blocks)

    off, on = _off_and_on(base / "refused", closed_port_url(), measure, blocks, delivery="background")
    rows += [("pair, background, service refused: log off", _figure(off), "-"),
             ("pair, background, service refused: log on", _figure(on), f"+{(pct(on, .5) - pct(off, .5)) * US:.1f} µs p50")]
    service = ServiceProcess(base / "telemetry.sqlite").start()
    try:
        off, on = _off_and_on(base / "live", service.url, measure, blocks, delivery="sync")
    finally:
        service.stop()
    rows += [("pair, sync, live service: log off", _figure(off), "-"),
             ("pair, sync, live service: log on", _figure(on), f"+{(pct(on, .5) - pct(off, .5)) * US:.1f} µs p50")]
    return rows


def bench_events(base: Path, calls: int, blocks: int) -> list[Row]:
    def measure(client: TelemetryClient) -> list[float]:
        run_id = client.start_run("bench", "log-event")
        timed(lambda: client.log_event(run_id, "checkpoint", PAYLOAD), 5_000)
        return timed(lambda: client.log_event(run_id, "checkpoint", PAYLOAD), calls // blocks)

    off, on = _off_and_on(base / "events", closed_port_url(), measure, blocks, delivery="background")
    return [("log_event: log off", _figure(off), "-"),
            ("log_event: log on", _figure(on), f"+{(pct(on, .5) - pct(off, .5)) * US:.1f} µs p50")]


def bench_writer(base: Path, pairs: int) -> list[Row]:
    # The effects of real pairs, as the client's interpreter performs them.
    client = client_for(base / "record", closed_port_url(), heartbeat_interval_s=0, sync_interval_s=0,
                        delivery="background", effect_log=base / "record" / "effects.ndjson")
    for _ in range(20):
        _pair(client)
    client.close()
    log_path = base / "record" / "effects.ndjson"
    lines = log_path.read_text().splitlines()
    per_pair = len(lines) / 20
    effects = [decode_line(line) for line in lines]
    log = EffectLog(base / "writer" / "effects.ndjson", 16 << 20, 5, SelfMetrics())
    count = int(pairs * per_pair)
    start = time.perf_counter()
    for index in range(count):
        logged = effects[index % len(effects)]
        log.performed(logged.effect, logged.outcome)
    log.drain(time.monotonic() + 600)  # the writer thread wrote meanwhile; this writes the rest
    written = time.perf_counter() - start
    return [
        ("effects logged per start+end pair", f"{per_pair:.1f}", "-"),
        ("bytes per pair in the log", f"{log_path.stat().st_size / 20:,.0f} B", "-"),
        ("writer: lines on disk per second (encode + RotatingFileHandler.emit each)", f"{count / written:,.0f} lines/s ({written / count * US:.1f} µs a line)", "off the caller's thread"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="pairs,events,writer")
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--blocks", type=int, default=3)
    args = parser.parse_args()
    chosen = set(args.only.split(","))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as directory:
        base = Path(directory)
        if "pairs" in chosen:
            rows += bench_pairs(base / "pairs", args.pairs, args.blocks)
        if "events" in chosen:
            rows += bench_events(base / "events", args.calls, args.blocks)
        if "writer" in chosen:
            rows += bench_writer(base / "writer", args.pairs)
    table = Table(title=f"effect log ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    for column in ("benchmark", "result", "versus log off"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    print(f"CPU reference: {cpu_reference()}")


if __name__ == "__main__":
    main()
