"""Event-loop lag of `AsyncTelemetryClient` (issue 14): how long each call stalls the
agent's event loop, with the service up, refused (closed port) and hung (accepts, never
answers), in sync and background delivery.

Method: a probe task on the agent's loop spins on `await asyncio.sleep(0)` and records how
long each of its turns took, that is, how long the loop spent on everything else in
between. The agent task brackets each call; the call's stall is the longest probe turn
that covers it: what another task waited for at worst while the call ran, whatever made
it wait (the call's own steps, the client's threads holding the interpreter lock, the OS
giving the CPU to another process). Beside it, the call's own longest step, timed around
each resumption of its coroutine. References in the same run: the same agent awaiting
`asyncio.sleep(0)`, and a 5 ms `asyncio.sleep` (a call that waits that long and does
nothing: what the machine's own noise costs a call of that length).
Each scenario first warms up (threads started, connections open and, for the hung service,
its first detection: one read timeout, the breaker opens), then measures `--calls` rounds
of start_run, log_event, set_metrics + end_run and associate_commit. Default configuration
otherwise (timeouts 0.5 / 1.0 s, cooldown 5 s, buffer fsync always).

Target: p99 <= 1 ms and worst <= 5 ms per call after the first detection of a hung service.

Usage: .venv/bin/python bench/bench_async.py [--calls 2000] [--only up,refused,hung]
       [--modes sync,background]"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Generator, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench_client import pct  # noqa: E402 (beside this script)
from machine_speed import cpu_reference  # noqa: E402 (beside this script)
from telemetry import AsyncTelemetryClient, TelemetryConfig  # noqa: E402
from tests.support.receiver import HungPort, closed_port_url  # noqa: E402
from tests.support.service import ServiceProcess  # noqa: E402

Row = tuple[str, str, str, str, str]
Call = Callable[[], Coroutine[Any, Any, Any]]
US = 1e6


class LagProbe:
    """A task that measures each turn of the loop it runs on; `take()` returns the longest
    turn since the last `take()`."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.running = True

    async def run(self) -> None:
        clock = time.perf_counter
        while self.running:
            before = clock()
            await asyncio.sleep(0)
            turn = clock() - before
            if turn > self.worst:
                self.worst = turn

    def take(self) -> float:
        worst, self.worst = self.worst, 0.0
        return worst


class Steps:
    """Awaits a coroutine, timing each of its steps on the loop (from one suspension to
    the next): the longest is the call's own longest stretch without an await."""

    def __init__(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        self.coroutine = coroutine
        self.longest = 0.0

    def __await__(self) -> Generator[Any, Any, Any]:
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            before = time.perf_counter()
            try:
                yielded = self.coroutine.send(sent) if thrown is None else self.coroutine.throw(thrown)
            except StopIteration as stop:
                self.longest = max(self.longest, time.perf_counter() - before)
                return stop.value
            self.longest = max(self.longest, time.perf_counter() - before)
            try:
                sent, thrown = (yield yielded), None
            except BaseException as error:  # a cancellation goes on into the call
                sent, thrown = None, error


async def stall_of(call: Call, probe: LagProbe) -> tuple[float, float]:
    """The longest loop turn while `call` ran (one sleep(0) after it lets the probe see its
    last step), and the call's own longest step."""
    probe.take()
    steps = Steps(call())
    await steps
    await asyncio.sleep(0)
    return probe.take(), steps.longest


async def pause() -> None:
    await asyncio.sleep(0.005)


async def rounds(client: AsyncTelemetryClient, count: int, probe: LagProbe | None) -> dict[str, list[tuple[float, float]]]:
    """`count` rounds of the agent's calls; each call's (stall, own longest step) by call
    name (none measured without a probe: the warm-up)."""
    names = ("reference", "reference, 5 ms wait", "start_run", "log_event", "end_run", "associate_commit")
    stalls: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for number in range(count):
        run_id = ""

        async def start() -> None:
            nonlocal run_id
            run_id = await client.start_run("bench-async", "lag", items_discovered=number)

        async def end() -> None:
            client.set_metrics(run_id, items_succeeded=number)
            await client.end_run(run_id)

        calls: list[tuple[str, Call]] = [
            ("reference", lambda: asyncio.sleep(0)),
            ("reference, 5 ms wait", pause),
            ("start_run", start),
            ("log_event", lambda: client.log_event(run_id, "step", {"n": number, "page": "p" * 40})),
            ("end_run", end),
            ("associate_commit", lambda: client.associate_commit(run_id, "abcdef1", "ci")),
        ]
        for name, call in calls:
            if probe is None:
                await call()
            else:
                stalls[name].append(await stall_of(call, probe))
    return stalls


async def measure(
    config: TelemetryConfig, calls: int, warm_up: int
) -> tuple[dict[str, list[tuple[float, float]]], float, dict[str, int]]:
    """Stalls per call after the warm-up, the warm-up's wall time, the client's counters."""
    client = AsyncTelemetryClient(config)
    started = time.perf_counter()
    await rounds(client, warm_up, None)
    warm_up_s = time.perf_counter() - started
    probe = LagProbe()
    probing = asyncio.create_task(probe.run())
    await asyncio.sleep(0)
    stalls = await rounds(client, calls, probe)
    probe.running = False
    await probing
    await client.aclose(1.0)
    return stalls, warm_up_s, client.self_metrics()


@contextlib.contextmanager
def service_in(scenario: str, directory: Path) -> Iterator[str]:
    """The service URL of a scenario: a live service process, a closed port, a hung port."""
    if scenario == "up":
        service = ServiceProcess(directory / "service.sqlite").start()
        try:
            yield service.url
        finally:
            service.stop()
    elif scenario == "refused":
        yield closed_port_url()
    else:
        with HungPort() as hung:
            yield hung.url


def scenario_rows(scenario: str, mode: str, calls: int, base: Path) -> list[Row]:
    directory = base / f"{scenario}-{mode}"
    directory.mkdir()
    with service_in(scenario, directory) as url:
        config = TelemetryConfig(api_url=url, base_dir=directory / "client", delivery="background" if mode == "background" else "sync")
        stalls, warm_up_s, metrics = asyncio.run(measure(config, calls, warm_up=20))
    label = f"{scenario}, {mode}"
    note = f"warm-up {warm_up_s:.2f} s; opened {metrics.get('breaker.opened', 0)}, short-circuited {metrics.get('breaker.short_circuited', 0)}"
    rows: list[Row] = []
    for name, pairs in stalls.items():
        target = "-" if name.startswith("reference") else "p99 <= 1,000, max <= 5,000"
        rows.append((label, name, _summary([pair[0] for pair in pairs]), _summary([pair[1] for pair in pairs]), target if scenario == "hung" else "-"))
    rows[0] = (*rows[0][:4], note)
    return rows


def _summary(samples: list[float]) -> str:
    return f"p50 {pct(samples, .5) * US:,.0f} / p99 {pct(samples, .99) * US:,.0f} / max {max(samples) * US:,.0f} µs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="measured rounds per scenario")
    parser.add_argument("--only", default="up,refused,hung")
    parser.add_argument("--modes", default="sync,background")
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-async-") as scratch:
        for scenario in args.only.split(","):
            for mode in args.modes.split(","):
                rows += scenario_rows(scenario, mode, args.calls, Path(scratch))
    table = Table(title=f"event-loop stall per call, AsyncTelemetryClient ({os.cpu_count()} cores; {cpu_reference()})")
    columns = ("service, delivery", "call", "stall: longest loop turn during the call", "the call's own longest step", "target / note")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
