"""`telemetry demo`, the project's main job: start the service on its embedded SQLite
database, run a small instrumented agent against it (several runs, a failure, custom and
refused run ids, a duplicate, a commit association after the end) and print what the
service now holds."""

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
from rich.console import Console
from rich.table import Table

from telemetry.service.config import SERVICE_ENV


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
    console.print_json(data=client.get_run_id_metrics())
    client.close()
    return first


_SHOWN_COLUMNS = (
    "run_id", "agent_name", "status", "duration_ms", "items_succeeded", "git_commit_hash", "error_summary"
)


def _fetch(url: str, **params: Any) -> Any:
    """The JSON of a 2xx GET; a clear error for any other answer."""
    response = httpx.get(url, params=params)
    if not response.is_success:
        raise click.ClickException(f"GET {url} answered {response.status_code}: {response.text[:300]}")
    return response.json()


def _show(console: Console, base_url: str) -> None:
    rows: list[dict[str, Any]] = _fetch(f"{base_url}/api/v1/runs", limit=50)
    table = Table(title=f"agent_runs in the service ({len(rows)} rows)")
    for column in _SHOWN_COLUMNS:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(column) is None else str(row[column]) for column in _SHOWN_COLUMNS))
    console.print(table)
    console.print_json(data=_fetch(f"{base_url}/metrics"))


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path(".telemetry/demo"),
              show_default=True, help="Started afresh: SQLite file, NDJSON backup, buffer.")
def demo(data_dir: Path) -> None:
    """Run the demo agent against a freshly started service and show the result."""
    # Piped output gets 80 columns by default, too narrow for the table.
    console = Console() if Console().is_terminal else Console(width=140)
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    console.print(f"starting the service on {base_url} with SQLite at {data_dir / 'telemetry.sqlite'}")
    service = _start_service(data_dir, port)
    try:
        _run_agent(console, base_url, data_dir)
        _show(console, base_url)
    finally:
        service.terminate()
        service.wait(timeout=10)
    console.print(f"[green]done[/]: query it yourself with  sqlite3 {data_dir / 'telemetry.sqlite'} 'select run_id, status from agent_runs'")
