"""`telemetry demo`, the README's main command (`scripts/demo`), run as a user runs it: a
fresh process whose shell carries the service's and the client's own variables, which
must reach neither the demo's service nor its client; and the demo's clear error when the
service refuses a read."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from rich.console import Console

from telemetry.demo import _show
from tests.service.helpers import file_rows
from tests.shell.helpers import ndjson_lines
from tests.support.receiver import Receiver
from tests.support.service import ServiceFactory

# The demo runs its own SQLite service; the one test on a started service checks its wording.
pytestmark = pytest.mark.sqlite_only
REPO = Path(__file__).resolve().parents[2]


def test_the_demo_stores_its_runs_and_files_only_in_its_own_places_whatever_the_shell_says(tmp_path: Path) -> None:
    # A developer who also runs a guarded service has its token (and port) in the shell, and
    # the client's own variables: a backup directory and a real export endpoint.
    elsewhere = tmp_path / "developer-ndjson"
    with Receiver() as export_endpoint:
        env = {
            **os.environ, "PYTHONPATH": str(REPO), "TELEMETRY_API_AUTH_TOKEN": "xyz", "TELEMETRY_API_PORT": "1",
            "TELEMETRY_NDJSON_DIR": str(elsewhere), "GOOGLE_SHEETS_API_URL": export_endpoint.url,
            "METRICS_API_TOKEN": "developer-token",
        }
        data_dir = tmp_path / "demo"
        done = subprocess.run(
            [sys.executable, "-m", "telemetry", "demo", "--data-dir", str(data_dir)],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert export_endpoint.requests == []
    assert not elsewhere.exists()
    assert {line["kind"] for line in ndjson_lines(data_dir / "ndjson")} >= {"run_start", "event", "run_end"}
    assert "agent_runs in the service (5 rows)" in done.stdout and "associate_commit after end_run: True" in done.stdout

    rows = {row["run_id"]: row for row in file_rows(data_dir / "telemetry.sqlite")}
    assert len(rows) == 5
    assert rows["demo-crawl-001"]["status"] == "success" and rows["demo-crawl-001"]["items_succeeded"] == 3
    failed = rows["demo-translate-001"]
    assert failed["status"] == "failure" and "translation service quota exhausted" in failed["error_summary"]
    indexed = rows["demo-index-001"]
    assert (indexed["status"], indexed["git_commit_hash"], indexed["git_commit_source"]) == ("success", "3f2a9c1d0b7e", "llm")
    [duplicate] = [run_id for run_id in rows if run_id.startswith("demo-index-001-duplicate-")]
    assert rows[duplicate]["status"] == "cancelled"
    [fallback] = [run_id for run_id in rows if "-demo-indexer-" in run_id]
    assert rows[fallback]["status"] == "partial" and "/" not in fallback


def test_the_demo_names_the_status_of_a_refused_read(service_factory: ServiceFactory) -> None:
    guarded = service_factory(auth_token="not-sent-by-the-demo")
    with pytest.raises(click.ClickException, match="answered 401"):
        _show(Console(file=io.StringIO()), guarded.url)


def _demo(data_dir: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "telemetry", "demo", "--data-dir", str(data_dir)],
        env={**os.environ, "PYTHONPATH": str(REPO), **env}, cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_demo_refuses_a_directory_it_did_not_make_and_leaves_its_files_alone(tmp_path: Path) -> None:
    data_dir = tmp_path / "precious"
    (data_dir / "notes").mkdir(parents=True)
    (data_dir / "thesis.txt").write_text("years of work")
    (data_dir / "notes" / "telemetry.sqlite").write_text("not the demo's")
    done = _demo(data_dir, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr and "not empty" in done.stderr
    assert (data_dir / "thesis.txt").read_text() == "years of work"
    assert sorted(p.name for p in data_dir.rglob("*")) == ["notes", "telemetry.sqlite", "thesis.txt"]


def test_the_demo_refuses_a_data_dir_that_is_a_file(tmp_path: Path) -> None:
    a_file = tmp_path / "report.txt"
    a_file.write_text("keep me")
    done = _demo(a_file, tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert a_file.read_text() == "keep me"


def test_a_second_demo_in_its_own_directory_replaces_only_what_it_wrote_and_fits_80_columns(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    assert _demo(data_dir, tmp_path, COLUMNS="80").returncode == 0
    (data_dir / "my-notes.txt").write_text("written between two demos")
    done = _demo(data_dir, tmp_path, COLUMNS="80")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (data_dir / "my-notes.txt").read_text() == "written between two demos"
    assert len(file_rows(data_dir / "telemetry.sqlite")) == 5  # the first demo's rows were replaced

    lines = done.stdout.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if "agent_runs in the service" in line) :]
    table = table[: next(i for i, line in enumerate(table) if "ms = duration_ms" in line) + 1]
    assert table and all(len(line) <= 80 for line in table), "\n".join(table)
    cells = " ".join(table)
    assert all(run_id in cells for run_id in ("demo-crawl-001", "demo-translate-001", "demo-index-001"))
    assert "run_id_metrics: how this client chose run ids" in done.stdout
    assert "error_summary of demo-translate-001: _DemoFailure: translation service quota" in done.stdout
