"""The lease sweep: a `running` run silent (no heartbeat, else no start) for longer than
the lease becomes `timeout` with the contract's error_summary and end_time = now; others
are untouched; a real end afterwards still wins. Also `telemetry sweep` (HTTP and --db)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.helpers import minutes_ago, run_body, service_rows
from tests.support.service import ServiceProcess

LEASE_SECONDS = 600  # 10 minutes


def _runs(api: httpx.Client) -> dict[str, dict[str, Any]]:
    """One run per situation, keyed by a name for it."""
    situations = {
        "stale": run_body(start_time=minutes_ago(60)),
        "stale_heartbeat": run_body(start_time=minutes_ago(60), heartbeat_at=minutes_ago(11)),
        "fresh": run_body(start_time=minutes_ago(1)),
        "fresh_heartbeat": run_body(start_time=minutes_ago(60), heartbeat_at=minutes_ago(2)),
        "ended": run_body(start_time=minutes_ago(60), status="success", end_time=minutes_ago(50)),
    }
    assert api.post("/api/v1/runs/batch", json=list(situations.values())).json()["inserted"] == len(situations)
    return situations


def _status(api: httpx.Client, body: dict[str, Any]) -> str:
    return str(api.get(f"/api/v1/runs/{body['event_id']}").json()["status"])


TOKEN = "sweep-token"


@pytest.fixture(scope="module")
def sweeper(module_service_factory: Any) -> ServiceProcess:
    """A service of this module's own (each test sweeps every stale run in it, and leaves
    none behind), with a token so that the command's token handling is exercised."""
    service: ServiceProcess = module_service_factory(auth_token=TOKEN)
    return service


def test_sweep_times_out_only_runs_whose_lease_expired(sweeper: ServiceProcess) -> None:
    with sweeper.client() as api:
        runs = _runs(api)
        before = minutes_ago(0)
        assert api.post("/api/v1/runs/sweep", params={"lease_seconds": LEASE_SECONDS}).json() == {"swept": 2}
        statuses = {name: _status(api, body) for name, body in runs.items()}
        assert statuses == {"stale": "timeout", "stale_heartbeat": "timeout", "fresh": "running",
                            "fresh_heartbeat": "running", "ended": "success"}  # fmt: skip
        swept = api.get(f"/api/v1/runs/{runs['stale']['event_id']}").json()
        assert swept["error_summary"] == f"abandoned: no heartbeat for {LEASE_SECONDS} s (lease expired)"
        assert swept["end_time"] >= before
        assert api.post("/api/v1/runs/sweep", params={"lease_seconds": LEASE_SECONDS}).json() == {"swept": 0}
        api.patch(f"/api/v1/runs/{runs['stale']['event_id']}", json={"status": "success", "error_summary": None})
        assert _status(api, runs["stale"]) == "success"
        api.patch(f"/api/v1/runs/{runs['stale_heartbeat']['event_id']}", json={"status": "running"})
        assert _status(api, runs["stale_heartbeat"]) == "timeout"


@pytest.mark.parametrize("params", [{}, {"lease_seconds": 0}, {"lease_seconds": "soon"}, {"lease_seconds": 10**12}])
def test_sweep_needs_a_sensible_lease(api: httpx.Client, params: dict[str, Any]) -> None:
    reply = api.post("/api/v1/runs/sweep", params=params)
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["query", "lease_seconds"]


def _telemetry(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "telemetry", *args], capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_sweep_command_asks_the_service_with_the_token(sweeper: ServiceProcess) -> None:
    refused = _telemetry("sweep", "--url", sweeper.url, env={"TELEMETRY_API_TOKEN": "wrong"})
    assert refused.returncode != 0 and "401" in refused.stderr
    with sweeper.client() as api:
        runs = _runs(api)
        done = _telemetry("sweep", "--lease-seconds", str(LEASE_SECONDS),
                          env={"TELEMETRY_API_URL": sweeper.url, "TELEMETRY_API_TOKEN": TOKEN})  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "swept 2 run(s)" in done.stdout
        assert _status(api, runs["stale"]) == "timeout"


def test_sweep_command_takes_api_url_and_token_like_sync(sweeper: ServiceProcess) -> None:
    # A token in the shell that is wrong must lose to the option.
    with sweeper.client() as api:
        runs = _runs(api)
        done = _telemetry("sweep", "--api-url", sweeper.url, "--token", TOKEN, "--lease-seconds", str(LEASE_SECONDS),
                          env={"TELEMETRY_API_TOKEN": "wrong"})  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert _status(api, runs["stale"]) == "timeout"
    assert "--url" not in _telemetry("sweep", "--help").stdout  # the older name still works, unlisted


def test_sweep_command_refuses_a_malformed_url_in_one_line() -> None:
    done = _telemetry("sweep", "--api-url", "not-a-url")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "'not-a-url'" in done.stderr


@pytest.mark.sqlite_only
def test_sweep_command_on_the_file_directly(service: ServiceProcess) -> None:
    with service.client() as api:
        runs = _runs(api)
    assert service.stop() == 0
    done = _telemetry("sweep", "--db", str(service.db_path), "--lease-seconds", str(LEASE_SECONDS))
    assert done.returncode == 0, done.stderr
    assert "swept 2 run(s)" in done.stdout
    [row] = service_rows(service, "event_id = ?", (runs["stale"]["event_id"],))
    assert row["status"] == "timeout"


def test_sweep_command_refuses_a_missing_file(tmp_path: Path) -> None:
    done = _telemetry("sweep", "--db", str(tmp_path / "nothing.sqlite"))
    assert done.returncode != 0 and "no database" in done.stderr
    assert not (tmp_path / "nothing.sqlite").exists()


def test_service_sweeps_expired_leases_by_itself(service_factory: Any) -> None:
    service: ServiceProcess = service_factory(
        env={"TELEMETRY_SWEEP_LEASE_SECONDS": "600"}, args=("--sweep-interval", "0.2")
    )
    with service.client() as api:
        runs = _runs(api)
        deadline = time.monotonic() + 10
        while _status(api, runs["stale"]) == "running" and time.monotonic() < deadline:
            time.sleep(0.1)
        statuses = {name: _status(api, body) for name, body in runs.items()}
    assert statuses == {"stale": "timeout", "stale_heartbeat": "timeout", "fresh": "running",
                        "fresh_heartbeat": "running", "ended": "success"}  # fmt: skip
    assert "automatic sweep: 2 run(s)" in service.stderr_text()


def test_automatic_sweep_can_be_turned_off(service_factory: Any) -> None:
    service: ServiceProcess = service_factory(args=("--sweep-lease-seconds", "0", "--sweep-interval", "0.1"))
    with service.client() as api:
        runs = _runs(api)
        time.sleep(0.5)
        assert _status(api, runs["stale"]) == "running"
