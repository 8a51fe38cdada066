"""`telemetry tail`: follow what agents do, from the NDJSON backup files (the default; no
service needed) or from the service (`--service`, by polling its newest runs). Ctrl-C
ends it with exit 0."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from telemetry.shell.config import TelemetryConfig
from telemetry.views.formatting import STATUS_STYLES, console, duration_text
from telemetry.views.service_api import ServiceApi, json_option, service_options

NDJSON_GLOB = "events_*.ndjson"  # the backup's daily files; their names sort by day
PAST_BYTES = 1 << 20  # the past lines shown first come from the file's last MiB at most
SERVICE_PAGE = 100  # newest runs asked for per poll
_SEEN_RUNS = 10_000  # status changes are remembered for this many runs


def _body(line: dict[str, Any]) -> dict[str, Any]:
    """The record or event of a backup line (`{"kind", "record" | "event"}`), or the line."""
    for key in ("record", "event"):
        if isinstance(line.get(key), dict):
            return dict(line[key])
    return line


def line_text(kind: str, body: dict[str, Any]) -> Text:
    """One followed line: time, kind, agent, run id, status and duration, as plain text."""
    stamp = body.get("end_time") if kind == "run_end" else None
    stamp = stamp or body.get("timestamp") or body.get("start_time") or ""
    status = str(body.get("status") or body.get("event_type") or "")
    out = Text(f"{str(stamp)[:19].replace('T', ' ')}  ", style="bright_black")
    out.append(f"{kind:<9} ", style="bold")
    out.append(f"{body.get('agent_name') or '':<16} ")
    out.append(f"{body.get('run_id') or ''}  ")
    out.append(status, style=STATUS_STYLES.get(status, ""))
    if body.get("duration_ms") is not None:
        out.append(f"  {duration_text(body['duration_ms'])}")
    return out


def _print_backup_line(out: Console, raw: str, as_json: bool) -> None:
    if as_json:
        click.echo(raw)
        return
    try:
        line = json.loads(raw)
    except ValueError:
        out.print(Text(raw, style="yellow"), soft_wrap=True)  # a torn or foreign line is shown as it is
        return
    if not isinstance(line, dict):
        out.print(Text(raw, style="yellow"))
        return
    out.print(line_text(str(line.get("kind") or "line"), _body(line)), soft_wrap=True)


def _newest_file(directory: Path) -> Path | None:
    files = sorted(directory.glob(NDJSON_GLOB))
    return files[-1] if files else None


def _last_bytes(path: Path) -> tuple[int, bytes]:
    """Where the end of `path` read starts, and the last `PAST_BYTES` of it (or all)."""
    with open(path, "rb") as handle:
        start = max(0, handle.seek(0, 2) - PAST_BYTES)
        handle.seek(start)
        return start, handle.read()


def follow_backup(directory: Path, lines: int, interval: float) -> Iterator[str]:
    """The last `lines` lines of the newest backup file, then each line appended to it (or
    to the next day's file, once it appears), as they come."""
    current = _newest_file(directory)
    position = 0
    if current is not None:
        start, content = _last_bytes(current)
        whole_lines = len(content) - len(content.rsplit(b"\n", 1)[-1])  # a torn last line waits
        position = start + whole_lines
        past = content[:whole_lines].splitlines()[1 if start else 0 :]  # the first may be cut
        yield from (part.decode(errors="replace") for part in past[-lines:] if lines)
    pending = b""
    while True:
        newest = _newest_file(directory)
        if current is not None:
            with open(current, "rb") as handle:
                handle.seek(position)
                pending += handle.read()
                position = handle.tell()
            *complete, pending = pending.split(b"\n")
            yield from (part.decode(errors="replace") for part in complete if part)
        if newest is not None and newest != current:
            current, position, pending = newest, 0, b""
            continue  # read the new file at once
        time.sleep(interval)


def follow_service(api: ServiceApi, lines: int, interval: float) -> Iterator[dict[str, Any]]:
    """The newest `lines` runs, then each run that appears or changes status, by polling."""
    seen: OrderedDict[str, str] = OrderedDict()
    first = True
    while True:
        rows: list[dict[str, Any]] = api.get("/api/v1/runs", {"limit": SERVICE_PAGE})
        changed = [row for row in reversed(rows) if seen.get(row["event_id"]) != row.get("status")]
        for row in changed:
            seen[row["event_id"]] = str(row.get("status"))
            seen.move_to_end(row["event_id"])
        while len(seen) > _SEEN_RUNS:
            seen.popitem(last=False)
        if first:  # the past: only the newest `lines` of it
            changed = changed[-lines:] if lines else []
            first = False
        yield from changed
        time.sleep(interval)


@click.command("tail")
@click.option("--service", "from_service", is_flag=True, help="Follow the service's runs instead of the NDJSON backup.")
@click.option("--ndjson-dir", type=click.Path(path_type=Path, file_okay=False),
              help="The backup directory [env TELEMETRY_NDJSON_DIR, default <TELEMETRY_BASE_DIR>/ndjson].")  # fmt: skip
@click.option("-n", "--lines", type=click.IntRange(0), default=10, show_default=True, help="Show this many past lines first.")
@click.option("--interval", type=click.FloatRange(0.05), default=1.0, show_default=True, help="Seconds between polls.")
@service_options
@json_option
def tail(
    from_service: bool,
    ndjson_dir: Path | None,
    lines: int,
    interval: float,
    api_url: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """Follow runs as they happen (Ctrl-C to stop)."""
    if from_service and ndjson_dir is not None:
        raise click.UsageError("--ndjson-dir follows the backup files; leave it out with --service")
    out = console()
    try:
        if from_service:
            api = ServiceApi.from_options(api_url, token)
            for row in follow_service(api, lines, interval):
                if as_json:
                    click.echo(json.dumps(row))
                else:
                    out.print(line_text(_kind_of(row), row), soft_wrap=True)
        else:
            directory = ndjson_dir or TelemetryConfig.from_env().ndjson_dir
            if not directory.is_dir():
                raise click.UsageError(f"no NDJSON backup directory at {directory}; set --ndjson-dir or TELEMETRY_NDJSON_DIR")
            for raw in follow_backup(directory, lines, interval):
                _print_backup_line(out, raw, as_json)
    except KeyboardInterrupt:
        return  # Ctrl-C is how a follow ends: exit 0, no traceback


def _kind_of(row: dict[str, Any]) -> str:
    return "run_start" if row.get("status") == "running" else "run_end"
