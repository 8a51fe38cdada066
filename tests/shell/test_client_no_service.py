"""A malformed service URL means "no service": the client sends nothing anywhere (never to
the default URL, where some other service may listen), keeps every run in the buffer for a
later `telemetry sync`, and says so loudly, naming the bad value."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from telemetry import TelemetryClient, TelemetryConfig
from telemetry.shell.config import DEFAULT_API_URL, NO_SERVICE
from tests.shell.helpers import buffer_entries, ndjson_lines

MALFORMED = ["not-a-url", "localhost:8765", "ftp://host/x", "http://", "http://host:notaport", "http://host:70000", "https://:80/"]


@pytest.mark.parametrize("url", MALFORMED)
def test_a_malformed_api_url_buffers_every_run_and_names_the_bad_value(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"TELEMETRY_API_URL": url, "TELEMETRY_BASE_DIR": str(tmp_path), "TELEMETRY_SYNC_INTERVAL": "0.05"}
    with caplog.at_level(logging.WARNING, logger="telemetry"):
        client = TelemetryClient(TelemetryConfig.from_env(env))
        run_id = client.start_run("agent", "job")
        client.end_run(run_id, items_succeeded=1)
        assert not [thread for thread in threading.enumerate() if thread.name == "telemetry-sync"]
        client.close()
    assert client.config.api_url == NO_SERVICE != DEFAULT_API_URL
    assert [entry.operation for entry in buffer_entries(tmp_path / "buffer")] == ["create", "update"]
    assert client.self_metrics()["delivery.no_service"] == 2 and "breaker.opened" not in client.self_metrics()
    warning = next(message for message in caplog.messages if "api_url" in message)
    assert warning.startswith("telemetry: ") and repr(url) in warning and "NO SERVICE IS USED" in warning
    assert [line["kind"] for line in ndjson_lines(tmp_path / "ndjson")] == ["run_start", "run_end"]

