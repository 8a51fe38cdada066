"""The delivery configuration: `TELEMETRY_DELIVERY` and the outbox's knobs from the
environment; a bad value is warned about, naming it, and the default kept; a client in
background mode delivers through the outbox and `flush()` tells when it is all there."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from telemetry import TelemetryClient, TelemetryConfig
from tests.support.service import ServiceProcess


def test_delivery_and_the_outbox_knobs_come_from_the_environment() -> None:
    config = TelemetryConfig.from_env(
        {
            "TELEMETRY_DELIVERY": "Background",
            "TELEMETRY_OUTBOX_FSYNC_INTERVAL": "0.5",
            "TELEMETRY_OUTBOX_LIMIT_BYTES": "1048576",
            "TELEMETRY_OUTBOX_SEGMENT_BYTES": "65536",
        }
    )
    assert (config.delivery, config.outbox_fsync_interval_s) == ("background", 0.5)
    assert (config.outbox_limit_bytes, config.outbox_segment_bytes) == (1 << 20, 1 << 16)
    assert TelemetryConfig.from_env({"TELEMETRY_DELIVERY": "sync"}).delivery == "sync"
    assert TelemetryConfig().delivery == "background"  # the default
    assert TelemetryConfig.from_env({}).delivery == "background"


def test_bad_delivery_and_courier_values_are_warned_about_by_name_and_the_defaults_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TELEMETRY_DELIVERY", "eventually")
    monkeypatch.setenv("TELEMETRY_COURIER", "proces")
    monkeypatch.setenv("TELEMETRY_BASE_DIR", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="telemetry"):
        client = TelemetryClient()
    client.close()
    assert "TELEMETRY_DELIVERY='eventually' is not background or sync; default kept" in caplog.text
    assert "TELEMETRY_COURIER='proces' is not process or thread; default kept" in caplog.text
    assert (client.config.delivery, client.config.courier) == ("background", "process")
    problems = TelemetryConfig(delivery="later", courier="fiber", outbox_segment_bytes=0).validate()  # type: ignore[arg-type]
    assert any(problem.startswith("delivery is not one of ('background', 'sync'), got 'later'") for problem in problems)
    assert any(problem.startswith("courier is not one of ('process', 'thread'), got 'fiber'") for problem in problems)
    assert any(problem.startswith("outbox_segment_bytes must be an integer > 0") for problem in problems)


def test_background_mode_delivers_through_the_outbox_and_flush_says_when(tmp_path: Path, service: ServiceProcess) -> None:
    client = TelemetryClient(TelemetryConfig(api_url=service.url, base_dir=tmp_path, delivery="background"))
    run_ids = [client.start_run("outbox-agent", "job") for _ in range(20)]
    for run_id in run_ids:
        client.end_run(run_id, status="partial", items_failed=1)
    assert client.flush(30.0) is True
    assert client.self_metrics()["outbox.delivered"] == 40
    assert client.flush("soon") is True  # a bad timeout: the exit budget, warned about once
    assert client.self_metrics()["errors.flush.budget"] == 1
    client.close()
    assert list((tmp_path / "buffer" / "outbox").glob("*.seg")) == []  # all settled: removed at exit
