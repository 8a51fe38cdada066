"""Garbage arguments of every type to every public method (hypothesis), against the real
service: the agent never sees an exception, and every run the client accepted arrives
whole in the service, nothing refused, nothing lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings

from telemetry import TelemetryClient
from telemetry.effects.records import TERMINAL_STATUSES
from tests.shell.helpers import fast_config, ndjson_lines
from tests.shell.strategies import cyclic, fields, garbage
from tests.support.service import ServiceProcess

@pytest.fixture(scope="module")
def garbage_client(shared_service: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TelemetryClient]:
    client = TelemetryClient(fast_config(shared_service.url, base_dir=tmp_path_factory.mktemp("garbage")))
    yield client
    client.close()


@settings(max_examples=40)
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


@settings(max_examples=20)
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
    assert lines[-1]["event"]["run_id"] == "odd-run"
