"""The fast lane (pure ASGI): serves the hot write paths, `POST /api/v1/runs`, `/batch`,
`/batch-update` and `PATCH /api/v1/runs/{event_id}`, without FastAPI's routing and
dependency machinery, a third of the event loop's CPU per single create (figures in
bench/README.md). It runs behind the request guard (auth, size limit) and
calls the same functions as the documented routes (tests/service/test_fast_lane.py checks
that both answer alike)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from telemetry.service import ingest, mixed_batch
from telemetry.service.http import RETRY_AFTER_SECONDS, invalid_detail, unavailable_detail
from telemetry.service.store import Store, StoreUnavailable

Handler = Callable[[Store, bytes], Awaitable[ingest.Reply]]
LANES: dict[str, Handler] = {
    "/api/v1/runs": ingest.create_one,
    "/api/v1/runs/batch": ingest.create_many,
    "/api/v1/runs/batch-update": mixed_batch.apply_mixed,
}
_RUN_PREFIX = "/api/v1/runs/"


def _handler(scope: Scope) -> Handler | None:
    """The lane of a request, or None for the application. A PATCH of one path segment
    after /api/v1/runs/ is the documented `{event_id}` route (the path is already
    percent-decoded, as FastAPI's path parameter is)."""
    if scope["type"] != "http":
        return None
    method, path = scope["method"], scope["path"]
    if method == "POST":
        return LANES.get(path)
    if method == "PATCH" and path.startswith(_RUN_PREFIX):
        event_id = path[len(_RUN_PREFIX) :]
        if event_id and "/" not in event_id:
            return lambda store, body: ingest.update_one(store, event_id, body)
    return None


async def send_json(send: Send, status: int, content: Any, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = orjson.dumps(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class FastLane:
    """Answers the hot paths itself; everything else goes on to the application."""

    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self._store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = _handler(scope)
        if handler is None:
            await self.app(scope, receive, send)
            return
        body = await _body(receive)
        if body is None:
            return  # the client left; nobody to answer
        try:
            status, reply = await handler(self._store, body)
        except RequestValidationError as error:
            await send_json(send, 422, invalid_detail(error))
            return
        except StoreUnavailable as error:
            retry = ((b"retry-after", RETRY_AFTER_SECONDS.encode()),)
            await send_json(send, 503, unavailable_detail(error), retry)
            return
        await send_json(send, status, reply)
