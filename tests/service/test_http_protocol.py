"""The service's HTTP protocol: the writes of one event-loop step leave as one send, in
order, and nothing pending is lost when the connection closes; over real sockets."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvloop

from telemetry.service.commands import _server
from telemetry.service.config import build_config
from telemetry.service.http_protocol import CoalescingHttpToolsProtocol, CoalescingTransport
from tests.service.helpers import run_body
from tests.support.service import ServiceProcess

# The HTTP transport under the routes: the same whatever the store.
pytestmark = pytest.mark.sqlite_only


class _RecordingTransport:
    """A real transport that remembers what each `write` handed it."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.transport.write(data)

    def close(self) -> None:
        self.transport.close()

    def is_closing(self) -> bool:
        return bool(self.transport.is_closing())


async def _with_connection(step: Any) -> tuple[list[bytes], bytes]:
    """Run `step(coalescing_transport)` in one loop callback over a real TCP connection;
    the writes the real transport got, and everything the peer received before EOF."""
    loop = asyncio.get_running_loop()
    received = bytearray()
    closed = loop.create_future()

    class Peer(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            received.extend(data)

        def connection_lost(self, exc: Exception | None) -> None:
            closed.set_result(None)

    server = await loop.create_server(Peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    recording = _RecordingTransport(transport)
    coalescing = CoalescingTransport(recording, loop)
    loop.call_soon(step, coalescing)
    await asyncio.wait_for(closed, 5)
    server.close()
    return recording.writes, bytes(received)


def test_writes_of_one_step_leave_as_one_send_in_order() -> None:
    def step(transport: CoalescingTransport) -> None:
        transport.write(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"{}")
        asyncio.get_running_loop().call_soon(transport.close)

    writes, received = uvloop.run(_with_connection(step))
    assert writes == [b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}"]
    assert received == writes[0]


def test_close_sends_what_is_pending_first() -> None:
    def step(transport: CoalescingTransport) -> None:
        transport.write(b"head ")
        transport.write(b"body")
        transport.close()

    writes, received = uvloop.run(_with_connection(step))
    assert received == b"head body"
    assert writes == [b"head body"]


def test_a_write_to_a_connection_the_peer_reset_is_dropped_quietly() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()

        class Resetting(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                transport.abort()  # type: ignore[attr-defined]

        server = await loop.create_server(Resetting, "127.0.0.1", 0)
        lost = loop.create_future()

        class Client(asyncio.Protocol):
            def connection_lost(self, exc: Exception | None) -> None:
                lost.set_result(None)

        transport, _ = await loop.create_connection(Client, "127.0.0.1", server.sockets[0].getsockname()[1])
        await asyncio.wait_for(lost, 5)
        coalescing = CoalescingTransport(transport, loop)
        coalescing.write(b"an answer nobody waits for")
        coalescing.flush()  # raised RuntimeError (handler is closed) before the is_closing check
        server.close()

    uvloop.run(main())


def test_the_service_runs_the_coalescing_protocol(tmp_path: Path) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("never called")

    server = _server(app, build_config(db_path=tmp_path / "t.sqlite", port=0), "warning")
    assert server.config.http is CoalescingHttpToolsProtocol


def _exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(request)
        answer = bytearray()
        while chunk := connection.recv(65536):
            answer.extend(chunk)
    return bytes(answer)


def test_service_answers_whole_on_a_closing_connection(shared_service: ServiceProcess) -> None:
    body = orjson.dumps(run_body())
    request = (
        b"POST /api/v1/runs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\n"
        + b"content-length: %d\r\n\r\n" % len(body)
        + body
    )
    answer = _exchange(shared_service.port, request)
    head, _, reply = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201")
    assert orjson.loads(reply)["status"] == "created"


def test_service_answers_pipelined_requests_in_order(shared_service: ServiceProcess) -> None:
    bodies = [orjson.dumps(run_body()) for _ in range(3)]
    request = b"".join(
        b"POST /api/v1/runs HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % len(body) + body for body in bodies
    )
    request += b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    answer = _exchange(shared_service.port, request)
    event_ids = [orjson.loads(body)["event_id"] for body in bodies]
    positions = [answer.index(event_id.encode()) for event_id in event_ids]
    assert answer.count(b"HTTP/1.1 201") == 3 and answer.count(b"HTTP/1.1 200") == 1
    assert positions == sorted(positions)
