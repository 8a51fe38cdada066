"""The NDJSON backup a real client writes: each line is the record's or the event's own
object at the top level, with `kind` added (design.md §4), so `jq .event_type` and scripts
written for LT's files find the fields where they look."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.receiver import closed_port_url
from tests.support.service import ServiceProcess


def _raw_lines(directory: Path) -> list[bytes]:
    return [line for path in sorted(directory.glob("events_*.ndjson")) for line in path.read_bytes().splitlines()]


def test_every_line_is_flat_with_its_kind_first(make_client: Callable[..., Any], shared_service: ServiceProcess, tmp_path: Path) -> None:
    client = make_client(shared_service.url)
    run_id = client.start_run("flat-agent", "flat-job", product="p")
    client.log_event(run_id, "checkpoint", {"page": 17})
    client.end_run(run_id, status="success", items_succeeded=2)
    client.flush()
    raw = _raw_lines(tmp_path / "base" / "ndjson")
    assert raw and all(line.startswith(b'{"kind":') for line in raw)
    start, event, end = (json.loads(line) for line in raw)
    assert (start["kind"], start["run_id"], start["agent_name"], start["product"], start["status"]) == (
        "run_start", run_id, "flat-agent", "p", "running")  # fmt: skip
    assert event == {"kind": "event", "run_id": run_id, "event_type": "checkpoint", "timestamp": event["timestamp"], "payload": {"page": 17}}
    assert (end["kind"], end["event_id"], end["status"], end["items_succeeded"]) == ("run_end", start["event_id"], "success", 2)
    assert not {"record", "event"} & (start.keys() | end.keys())


def test_an_unwritable_payload_still_gives_a_flat_line(make_client: Callable[..., Any], tmp_path: Path) -> None:
    client = make_client(closed_port_url())
    cycle: list[Any] = []
    cycle.append(cycle)
    client.log_event("odd-run", "odd", {"cycle": cycle})
    client.flush()
    [line] = [json.loads(raw) for raw in _raw_lines(tmp_path / "base" / "ndjson")]
    assert (line["kind"], line["run_id"], line["event_type"], line["payload"]) == ("event", "odd-run", "odd", repr({"cycle": cycle}))
