"""The shell's parts on their own: breaker transitions, configuration from the environment,
the edge's JSON-safe copies, the NDJSON writer's overflow path, and a performer that
raises (its fallback runs, the error is counted and logged once)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry.effects.records import RunEvent
from telemetry.shell.breaker import CLOSED, BreakerState, admit, after_attempt
from telemetry.shell.config import TelemetryConfig
from telemetry.shell.edge import json_safe, now, text
from telemetry.shell.ndjson import NdjsonWriter
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.wire.format import dumps
from tests.shell.helpers import ClientFactory, ndjson_lines, on_disk
from tests.shell.strategies import garbage
from tests.support.waiting import wait_for


def test_a_closed_breaker_sends() -> None:
    assert admit(CLOSED, now=100.0, cooldown_s=5.0) == (CLOSED, "send")


def test_a_failure_opens_the_breaker_until_the_cooldown_then_one_probe_is_made() -> None:
    opened = after_attempt(CLOSED, reached=False, now=10.0)
    assert admit(opened, now=14.9, cooldown_s=5.0) == (opened, "skip")
    probing, verdict = admit(opened, now=15.0, cooldown_s=5.0)
    assert verdict == "probe" and probing.mode == "probing"
    assert admit(probing, now=99.0, cooldown_s=5.0)[1] == "skip"  # one probe at a time
    assert after_attempt(probing, reached=True, now=16.0) == CLOSED
    assert after_attempt(probing, reached=False, now=16.0) == BreakerState("open", 16.0)


def test_config_reads_every_variable_of_the_environment() -> None:
    config = TelemetryConfig.from_env(
        {
            "TELEMETRY_API_URL": "http://svc:1",
            "TELEMETRY_BASE_DIR": "/data",
            "TELEMETRY_BUFFER_DIR": "/buf",
            "METRICS_API_TOKEN": "m-token",
            "METRICS_API_URL": "https://sheets/post",
            "METRICS_API_ENABLED": "yes",
            "AGENT_OWNER": "ops",
            "TELEMETRY_HTTP_READ_TIMEOUT": "0.25",
            "TELEMETRY_EXIT_BUDGET": "1.5",
            "TELEMETRY_BUFFER_FSYNC": "never",
        }
    )
    assert (config.api_url, config.api_token, config.export_token) == ("http://svc:1", "m-token", "m-token")
    assert (config.ndjson_dir, config.buffer_dir, config.db_path) == (Path("/data/ndjson"), Path("/buf"), Path("/data/telemetry.sqlite"))
    assert config.export_active and config.export_url == "https://sheets/post" and config.agent_owner == "ops"
    assert (config.read_timeout_s, config.exit_budget_s, config.buffer_fsync) == (0.25, 1.5, "never")
    assert config.validate() == []


def test_config_defaults_follow_the_team_contract() -> None:
    config = TelemetryConfig.from_env({})
    assert config.api_url == "http://localhost:8765" and config.base_dir == Path(".telemetry").absolute()
    assert config.buffer_dir == Path(".telemetry/buffer").absolute() and config.buffer_fsync == "always"
    assert config.exit_budget_s == 2.0 and not config.export_active and config.validate() == []


def test_config_problems_keep_defaults_and_are_listed() -> None:
    config = TelemetryConfig.from_env(
        {"TELEMETRY_BUFFER_FSYNC": "sometimes", "GOOGLE_SHEETS_API_ENABLED": "maybe", "TELEMETRY_API_URL": "ftp://x", "METRICS_API_ENABLED": "1"}
    )
    problems = " | ".join(config.validate())
    assert config.buffer_fsync == "always"
    assert "TELEMETRY_BUFFER_FSYNC='sometimes'" in problems and "GOOGLE_SHEETS_API_ENABLED='maybe'" in problems
    assert "api_url is not an http(s) URL with a host, got 'ftp://x'" in problems and "export enabled" in problems
    assert "read_timeout_s must be > 0" in " ".join(TelemetryConfig(read_timeout_s=0).validate())
    assert "exit_budget_s must be >= 0" in " ".join(TelemetryConfig(exit_budget_s=-1).validate())


@given(garbage)
def test_json_safe_copies_are_always_writable_json(value: Any) -> None:
    copied = json_safe(value)
    assert orjson.loads(dumps(copied)) == copied or copied != copied  # NaN is not equal to itself


@given(st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)))
def test_json_safe_keeps_plain_json_as_it_is(value: Any) -> None:
    assert json_safe(value) == value


def test_text_of_anything_is_clean_text() -> None:
    assert text(12) == "12" and text("a\ud800b") == "a\\ud800b" and text(None) == "None"


def test_a_full_queue_writes_in_the_callers_thread_and_loses_nothing(tmp_path: Path) -> None:
    metrics = SelfMetrics()
    writer = NdjsonWriter(tmp_path, flush_interval_s=60.0, capacity=3, metrics=metrics)
    for number in range(10):
        writer.submit("event", RunEvent("run", "step", {"n": number}, now()))
    assert metrics.count("ndjson.synchronous_writes") >= 1
    writer.drain(time.monotonic() + 10)
    assert sorted(line["payload"]["n"] for line in ndjson_lines(tmp_path)) == list(range(10))


def test_a_performer_that_raises_runs_the_fallback_and_logs_once(
    make_client: ClientFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture, delivery: str
) -> None:
    """A send that raises (httpx cannot encode the host): on the caller's thread in sync
    mode, where the fallback (a buffer file) runs; on the courier's in background mode,
    where the batch stays in the outbox and the courier tries again later."""
    client = make_client("http://a..b/")  # a well-formed URL whose host httpx cannot encode
    with caplog.at_level(logging.WARNING, logger="telemetry"):
        run_ids = [client.start_run("agent", "job") for _ in range(3)]
        delivered = client.flush(0.5)
    assert delivered == (delivery == "sync")  # sync mode's flush has nothing to wait for
    assert [e.record.run_id for e in on_disk(tmp_path / "base" / "buffer")] == run_ids
    if delivery == "sync":
        assert client.self_metrics()["errors.PostRun.UnicodeError"] == 3  # the counter keeps its internal name
        # The warning is in plain words, once: never "PostRun.UnicodeError failed".
        assert caplog.text.count("telemetry: sending a new run to the service failed: UnicodeError") == 1
    else:
        with caplog.at_level(logging.WARNING, logger="telemetry"):  # the courier (process) may be starting still
            wait_for(lambda: client.self_metrics().get("errors.outbox.courier.UnicodeError", 0) >= 1, "the courier's failure", 10.0)
        assert caplog.text.count("telemetry: background delivery failed; retrying: UnicodeError") == 1
    assert "PostRun" not in caplog.text and "outbox.courier" not in caplog.text