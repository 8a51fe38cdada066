"""`telemetry replay LOG... --to URL`: re-send the delivery effects of effect logs to a
service (`telemetry.shell.effect_log.replay`), with a progress bar and a summary line. Exit
code 0 when every line was read and every delivery taken, 1 when a line was unreadable,
the service refused an effect or could not be reached, 2 for a mistake in the call (a log
that does not exist or cannot be read, a malformed URL)."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from telemetry.cli_config import ConfigMistake
from telemetry.settings import url_problem
from telemetry.shell.config import TelemetryConfig
from telemetry.shell.effect_log.replay import (
    DeliveryEffect,
    ReplayReport,
    Result,
    count_lines,
    describe,
    log_lines,
    replay,
    send,
)
from telemetry.shell.service_api import ServiceApi

# Refusals and unreadable lines listed after the summary; the rest are counted only.
_LISTED = 20


def _summary(report: ReplayReport, dry_run: bool) -> str:
    sent = f"would send {report.sent}" if dry_run else f"sent {report.sent}"
    return (
        f"replay: {sent}, duplicates {report.duplicates}, refused {report.refused}, "
        f"unavailable {report.unavailable}; skipped {report.skipped} other effects; "
        f"unreadable lines {len(report.unreadable)}"
    )


def _problems(report: ReplayReport, stderr: Console) -> None:
    for label, items in (("unreadable line", report.unreadable), ("refused", report.refusals)):
        for item in items[:_LISTED]:
            stderr.print(f"{label}: {item}", markup=False, highlight=False, soft_wrap=True)
        if len(items) > _LISTED:
            stderr.print(f"... and {len(items) - _LISTED} more {label}s", markup=False, highlight=False)
    if report.stopped:
        stderr.print(f"error: {report.stopped}", markup=False, highlight=False, soft_wrap=True)


def _readable(logs: tuple[Path, ...]) -> int:
    """The logs' line count; a log that cannot be read is a mistake in the call."""
    try:
        return count_lines(logs)
    except OSError as error:
        raise ConfigMistake(f"cannot read the log {error.filename}: {error.strerror}") from None


@click.command("replay")
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--to", "url", required=True, help="URL of the service to send to, e.g. http://127.0.0.1:8765.")
@click.option("--dry-run", is_flag=True, help="Print what would be sent, send nothing.")
@click.option("--token", default=None, help="Bearer token [default: $TELEMETRY_API_TOKEN].")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="HTTP read timeout in seconds.")
def replay_command(logs: tuple[Path, ...], url: str, dry_run: bool, token: str | None, timeout: float) -> None:
    """Re-send the runs, updates and commits recorded in effect logs (TELEMETRY_EFFECT_LOG)
    to the service at --to, in order, whatever their recorded outcome. Replaying twice
    leaves the service as replaying once.

    Give rotated logs oldest first: LOG.3 LOG.2 LOG.1 LOG."""
    problem = url_problem(url)
    if problem is not None:
        raise ConfigMistake(f"--to {url[:80]!r} {problem}; give the service's URL, e.g. http://127.0.0.1:8765")
    if timeout <= 0:
        raise ConfigMistake(f"--timeout {timeout} must be > 0")
    logging.getLogger("telemetry").addHandler(logging.NullHandler())
    total = _readable(logs)
    stdout, stderr = Console(), Console(stderr=True)
    if dry_run:
        report = replay(log_lines(logs), lambda effect: _print(stdout, effect), lambda: None)
    else:
        api = ServiceApi(url, token or TelemetryConfig.from_env().api_token, read_timeout=timeout)
        try:
            report = _send_all(logs, total, api, stderr)
        finally:
            api.close()
    stdout.print(_summary(report, dry_run), markup=False, highlight=False, soft_wrap=True)
    _problems(report, stderr)
    raise SystemExit(0 if report.complete else 1)


def _print(stdout: Console, effect: DeliveryEffect) -> tuple[Result, str]:
    stdout.print(describe(effect), markup=False, highlight=False, soft_wrap=True)
    return "sent", ""


def _send_all(logs: tuple[Path, ...], total: int, api: ServiceApi, stderr: Console) -> ReplayReport:
    with Progress(
        TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=stderr,
    ) as bar:  # fmt: skip
        task = bar.add_task("replay", total=total)
        return replay(log_lines(logs), lambda effect: send(api, effect), lambda: bar.advance(task))
