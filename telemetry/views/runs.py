"""`telemetry runs`: the runs the service holds, filtered and paged, newest first."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import click
from rich import box
from rich.table import Table

from telemetry.views.formatting import console, duration_text, parse_when, status_text, text, when_text
from telemetry.views.service_api import ServiceApi, json_option, service_options

MAX_LIMIT = 1000  # the service's own limit per request
WIDE_COLUMNS = 110  # from this width on, the table shows the job type and item counts too


def runs_table(rows: list[dict[str, Any]], width: int) -> Table:
    """Runs as a table that fits `width` columns (run ids fold rather than lose their end)."""
    wide = width >= WIDE_COLUMNS
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, expand=True)
    table.add_column("STARTED UTC", no_wrap=True)
    table.add_column("AGENT", overflow="ellipsis", no_wrap=True, max_width=14)
    table.add_column("RUN ID", overflow="fold", ratio=1)
    if wide:
        table.add_column("JOB", overflow="ellipsis", no_wrap=True, max_width=16)
    table.add_column("STATUS", no_wrap=True)
    table.add_column("DURATION", justify="right", no_wrap=True)
    if wide:
        table.add_column("ITEMS ok/fail", justify="right", no_wrap=True)
    for row in rows:
        cells = [text(when_text(row.get("start_time"))), text(row.get("agent_name"), "bold"), text(row.get("run_id"))]
        if wide:
            cells.append(text(row.get("job_type")))
        cells += [status_text(row.get("status")), text(duration_text(row.get("duration_ms")))]
        if wide:
            cells.append(text(f"{row.get('items_succeeded', 0)}/{row.get('items_failed', 0)}"))
        table.add_row(*cells)
    return table


def _offset(limit: int, offset: int | None, page: int | None) -> int:
    if offset is not None and page is not None:
        raise click.UsageError("give --offset or --page, not both")
    return (page - 1) * limit if page is not None else offset or 0


@click.command("runs")
@click.option("--agent", help="Only this agent_name.")
@click.option("--status", help="Only this status (success, failure, running, ...; aliases like failed accepted).")
@click.option("--job-type", help="Only this job_type.")
@click.option("--since", help="Started at or after: ISO time (local if no zone) or a span back: 30m, 24h, 7d.")
@click.option("--until", help="Started at or before: same forms as --since.")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=20, show_default=True, help="Runs per page.")
@click.option("--offset", type=click.IntRange(0), help="Skip this many runs.")
@click.option("--page", type=click.IntRange(1), help="Page number (1 is the newest runs), instead of --offset.")
@service_options
@json_option
def runs(
    agent: str | None,
    status: str | None,
    job_type: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    offset: int | None,
    page: int | None,
    api_url: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """List runs, newest first, with filters and paging."""
    now = datetime.now(timezone.utc)
    params = {
        "agent_name": agent,
        "status": status,
        "job_type": job_type,
        "start_time_from": parse_when("--since", since, now),
        "start_time_to": parse_when("--until", until, now),
        "limit": limit,
        "offset": _offset(limit, offset, page),
    }
    api = ServiceApi.from_options(api_url, token)
    rows: list[dict[str, Any]] = api.get("/api/v1/runs", params)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    out = console()
    if not rows:
        out.print("no runs match" + (" on this page" if params["offset"] else ""))
        return
    out.print(runs_table(rows, out.width))
    out.print(_position(int(params["offset"] or 0), limit, len(rows)), style="bright_black")


def _position(offset: int, limit: int, shown: int) -> str:
    """Which runs these are, and how to ask for the next page when there may be one."""
    position = f"runs {offset + 1}-{offset + shown}"
    if shown < limit:
        return position
    after = f"--page {offset // limit + 2}" if offset % limit == 0 else f"--offset {offset + limit}"
    return f"{position}; more with {after}"
