"""Background mode on a full disk (a 64 KiB tmpfs): appends that do not fit in the outbox
fall back to the buffer, the agent's calls never raise, and every run that is on disk is
whole and delivered later."""

from __future__ import annotations

from pathlib import Path

from telemetry import TelemetryClient, TelemetryConfig
from telemetry.shell.outbox.drain import drain_outbox
from telemetry.shell.service_api import ServiceApi
from tests.support.disks import tiny_disk  # noqa: F401 (a fixture)
from tests.support.receiver import closed_port_url
from tests.support.service import ServiceProcess


def test_a_full_disk_never_raises_and_what_fit_is_delivered_later(
    tiny_disk: Path, shared_api: ServiceApi, shared_service: ServiceProcess
) -> None:
    config = TelemetryConfig(api_url=closed_port_url(), base_dir=tiny_disk, delivery="background", heartbeat_interval_s=0)
    client = TelemetryClient(config)
    started = [client.start_run("full-disk-agent", "job", input_summary="x" * 500) for _ in range(300)]
    assert not any(run_id.startswith("error-") for run_id in started)
    metrics = client.self_metrics()
    assert metrics["errors.outbox.append.OSError"] > 0  # the outbox filled up: the buffer was tried next
    assert metrics["delivery.fallback.outbox_error"] == metrics["errors.outbox.append.OSError"]
    client.close(0.0)
    for segment in client._runtime.outbox.outbox.segments if client._runtime.outbox else []:
        segment.close()  # as the agent's exit would
    report = drain_outbox(tiny_disk / "buffer", shared_api)
    assert report.delivered > 0 and report.rejected == 0 and report.unavailable is None
