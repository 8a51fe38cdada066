"""Benchmark of `telemetry.core.decide`: ns per call for each command with 1 and with
10,000 active runs, so a cost that grows with the registry shows as a ratio above ~1.

Run: `.venv/bin/python bench/bench_decide.py` (options: `--calls`, `--repeats`)."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import click
from rich.console import Console
from rich.table import Table

from telemetry.core import (
    AssociateCommit,
    Command,
    EndRun,
    LogEvent,
    RegistryState,
    SetMetrics,
    StartRun,
    decide,
)

AT = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
SIZES = (1, 10_000)
TARGET = "bench-target"


def _populated(active_runs: int) -> RegistryState:
    """A state with `active_runs` active runs, one of them with the custom id `TARGET`."""
    state = decide(
        RegistryState(), StartRun("bench", "job", AT, "event-target", "f" * 16, custom_run_id=TARGET)
    ).state
    for number in range(active_runs - 1):
        state = decide(state, StartRun("bench", "job", AT, f"event-{number}", f"{number:016x}")).state
    assert len(state.active) == active_runs
    return state


COMMANDS: dict[str, Command] = {
    "start": StartRun("bench", "job", AT, "event-new", "abcdef0123456789", fields={"product": "words"}),
    "end": EndRun(TARGET, "success", AT + timedelta(seconds=90), {"items_succeeded": 5}),
    "log_event": LogEvent(TARGET, "checkpoint", AT, {"step": 1}),
    "set_metrics": SetMetrics(TARGET, {"items_succeeded": 5, "tokens": 812}),
    "associate_commit": AssociateCommit(TARGET, "a1b2c3d4e5f6", "llm", AT),
}


def _time_calls(call: Callable[[], object], calls: int) -> list[int]:
    """Nanoseconds of each of `calls` calls (the clock's own cost included)."""
    clock = time.perf_counter_ns
    samples = [0] * calls
    for index in range(calls):
        started = clock()
        call()
        samples[index] = clock() - started
    return samples


def measure(state: RegistryState, command: Command, calls: int, repeats: int) -> tuple[float, float]:
    """(median, p99) in ns of the repeat with the best median; GC off while timing, as timeit does."""
    best: tuple[float, float] | None = None
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            samples = sorted(_time_calls(lambda: decide(state, command), calls))
        finally:
            gc.enable()
        median, p99 = statistics.median(samples), float(
            samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        )
        if best is None or median < best[0]:
            best = (median, p99)
    assert best is not None
    return best


@click.command()
@click.option("--calls", default=10_000, show_default=True, help="Calls per repeat.")
@click.option("--repeats", default=5, show_default=True, help="Repeats; the best median is kept.")
def main(calls: int, repeats: int) -> None:
    """Print median and p99 ns per `decide` call, per command and registry size."""
    states = {size: _populated(size) for size in SIZES}
    table = Table(title=f"decide(): ns per call ({calls} calls x {repeats} repeats, best median)")
    table.caption = "@1 / @10k: active runs in the state; 10k/1: ratio of the medians"
    for header in ("command", "median @1", "p99 @1", "median @10k", "p99 @10k", "10k/1"):
        table.add_column(header, justify="left" if header == "command" else "right", no_wrap=True)
    started = time.perf_counter()
    for name, command in COMMANDS.items():
        (median_1, p99_1), (median_10k, p99_10k) = (
            measure(states[size], command, calls, repeats) for size in SIZES
        )
        table.add_row(
            name,
            f"{median_1:,.0f}",
            f"{p99_1:,.0f}",
            f"{median_10k:,.0f}",
            f"{p99_10k:,.0f}",
            f"{median_10k / median_1:.2f}",
        )
    console = Console()
    console.print(table)
    console.print(f"measured in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
