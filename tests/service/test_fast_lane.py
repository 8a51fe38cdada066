"""The fast lane serves `POST /api/v1/runs`, `/batch`, `/batch-update` and `PATCH /api/v1/runs/{event_id}`
without FastAPI's routing; the
documented FastAPI routes must answer exactly the same. Same requests to the real service
(fast lane) and to the application without it (in-process ASGI, its own real SQLite file)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from telemetry.service.app import create_app
from telemetry.service.config import build_config
from telemetry.service.sqlite_store import SqliteStore
from tests.service.helpers import T0, run_body, stamp

# Compares the fast lane with the documented routes over an in-process SQLite store.
pytestmark = pytest.mark.sqlite_only
_CREATED = run_body(status="completed", metrics_json={"a": [1, 2]})
_REQUESTS: list[tuple[str, str, bytes]] = [
    ("POST", "/api/v1/runs", orjson.dumps(_CREATED)),
    ("POST", "/api/v1/runs", orjson.dumps(_CREATED)),  # duplicate
    ("POST", "/api/v1/runs", orjson.dumps({**run_body(), "items_failed": -1, "start_time": "noon"})),
    ("POST", "/api/v1/runs", b"{not json"),
    ("POST", "/api/v1/runs", b"[]"),
    ("POST", "/api/v1/runs/batch", orjson.dumps([run_body(event_id="parity-1"), {"event_id": 3}, _CREATED])),
    ("POST", "/api/v1/runs/batch", orjson.dumps({"not": "an array"})),
    ("PATCH", "/api/v1/runs/parity-1", orjson.dumps({"status": "failed", "items_failed": 2, "end_time": stamp(T0)})),
    ("PATCH", "/api/v1/runs/parity-1", orjson.dumps({"status": "running", "heartbeat_at": stamp(T0)})),
    ("PATCH", "/api/v1/runs/parity-1", orjson.dumps({"duration_ms": True, "bogus": 1})),
    ("PATCH", "/api/v1/runs/parity-1", b"[1"),
    ("PATCH", "/api/v1/runs/no-such-run", orjson.dumps({"status": "success"})),
    ("PATCH", "/api/v1/runs/batch", orjson.dumps({"status": "success"})),  # a run id like any other
    ("POST", "/api/v1/runs", orjson.dumps(run_body(event_id="parity/slash"))),
    ("POST", "/api/v1/runs/batch", orjson.dumps([run_body(event_id="parity-2"), run_body(event_id="parity\n3")])),
    ("PATCH", "/api/v1/runs/parity%2Fslash", orjson.dumps({"status": "success"})),
    ("POST", "/api/v1/runs/batch-update", orjson.dumps([
        {"operation": "create", "record": run_body(event_id="parity-4")},
        {"operation": "update", "fields": ["status"], "record": run_body(event_id="parity-4", status="failure")},
        {"operation": "update", "fields": ["status"], "record": run_body(event_id="parity-5", status="failure")},
        {"operation": "update", "fields": ["bogus"], "record": run_body(event_id="parity-4", bogus=1)},
    ])),
    ("POST", "/api/v1/runs/batch-update", b"{}"),
]


async def _without_fast_lane(db_path: Path) -> list[tuple[int, Any]]:
    store = SqliteStore(db_path)
    app = create_app(build_config(db_path=db_path, env={}), store, fast_lane=False)
    await store.open()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://in-process") as client:
            replies = [await client.request(method, path, content=body) for method, path, body in _REQUESTS]
    finally:
        await store.close()
    return [(reply.status_code, reply.json()) for reply in replies]


def test_fast_lane_and_documented_routes_answer_the_same(service: Any, tmp_path: Path) -> None:
    with service.client() as client:
        replies = [client.request(method, path, content=body) for method, path, body in _REQUESTS]
    fast = [(reply.status_code, reply.json()) for reply in replies]
    routed = asyncio.run(_without_fast_lane(tmp_path / "routed.sqlite"))
    assert [status for status, _ in fast] == [201, 201, 422, 422, 422, 200, 422, 200, 200, 422, 422, 404, 404, 422, 200, 404, 200, 422]
    assert fast[8][1]["updated_fields"] == ["heartbeat_at"]  # a terminal run stays terminal
    assert fast[14][1]["inserted"] == 1 and fast[14][1]["errors"][0]["index"] == 1
    assert fast == routed
