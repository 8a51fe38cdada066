"""`telemetry show RUN_ID`: one run, found by its run id (or its event id): its fields,
metrics and context, error and traceback, and its commit with the commit's web URL."""

from __future__ import annotations

import json
from typing import Any

import click
from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table

from telemetry.views.formatting import console, duration_text, status_text, text, when_text
from telemetry.views.service_api import ServiceApi, json_option, path_segment, service_options

# Shown in this order at the top; every other non-empty field follows, by name.
_HEAD_FIELDS = ("run_id", "event_id", "agent_name", "job_type", "status", "start_time", "end_time", "duration_ms")
_SECTIONS = ("metrics_json", "context_json", "error_summary", "error_details")
_COMMIT_FIELDS = ("git_repo", "git_branch", "git_commit_hash", "git_commit_source", "git_commit_author")


def find_run(api: ServiceApi, run_or_event_id: str) -> dict[str, Any]:
    """The run with this run id, else the run with this event id; exit 1 if neither."""
    segment = path_segment(run_or_event_id)
    by_run_id = f"/api/v1/runs/by-run-id/{segment}"
    response = api.request(by_run_id)
    if response.status_code != 404:
        return dict(api.json_of(response, by_run_id))
    missing = f"no run with run id or event id {run_or_event_id!r}"
    return dict(api.get(f"/api/v1/runs/{segment}", missing=missing))


def _value_text(name: str, value: Any) -> Any:
    if name == "status":
        return status_text(value)
    if name == "duration_ms":
        return text(f"{duration_text(value)} ({value} ms)")
    if name.endswith(("_time", "_at", "_timestamp")):
        return text(when_text(value, with_year=True) + " UTC")
    return text(value)


def _fields_table(run: dict[str, Any]) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bright_black", no_wrap=True)
    table.add_column(overflow="fold")
    rest = sorted(name for name in run if name not in _HEAD_FIELDS + _SECTIONS + _COMMIT_FIELDS)
    for name in (*_HEAD_FIELDS, *rest):
        value = run.get(name)
        if value not in (None, "", 0) or name in _HEAD_FIELDS[:5]:
            table.add_row(name, _value_text(name, value))
    return table


def _section(title: str, value: Any, style: str = "") -> Panel:
    body = value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True)
    return Panel(text(body, style), title=title, title_align="left", box=box.ROUNDED, expand=True)


def _commit_lines(run: dict[str, Any], commit_url: str | None) -> Table | None:
    if not run.get("git_commit_hash") and not run.get("git_repo"):
        return None
    table = Table(box=None, show_header=False, pad_edge=False, title="commit", title_justify="left")
    table.add_column(style="bright_black", no_wrap=True)
    table.add_column(overflow="fold")
    for name in _COMMIT_FIELDS:
        if run.get(name):
            table.add_row(name, text(run[name]))
    if commit_url:
        table.add_row("commit_url", text(commit_url, "underline"))
    return table


def run_view(run: dict[str, Any], commit_url: str | None) -> Group:
    parts: list[RenderableType] = [_fields_table(run)]
    for name in _SECTIONS:
        if run.get(name) not in (None, "", {}, []):
            parts.append(_section(name, run[name], "red" if name.startswith("error") else ""))
    commit = _commit_lines(run, commit_url)
    if commit is not None:
        parts.append(commit)
    return Group(*parts)


@click.command("show")
@click.argument("run_id")
@service_options
@json_option
def show(run_id: str, api_url: str | None, token: str | None, as_json: bool) -> None:
    """Show one run by its run id (or its event id)."""
    api = ServiceApi.from_options(api_url, token)
    run = find_run(api, run_id)
    commit_url = None
    if run.get("git_commit_hash"):
        reply = api.get(f"/api/v1/runs/{path_segment(run['event_id'])}/commit-url")
        commit_url = reply.get("commit_url")
    if as_json:
        click.echo(json.dumps({**run, "commit_url": commit_url}, indent=2))
        return
    console().print(run_view(run, commit_url))
