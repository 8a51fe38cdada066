"""`telemetry stats`: per agent, how many runs, how many succeeded, how long they take
(p50/p95) and how many started in the last 24 hours."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import click
from rich import box
from rich.table import Table

from telemetry.views.formatting import console, duration_text, parse_when, percent_text, text, when_text
from telemetry.views.service_api import ServiceApi, json_option, service_options


def stats_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("AGENT", overflow="fold", style="bold")
    table.add_column("RUNS", justify="right")
    table.add_column("SUCCESS", justify="right")
    table.add_column("FAILED", justify="right")
    table.add_column("P50", justify="right", no_wrap=True)
    table.add_column("P95", justify="right", no_wrap=True)
    table.add_column("24H", justify="right")
    table.add_column("LAST RUN", no_wrap=True)
    for row in rows:
        table.add_row(
            text(row["agent_name"]),
            text(row["runs"]),
            percent_text(row["success_rate"]),
            text(row["failures"], "red" if row["failures"] else ""),
            text(duration_text(row["p50_ms"])),
            text(duration_text(row["p95_ms"])),
            text(row["runs_24h"]),
            text(when_text(row["last_start_time"])),
        )
    return table


@click.command("stats")
@click.option("--since", help="Only runs started since: ISO time or a span back (24h, 7d); all time by default.")
@service_options
@json_option
def stats(since: str | None, api_url: str | None, token: str | None, as_json: bool) -> None:
    """Per agent: runs, success rate (of ended runs), p50/p95 duration, runs in the last 24 h."""
    since_stamp = parse_when("--since", since, datetime.now(timezone.utc))
    api = ServiceApi.from_options(api_url, token)
    rows: list[dict[str, Any]] = api.get("/api/v1/stats/agents", {"since": since_stamp})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    out = console()
    if not rows:
        out.print("no runs" + (" since then" if since else " yet"))
        return
    out.print(stats_table(rows))
