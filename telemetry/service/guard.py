"""The gate every request passes before any route runs (pure ASGI middleware): the
optional bearer token (401 + `WWW-Authenticate: Bearer`) and the request size limit
(413), checked on `Content-Length` and again while the body is read. The token is
compared in constant time and never logged."""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Paths that hold no run data and must answer without a token: liveness probes, the API
# description (both interactive docs pages fetch /openapi.json and their scripts, served
# under DOCS_ASSETS, without credentials) and the dashboard's page and assets (the page
# asks the user for the token itself).
OPEN_PATHS = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/"})
DOCS_ASSETS = "/docs-assets"
OPEN_PREFIXES = (f"{DOCS_ASSETS}/", "/dashboard/")
_GONE = b"\x00client disconnected"  # compared by identity, never sent anywhere


async def _reply(send: Send, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class RequestGuard:
    """Auth, then size: an unauthorised request is refused before its body is read."""

    def __init__(self, app: ASGIApp, auth_token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self._expected = f"Bearer {auth_token}".encode() if auth_token else None
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._expected is not None and not _is_open(scope["path"]) and not self._authorized(scope):
            await _reply(send, 401, "missing or invalid bearer token", ((b"www-authenticate", b'Bearer realm="telemetry"'),))
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_body_bytes:
            await _reply(send, 413, self._too_large())
            return
        body = await self._read_body(receive)
        if body is _GONE:
            return  # the client left before sending its whole body: nothing to answer
        if body is None:
            await _reply(send, 413, self._too_large())
            return
        await self.app(scope, _replay(body, receive), send)

    def _too_large(self) -> str:
        return f"request body larger than {self._max_body_bytes} bytes"

    def _authorized(self, scope: Scope) -> bool:
        given = _header(scope, b"authorization") or b""
        scheme, _, token = given.partition(b" ")
        assert self._expected is not None
        # The scheme is case-insensitive (RFC 7235); the token is compared in constant time.
        return hmac.compare_digest(b"Bearer " + token.strip(), self._expected) and scheme.lower() == b"bearer"

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body; None as soon as it passes the limit (chunked uploads too); `_GONE`
        if the client disconnected first."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return _GONE
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the buffered body over once, then defers to the real one."""
    delivered = False

    async def replayed() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        message: dict[str, Any] = {"type": "http.request", "body": body, "more_body": False}
        return message

    return replayed
