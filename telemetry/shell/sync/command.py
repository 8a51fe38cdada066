"""`telemetry sync`: drain a buffer directory into the service from the command line, with a
progress bar and a final summary: the buffer files, and the outbox segments of processes
that are gone (`telemetry.shell.outbox.drain`). Exit code 0 when the buffer is empty afterwards, 1 when
entries remain (service down, not authorized, or the buffer directory cannot be written),
2 for a mistake in the call (a buffer directory that does not exist, a malformed URL)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from telemetry.cli_config import ConfigMistake, service_url
from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.config import TelemetryConfig
from telemetry.shell.outbox.drain import drain_outbox
from telemetry.shell.service_api import ServiceApi
from telemetry.shell.sync.worker import SyncReport, SyncWorker
from telemetry.shell.workers import backoff_delay

_COUNTS = ("delivered", "duplicates", "quarantined", "rejected", "remaining")


def _pass(worker: SyncWorker, advanced: Callable[[int, int], None]) -> SyncReport:
    """One pass: the outbox's dead segments first (a commit buffered by run id may name a
    run whose create is there), then the buffer files; one report of both."""
    outbox = drain_outbox(worker.buffer.path, worker.api)
    report = worker.run_once(advanced)
    drained = SyncReport(
        outbox.delivered, outbox.duplicates, outbox.quarantined, outbox.rejected,
        errors=() if outbox.unavailable is None else (f"service unavailable (outbox): {outbox.unavailable}",),
    )  # fmt: skip
    unavailable = report.service_unavailable or outbox.unavailable is not None
    return attrs.evolve(
        drained.then(report), remaining=report.remaining + outbox.segments_left, service_unavailable=unavailable
    )


def _summary(report: SyncReport) -> Table:
    table = Table(title="telemetry sync")
    table.add_column("entries")
    table.add_column("count", justify="right")
    for name in _COUNTS:
        table.add_row(name, str(getattr(report, name)))
    return table


def _drain(worker: SyncWorker, loop: bool, max_seconds: float | None, console: Console) -> SyncReport:
    """One pass, or (`loop`) passes until the buffer is empty, backing off while the service
    is down; a pass that neither delivered nor met either ends
    the loop (retrying a read-only directory or a wrong token cannot help)."""
    total = SyncReport()
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    failures = 0
    rng = random.Random()
    # Refreshed by the passes' progress calls: no thread of rich's own.
    with Progress(
        TextColumn("syncing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
        auto_refresh=False,
    ) as bar:  # fmt: skip
        task = bar.add_task("sync", total=None)

        def advanced(done: int, listed: int) -> None:
            bar.update(task, completed=done, total=listed, refresh=True)

        while True:
            report = _pass(worker, advanced)
            total = total.then(report)
            progressed = report.delivered + report.duplicates + report.quarantined + report.rejected > 0
            if not loop or report.remaining == 0 or not (report.service_unavailable or progressed):
                return total
            failures = failures + 1 if report.service_unavailable else 0
            delay = backoff_delay(failures, 0.5, 30.0, rng) if failures else 0.0
            if deadline is not None and time.monotonic() + delay > deadline:
                return total
            time.sleep(delay)


@click.command("sync")
@click.option("--buffer-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Buffer directory [default: $TELEMETRY_BUFFER_DIR or $TELEMETRY_BASE_DIR/buffer].")
@click.option("--api-url", default=None, help="Service URL [default: $TELEMETRY_API_URL].")
@click.option("--token", default=None, help="Bearer token [default: $TELEMETRY_API_TOKEN].")
@click.option("--once/--loop", default=True,
              help="One pass (default), or passes until the buffer is empty, backing off while the service is down.")
@click.option("--max-seconds", type=float, default=None, help="With --loop: give up after this long.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="HTTP read timeout in seconds.")
def sync(
    buffer_dir: Path | None,
    api_url: str | None,
    token: str | None,
    once: bool,
    max_seconds: float | None,
    timeout: float,
) -> None:
    """Deliver buffered runs to the service; exit 1 if entries remain."""
    # Errors are listed after the summary; the once-per-kind log lines would repeat them.
    logging.getLogger("telemetry").addHandler(logging.NullHandler())
    config = TelemetryConfig.from_env()
    url, token, directory = service_url(api_url, config.api_url), token or config.api_token, buffer_dir or config.buffer_dir
    if buffer_dir is not None and not buffer_dir.is_dir():
        raise ConfigMistake(f"--buffer-dir {buffer_dir} is not a directory (nothing to sync from there)")

    worker = SyncWorker(BufferDirectory(directory), ServiceApi(url, token, read_timeout=timeout))
    stderr = Console(stderr=True)
    try:
        report = _drain(worker, not once, max_seconds, stderr)
    finally:
        worker.api.close()
    Console().print(_summary(report))
    for error in report.errors:
        stderr.print(f"warning: {error}", markup=False, highlight=False, soft_wrap=True)
    raise SystemExit(0 if report.remaining == 0 else 1)
