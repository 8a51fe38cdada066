"""The fast lane serves `POST /api/v1/runs` and `/batch` without FastAPI's routing; the
documented FastAPI routes must answer exactly the same. Same requests to the real service
(fast lane) and to the application without it (in-process ASGI, its own real SQLite file)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson

from telemetry.service.app import create_app
from telemetry.service.config import build_config
from telemetry.service.sqlite_store import SqliteStore
from tests.service.helpers import run_body

_CREATED = run_body(status="completed", metrics_json={"a": [1, 2]})
_REQUESTS: list[tuple[str, bytes]] = [
    ("/api/v1/runs", orjson.dumps(_CREATED)),
    ("/api/v1/runs", orjson.dumps(_CREATED)),  # duplicate
    ("/api/v1/runs", orjson.dumps({**run_body(), "items_failed": -1, "start_time": "noon"})),
    ("/api/v1/runs", b"{not json"),
    ("/api/v1/runs", b"[]"),
    ("/api/v1/runs/batch", orjson.dumps([run_body(event_id="parity-1"), {"event_id": 3}, _CREATED])),
    ("/api/v1/runs/batch", orjson.dumps({"not": "an array"})),
]


async def _without_fast_lane(db_path: Path) -> list[tuple[int, Any]]:
    store = SqliteStore(db_path)
    app = create_app(build_config(db_path=db_path, env={}), store, fast_lane=False)
    await store.open()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://in-process") as client:
            replies = [await client.post(path, content=body) for path, body in _REQUESTS]
    finally:
        await store.close()
    return [(reply.status_code, reply.json()) for reply in replies]


def test_fast_lane_and_documented_routes_answer_the_same(service: Any, tmp_path: Path) -> None:
    with service.client() as client:
        fast = [(reply.status_code, reply.json()) for reply in (client.post(p, content=b) for p, b in _REQUESTS)]
    routed = asyncio.run(_without_fast_lane(tmp_path / "routed.sqlite"))
    assert [status for status, _ in fast] == [201, 201, 422, 422, 422, 200, 422]
    assert fast == routed
