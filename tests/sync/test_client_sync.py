"""The client's background sync: on by default (TELEMETRY_SYNC_INTERVAL), started with the
client's first run, it delivers what an outage left in the buffer once the service is back,
without another call from the agent; at exit it stops within the budget and loses nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from telemetry import TelemetryClient, TelemetryConfig
from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.outbox.drain import drain_outbox
from telemetry.shell.service_api import ServiceApi
from telemetry.shell.sync import SyncWorker
from tests.support.receiver import HungPort
from tests.support.service import ServiceProcess
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def test_sync_is_on_by_default_and_its_interval_comes_from_the_environment() -> None:
    assert TelemetryConfig().sync_interval_s > 0
    assert TelemetryConfig.from_env({"TELEMETRY_SYNC_INTERVAL": "2.5"}).sync_interval_s == 2.5
    assert TelemetryConfig.from_env({"TELEMETRY_SYNC_INTERVAL": "0"}).sync_interval_s == 0


def test_the_client_delivers_its_buffer_once_the_service_is_back(tmp_path: Path, delivery: str) -> None:
    service = ServiceProcess(tmp_path / "telemetry.sqlite")  # not started yet: an outage
    config = TelemetryConfig(
        api_url=service.url, base_dir=tmp_path / "base", connect_timeout_s=0.2, heartbeat_interval_s=0,
        sync_interval_s=0.1, exit_budget_s=5.0, delivery=delivery,  # type: ignore[arg-type]
    )  # fmt: skip
    client = TelemetryClient(config)
    run_ids = []
    for number in range(5):
        with client.track_run("syncing-agent", "job", run_id=f"outage-{number}") as ctx:
            ctx.set_metrics(items_discovered=number)
        run_ids.append(ctx.run_id)
    buffer = BufferDirectory(config.buffer_dir)
    if delivery == "sync":
        assert len(buffer.pending()) == 10  # a create and an end per run, nothing delivered
    else:
        assert buffer.pending() == [] and not client.flush(0.1)  # all in the outbox
    service.start()
    try:
        if delivery == "sync":
            wait_for(lambda: buffer.pending() == [], "the background sync emptied the buffer", 60.0)
        else:
            assert client.flush(60.0)
        with httpx.Client(base_url=service.url) as http:
            rows = http.get("/api/v1/runs", params={"agent_name": "syncing-agent"}).json()
    finally:
        client.close()
        service.stop()
    assert sorted((row["run_id"], row["status"], row["items_discovered"]) for row in rows) == [
        (f"outage-{number}", "success", number) for number in range(5)
    ]


EXITING_AGENT = """
import sys
from pathlib import Path
from telemetry import TelemetryClient, TelemetryConfig
config = TelemetryConfig(api_url=sys.argv[1], base_dir=Path(sys.argv[2]), connect_timeout_s=0.3,
                         read_timeout_s=3.0, heartbeat_interval_s=0, sync_interval_s=0.05, exit_budget_s=0.3,
                         delivery=sys.argv[3])
client = TelemetryClient(config)
for number in range(5):
    client.end_run(client.start_run(f"exiting-agent-{sys.argv[3]}", "job", run_id=f"exit-{number}"), status="partial")
"""


def test_at_exit_with_a_hung_service_sync_stops_and_nothing_is_lost(
    shared_service: ServiceProcess, shared_api: ServiceApi, tmp_path: Path, delivery: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with HungPort() as hung:
        done = subprocess.run(
            [sys.executable, "-c", EXITING_AGENT, hung.url, str(tmp_path), delivery],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # What the exiting sync thread still held is free again: its process (and lock) is gone.
    report = SyncWorker(BufferDirectory(tmp_path / "buffer"), shared_api).run_once()
    assert (report.remaining, report.rejected) == (0, 0)
    left = drain_outbox(tmp_path / "buffer", shared_api)  # background mode: the runs wait there
    assert (left.segments_left, left.rejected, left.unavailable) == (0, 0, None)
    with httpx.Client(base_url=shared_service.url) as http:
        rows = http.get("/api/v1/runs", params={"agent_name": f"exiting-agent-{delivery}"}).json()
    assert sorted((row["run_id"], row["status"]) for row in rows) == [(f"exit-{n}", "partial") for n in range(5)]
