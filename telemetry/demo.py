"""`telemetry demo`, the project's main job: start the service on its embedded SQLite
database, run a small instrumented agent against it (several runs, a failure, custom and
refused run ids, a duplicate, a commit association after the end) and print what the
service now holds.

Its data directory is its own or refused: the demo uses a directory that is absent or
empty and marks it as the demo's; a later demo in a marked directory removes only the
files and folders the demo writes there. Nothing else is ever deleted."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import httpx
from rich import box
from rich.console import Console
from rich.table import Table

from telemetry.cli_config import ConfigMistake
from telemetry.service.config import SERVICE_ENV

# The file that marks a directory as the demo's, and everything the demo writes beside it.
_MARKER = ".telemetry-demo"
_DEMO_ENTRIES = (
    "telemetry.sqlite", "telemetry.sqlite-wal", "telemetry.sqlite-shm", "telemetry.sqlite-journal",
    "service.log", "ndjson", "buffer",
)  # fmt: skip


def prepare_data_dir(data_dir: Path) -> None:
    """Make `data_dir` ready for a fresh demo without deleting anything the demo did not
    write: an absent or empty directory becomes the demo's (marked); in a directory marked
    as the demo's, only the demo's own entries are removed; anything else is refused."""
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigMistake(f"--data-dir {data_dir} is a file, not a directory")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        marked = (data_dir / _MARKER).is_file()
        if not marked and any(data_dir.iterdir()):
            raise ConfigMistake(
                f"--data-dir {data_dir} is not empty and was not made by the demo; "
                "name a new or empty directory (nothing was changed)"
            )
        for name in _DEMO_ENTRIES if marked else ():
            entry = data_dir / name
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            elif entry.exists() or entry.is_symlink():
                entry.unlink()
        (data_dir / _MARKER).write_text("made by `telemetry demo`; a later demo removes only what it wrote here\n")
    except OSError as error:
        raise ConfigMistake(f"--data-dir {data_dir} cannot be used: {error.strerror or error}") from None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_service(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    log = (data_dir / "service.log").open("wb")
    command = [sys.executable, "-m", "telemetry", "serve", "--port", str(port)]
    command += ["--db", str(data_dir / "telemetry.sqlite")]
    # The demo's service is its own: no token, port or file from the caller's shell.
    env = {name: value for name, value in os.environ.items() if name not in SERVICE_ENV}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
        if process.poll() is not None:
            break
    process.kill()
    raise click.ClickException(f"the service did not start; see {data_dir / 'service.log'}")


class _DemoFailure(RuntimeError):
    """The error the demo agent's failing run raises on purpose."""


def _run_agent(console: Console, base_url: str, data_dir: Path) -> str:
    """The instrumented agent; returns the run id it associates a commit with. Its client
    is configured from these two only, never from the caller's shell: its files stay under
    `data_dir` and nothing reaches a developer's real service or export endpoint."""
    from telemetry import TelemetryClient, TelemetryConfig

    client = TelemetryClient(TelemetryConfig.from_env({"TELEMETRY_API_URL": base_url, "TELEMETRY_BASE_DIR": str(data_dir)}))
    with client.track_run("demo-crawler", "crawl", run_id="demo-crawl-001", product="docs") as run:
        for page in range(3):
            run.log_event("page_fetched", {"page": page})
        run.set_metrics(items_discovered=3, items_succeeded=3, pages_per_second=41.5)
    try:
        with client.track_run("demo-translator", "translate", run_id="demo-translate-001") as run:
            run.set_metrics(items_discovered=5, items_succeeded=2, items_failed=1)
            raise _DemoFailure("translation service quota exhausted")
    except _DemoFailure:
        console.print("[yellow]demo-translator failed on purpose; its run ended as failure[/]")
    refused = client.start_run("demo-indexer", "index", run_id="bad/run/id")
    first = client.start_run("demo-indexer", "index", run_id="demo-index-001")
    duplicate = client.start_run("demo-indexer", "index", run_id="demo-index-001")
    client.end_run(refused, status="partial", items_discovered=10, items_succeeded=7, items_skipped=3)
    client.end_run(first, status="completed", items_succeeded=4)
    client.end_run(duplicate, status="cancelled")
    ok, message = client.associate_commit(first, "3f2a9c1d0b7e", "llm", "demo-bot <bot@example.com>")
    console.print(f"associate_commit after end_run: {ok} {message}")
    console.print(f"refused id 'bad/run/id' fell back to {refused!r}; duplicate became {duplicate!r}")
    client.log_run_id_metrics()
    console.print(
        "run_id_metrics: how this client chose run ids: custom ids it accepted, ids it generated,"
        " custom ids it refused (by reason) and duplicates it renamed, out of all runs it started:"
    )
    console.print_json(data=client.get_run_id_metrics())
    # Background delivery (the default): wait until the service holds every run, so the
    # table below shows them all; close() alone waits only the exit budget.
    client.flush(10.0)
    client.close()
    return first


# (heading, field) of the table; long ids fold onto a second line rather than being cut, and
# error summaries are listed under the table, so it fits 80 columns.
_SHOWN_COLUMNS = (
    ("run id", "run_id"), ("agent", "agent_name"), ("status", "status"), ("ms", "duration_ms"),
    ("ok", "items_succeeded"), ("commit", "git_commit_hash"),
)  # fmt: skip


def _cell(row: dict[str, Any], field: str) -> str:
    value = row.get(field)
    if value is None:
        return ""
    return str(value)[:7] if field == "git_commit_hash" else str(value)


def _fetch(url: str, **params: Any) -> Any:
    """The JSON of a 2xx GET; a clear error for any other answer."""
    response = httpx.get(url, params=params)
    if not response.is_success:
        raise click.ClickException(f"GET {url} answered {response.status_code}: {response.text[:300]}")
    return response.json()


def _show(console: Console, base_url: str) -> None:
    rows: list[dict[str, Any]] = _fetch(f"{base_url}/api/v1/runs", limit=50)
    table = Table(
        title=f"agent_runs in the service ({len(rows)} rows)", box=box.SIMPLE_HEAD,
        caption="ms = duration_ms, ok = items_succeeded, commit = git_commit_hash (first 7)",
    )  # fmt: skip
    for heading, _ in _SHOWN_COLUMNS:
        table.add_column(heading, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row, field) for _, field in _SHOWN_COLUMNS))
    console.print(table)
    for row in rows:
        if row.get("error_summary"):
            console.print(f"error_summary of {row['run_id']}: {row['error_summary']}", markup=False, highlight=False)
    console.print("/metrics: the service's totals by agent, status and job type, and its writer's counters:")
    console.print_json(data=_fetch(f"{base_url}/metrics"))


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path(".telemetry/demo"), show_default=True,
              help="A new or empty directory, or one an earlier demo made (only the demo's own files are replaced).")  # fmt: skip
def demo(data_dir: Path) -> None:
    """Run the demo agent against a freshly started service and show the result."""
    prepare_data_dir(data_dir)
    console = Console()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    console.print(f"starting the service on {base_url} with SQLite at {data_dir / 'telemetry.sqlite'}", soft_wrap=True)
    service = _start_service(data_dir, port)
    try:
        _run_agent(console, base_url, data_dir)
        _show(console, base_url)
    finally:
        service.terminate()
        service.wait(timeout=10)
    # Soft-wrapped: a command cut into lines by rich could not be copied and pasted.
    console.print(
        f"[green]done[/]: query it yourself with  sqlite3 {data_dir / 'telemetry.sqlite'} 'select run_id, status from agent_runs'",
        soft_wrap=True,
    )
