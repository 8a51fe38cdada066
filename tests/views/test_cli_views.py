"""`telemetry runs`, `show` and `stats` run in-process (click's runner) against a real
service: filters, paging, tables within 80 columns, JSON, agent values printed as text,
and the error paths with their exit codes (1 wrong or not found, 2 user mistake)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from telemetry.cli import main
from tests.service.helpers import fresh
from tests.support.service import ServiceFactory, ServiceProcess
from tests.views.helpers import MARKUP, ended_run, post_runs

TOKEN = "view-token"


@pytest.fixture(scope="module")
def seeded(module_service_factory: ServiceFactory) -> Iterator[tuple[ServiceProcess, dict[str, Any]]]:
    """A service with auth on: 30 runs of `alpha`, 5 of `beta` (2 failed), one run named
    with markup, one with a traceback and a commit."""
    service = module_service_factory(auth_token=TOKEN)
    alpha = [ended_run("alpha", "success", 1000 + i, hours_ago=1 + i / 10) for i in range(30)]
    beta = [ended_run("beta", "failure" if i < 2 else "success", 5000, hours_ago=50 + i) for i in range(5)]
    marked = ended_run(MARKUP, "failure", 10, error_summary="[red]not markup[/red]")
    detailed = ended_run(
        "gamma", "failure", 42, hours_ago=0.5, error_summary="ValueError: boom",
        error_details='Traceback (most recent call last):\n  File "agent.py", line 1\nValueError: boom',
        metrics_json={"tokens": 1234}, git_repo="git@github.com:acme/agents.git", git_commit_hash="abcdef1234567",
    )  # fmt: skip
    with service.client() as client:
        post_runs(client, [*alpha, *beta, marked, detailed])
    yield service, {"alpha": alpha, "beta": beta, "marked": marked, "detailed": detailed}


def invoke(service: ServiceProcess, *args: str, token: str | None = TOKEN, columns: int = 80) -> Result:
    env = {"TELEMETRY_API_URL": service.url, "TELEMETRY_API_TOKEN": token, "COLUMNS": str(columns)}
    return CliRunner().invoke(main, list(args), env=env)


def test_runs_filters_by_agent_and_status_as_json(seeded: tuple[ServiceProcess, dict[str, Any]]) -> None:
    service, runs = seeded
    result = invoke(service, "runs", "--agent", "beta", "--status", "failed", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {row["event_id"] for row in rows} == {run["event_id"] for run in runs["beta"][:2]}


def test_runs_since_a_relative_span_and_pages(seeded: tuple[ServiceProcess, dict[str, Any]]) -> None:
    service, runs = seeded
    recent = json.loads(invoke(service, "runs", "--agent", "alpha", "--since", "2h", "--limit", "100", "--json").stdout)
    assert len(recent) == 10  # alpha runs started 1.0 .. 1.9 hours ago
    pages = [invoke(service, "runs", "--agent", "alpha", "--limit", "12", "--page", str(n), "--json") for n in (1, 2, 3)]
    ids = [row["event_id"] for page in pages for row in json.loads(page.stdout)]
    assert [len(json.loads(page.stdout)) for page in pages] == [12, 12, 6]
    assert sorted(ids) == sorted(run["event_id"] for run in runs["alpha"])


def test_runs_table_fits_80_columns_and_says_how_to_page(seeded: tuple[ServiceProcess, dict[str, Any]]) -> None:
    service, _ = seeded
    result = invoke(service, "runs", "--limit", "5")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "RUN ID" in lines[0] and "STATUS" in lines[0]
    assert lines[-1] == "runs 1-5; more with --page 2"


def test_agent_values_are_printed_as_text_not_rich_markup(seeded: tuple[ServiceProcess, dict[str, Any]]) -> None:
    service, runs = seeded
    shown = invoke(service, "show", runs["marked"]["run_id"], columns=200)
    assert shown.exit_code == 0, shown.output
    assert MARKUP in shown.stdout
    assert "[red]not markup[/red]" in shown.stdout
    table = invoke(service, "stats", columns=200)
    assert MARKUP in table.stdout


def test_show_finds_a_run_by_run_id_or_event_id_with_traceback_and_commit(
    seeded: tuple[ServiceProcess, dict[str, Any]],
) -> None:
    service, runs = seeded
    run = runs["detailed"]
    by_run_id = invoke(service, "show", run["run_id"], columns=120)
    by_event_id = invoke(service, "show", run["event_id"], columns=120)
    assert by_run_id.exit_code == by_event_id.exit_code == 0, by_run_id.output
    assert by_run_id.stdout == by_event_id.stdout
    for expected in ('File "agent.py", line 1', "ValueError: boom", '"tokens": 1234',
                     "https://github.com/acme/agents/commit/abcdef1234567"):  # fmt: skip
        assert expected in by_run_id.stdout
    as_json = json.loads(invoke(service, "show", run["run_id"], "--json").stdout)
    assert as_json["commit_url"] == "https://github.com/acme/agents/commit/abcdef1234567"


def test_stats_per_agent(seeded: tuple[ServiceProcess, dict[str, Any]]) -> None:
    service, _ = seeded
    rows = {row["agent_name"]: row for row in json.loads(invoke(service, "stats", "--json").stdout)}
    assert (rows["beta"]["runs"], rows["beta"]["success_rate"], rows["beta"]["runs_24h"]) == (5, 0.6, 0)
    assert (rows["alpha"]["p50_ms"], rows["alpha"]["p95_ms"]) == (1014, 1028)
    table = invoke(service, "stats")
    assert table.exit_code == 0
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    assert "60.0%" in table.stdout


def test_a_missing_run_is_exit_1_in_one_line(seeded: tuple[ServiceProcess, dict[str, Any]]) -> None:
    service, _ = seeded
    result = invoke(service, "show", fresh("nothing"))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no run with run id or event id")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("token", [None, "wrong"])
def test_a_missing_or_wrong_token_is_a_configuration_mistake(
    seeded: tuple[ServiceProcess, dict[str, Any]], token: str | None
) -> None:
    service, _ = seeded
    for command in (["runs"], ["stats"], ["show", "x"]):
        result = invoke(service, *command, token=token)
        assert result.exit_code == 2, (command, result.output)
        assert "TELEMETRY_API_TOKEN" in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [["runs", "--since", "yesterday"], ["runs", "--page", "2", "--offset", "3"], ["runs", "--limit", "0"],
     ["stats", "--since", "2026-13-01"], ["runs", "--api-url", "ftp://x"]],  # fmt: skip
)
def test_usage_mistakes_exit_2_without_traceback(seeded: tuple[ServiceProcess, dict[str, Any]], args: list[str]) -> None:
    service, _ = seeded
    result = invoke(service, *args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # click's usage exit, not an error escaping
    assert "Traceback" not in result.output


def test_an_unreachable_service_is_one_line_and_exit_1(tmp_path: Path) -> None:
    from tests.support.service import free_port

    url = f"http://127.0.0.1:{free_port()}"
    for command in (["runs"], ["stats"], ["show", "x"]):
        result = CliRunner().invoke(main, [*command, "--api-url", url])
        assert result.exit_code == 1
        assert result.stderr.startswith(f"Error: cannot reach the service at {url}")
        assert len(result.stderr.splitlines()) == 1
