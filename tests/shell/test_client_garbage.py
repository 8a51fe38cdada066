"""Garbage arguments of every type to every public method and the constructor (hypothesis),
against the real service: the agent never sees an exception, and every run the client
accepted arrives whole in the service, nothing refused, nothing lost; a garbage `close()`
budget still drains every accepted line to disk; a garbage value in any config field is
warned about and replaced by the field's default."""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from contextlib import chdir
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import attrs
import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from telemetry import TelemetryClient, TelemetryConfig
from telemetry.shell.config import NO_SERVICE
from telemetry.effects.records import TERMINAL_STATUSES
from tests.shell.helpers import FAST, fast_config, ndjson_lines
from tests.shell.strategies import Hostile, cyclic, fields, garbage
from tests.support.receiver import closed_port_url
from tests.support.service import ServiceProcess


@pytest.fixture
def garbage_client(shared_service: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TelemetryClient]:
    """One client for all the examples of a test (in each delivery mode)."""
    client = TelemetryClient(fast_config(shared_service.url, base_dir=tmp_path_factory.mktemp("garbage")))
    yield client
    client.close()


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(agent=garbage, job=garbage, trigger=garbage, custom=garbage, start=fields, later=fields, status=garbage, event=garbage, payload=garbage)
def test_garbage_never_raises_and_every_accepted_run_arrives(
    garbage_client: TelemetryClient,
    shared_service: ServiceProcess,
    agent: Any, job: Any, trigger: Any, custom: Any, start: dict[str, Any], later: dict[str, Any], status: Any, event: Any, payload: Any,
) -> None:  # fmt: skip
    client = garbage_client
    extra = {} if custom is None else {"run_id": custom}
    run_id = client.start_run(agent, job, trigger, **start, **extra)
    assert isinstance(run_id, str) and not run_id.startswith("error-")
    client.log_event(run_id, event, payload)
    client.log_event(payload, event, payload)
    client.set_metrics(run_id, **later)
    client.set_metrics(payload, **later)
    ok, message = client.associate_commit(run_id, event, payload, agent, job)
    assert isinstance(ok, bool) and isinstance(message, str)
    assert isinstance(client._validate_custom_run_id(custom), tuple)
    client.end_run(run_id, status, **later)
    client.end_run(payload, status, **later)
    with client.track_run(agent, job, trigger, **start) as context:
        context.log_event(event, payload)
        context.set_metrics(**later)

    # The run's own row (custom ids may repeat across examples): found by its event id.
    event_id = client._state.recent.runs[run_id].event_id
    assert client.flush(10.0)
    row = httpx.get(f"{shared_service.url}/api/v1/runs/{event_id}", timeout=10).json()
    assert row["run_id"] == run_id and row["status"] in TERMINAL_STATUSES
    assert_nothing_lost(client)


def assert_nothing_lost(client: TelemetryClient) -> None:
    metrics = client.self_metrics()
    lost = {
        name: count
        for name, count in metrics.items()
        if name.startswith(("errors.", "buffer.", "ndjson.lines_lost", "delivery.fallback"))
        and name not in {"errors.ndjson.encode"}
    }
    assert lost == {}, metrics


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(anything=garbage)
def test_the_read_methods_never_raise(garbage_client: TelemetryClient, anything: Any) -> None:
    assert isinstance(garbage_client.get_stats(), dict)
    assert set(garbage_client.get_run_id_metrics()) == {"run_id_metrics", "timestamp"}
    garbage_client.log_run_id_metrics()
    assert garbage_client._validate_custom_run_id(anything)[0] in (True, False)
    garbage_client.flush()


def test_every_backup_line_written_for_garbage_parses(garbage_client: TelemetryClient) -> None:
    garbage_client.log_event("odd-run", "odd", {"cycle": cyclic(), "huge": 2**200, "bad": "\ud800", 3: Decimal(1), "when": datetime(2024, 1, 1)})
    garbage_client.flush()
    directory = Path(garbage_client.config.ndjson_dir)
    lines = ndjson_lines(directory)
    assert lines and all(isinstance(line, dict) for line in lines)
    assert json.dumps(lines[-1])
    assert lines[-1]["run_id"] == "odd-run"


@settings(max_examples=20, deadline=None)
@given(config=garbage, budget=garbage)
def test_a_garbage_config_or_close_budget_never_raises_and_loses_nothing(config: Any, budget: Any) -> None:
    with tempfile.TemporaryDirectory() as base, mock.patch.dict(os.environ, {"TELEMETRY_BASE_DIR": base}):
        client = TelemetryClient(config)
        assert client.config == TelemetryConfig.from_env()
        client.log_event("run", "before-close")
        client.close(budget)
        client.log_event("run", "after-close")
        client.close(budget)
        assert [line["event_type"] for line in ndjson_lines(Path(base) / "ndjson")] == ["before-close", "after-close"]


def test_a_config_of_the_wrong_type_is_replaced_by_the_environments_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="telemetry"):
        client = TelemetryClient("garbage")
    client.close()
    assert "expected a TelemetryConfig, got str; using TelemetryConfig.from_env()" in caplog.text


@pytest.mark.parametrize("budget", ["soon", math.nan, -1, True, Hostile(), 10**400])
def test_close_with_a_garbage_budget_drains_every_accepted_event(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, budget: object
) -> None:
    # A long flush interval: without the drain at close, the lines would still be queued.
    client = TelemetryClient(fast_config(closed_port_url(), base_dir=tmp_path, ndjson_flush_interval_s=60.0))
    for number in range(1001):
        client.log_event("run", "step", {"n": number})
    with caplog.at_level(logging.WARNING, logger="telemetry"):
        client.close(budget)
    assert [line["payload"]["n"] for line in ndjson_lines(tmp_path / "ndjson")] == list(range(1001))
    assert "is not a number >= 0; the exit budget (1.0 s) is used instead" in caplog.text


CONFIG_FIELDS = [field.name for field in attrs.fields(TelemetryConfig)]
DIRECTORIES = {"base_dir": "base", "ndjson_dir": "ndjson", "buffer_dir": "buffer", "db_path": "telemetry.sqlite"}


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(CONFIG_FIELDS), value=garbage)
def test_a_garbage_config_field_is_warned_about_and_its_default_used(field: str, value: Any) -> None:
    # Files go under a fresh directory (the working directory too, for relative paths). A
    # relative path the OS cannot create (a name over 255 bytes) is an unwritable
    # directory, not garbage: tests/shell/test_client_faults.py covers that case.
    assume(not (field in DIRECTORIES and isinstance(value, str) and (value.startswith("/") or ".." in value)))
    assume(not (field in DIRECTORIES and isinstance(value, str) and any(len(os.fsencode(part)) > 255 for part in value.split("/"))))
    with tempfile.TemporaryDirectory() as base, chdir(base):
        places = {name: Path(base) / leaf for name, leaf in DIRECTORIES.items()}
        # A courier thread, not a process per example (~0.15 s of CPU each): where the
        # courier runs is not what this test is about (unless `courier` is the field).
        given_config = TelemetryConfig(**{**FAST, "api_url": closed_port_url(), "courier": "thread", **places, field: value})
        with mock.patch("telemetry.shell.client_base.LOGGER.warning") as warning:
            client = TelemetryClient(given_config)
        warned = [call.args[1] for call in warning.call_args_list if call.args[1].startswith(f"{field} ")]
        if warned and field == "api_url":  # a malformed URL means no service, never the default one
            assert client.config.api_url == NO_SERVICE
        elif warned:  # the default in its place (a directory's default is under the usable base_dir)
            others = {name: place for name, place in places.items() if name != field}
            assert getattr(client.config, field) == getattr(TelemetryConfig(**others), field)
        else:
            assert getattr(client.config, field) is getattr(given_config, field)
        run_id = client.start_run("agent", "job")
        client.log_event(run_id, "step", {"n": 1})
        client.end_run(run_id)
        client.close(0.5)
        lines = ndjson_lines(Path(client.config.ndjson_dir))
    assert [line["kind"] for line in lines] == ["run_start", "event", "run_end"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("api_url", 5), ("exit_budget_s", "x"), ("exit_budget_s", math.nan), ("exit_budget_s", -1.0),
     ("read_timeout_s", 0), ("connect_timeout_s", -0.5), ("ndjson_dir", 5), ("base_dir", None), ("buffer_fsync", "sometimes"),
     ("heartbeat_interval_s", -5.0), ("sync_interval_s", -1), ("ndjson_flush_interval_s", -0.1), ("breaker_cooldown_s", -3.0)],
)  # fmt: skip
def test_each_bad_value_the_reviewers_named_is_warned_about(field: str, value: Any, caplog: pytest.LogCaptureFixture) -> None:
    with tempfile.TemporaryDirectory() as base, chdir(base), caplog.at_level(logging.WARNING, logger="telemetry"):
        client = TelemetryClient(TelemetryConfig(**{**FAST, "api_url": closed_port_url(), "base_dir": base, field: value}))
        client.close(0.5)
        # Defaults made in the same working directory: relative paths become absolute there.
        defaults = TelemetryConfig() if field == "base_dir" else TelemetryConfig(base_dir=base)
    assert f"telemetry: configuration problem: {field} " in caplog.text and f"got {value!r}" in caplog.text
    assert getattr(client.config, field) == (NO_SERVICE if field == "api_url" else getattr(defaults, field))
