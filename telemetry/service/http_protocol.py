"""The HTTP/1.1 protocol the service runs under uvicorn: uvicorn's httptools protocol, with
the writes of one event-loop step sent as one.

uvicorn writes a response's head and its body in two `transport.write` calls, so every
answer costs two send syscalls and the client wakes twice. On loopback a send also does
the receiving side's TCP work, so for small answers the two sends were ~30% of the event
loop's time per single create (py-spy, 4 client threads). Writes made while one callback
runs are joined and sent once that callback has returned."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Pending bytes past which a write goes out at once: a large streamed body keeps the real
# transport's flow control (pause_writing) and is not copied whole.
FLUSH_AT_BYTES = 64 * 1024


class CoalescingTransport:
    """A transport whose `write`s are joined until the running loop callback returns; every
    other call goes to the real transport, after what is pending has been written."""

    __slots__ = ("_transport", "_loop", "_pending", "_size")

    # uvloop's transports are not subclasses of asyncio.Transport, hence `Any`.
    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)
        self._size += len(data)
        if self._size >= FLUSH_AT_BYTES:
            self.flush()

    def writelines(self, chunks: Iterable[bytes]) -> None:
        for data in chunks:
            self.write(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        # A connection the peer reset is closed without our `close`; uvicorn's own writes
        # to it are dropped silently, and so are these.
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return int(self._transport.get_write_buffer_size()) + self._size

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._size = 0
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a `CoalescingTransport`. Flow control (pause and
    resume reading) still acts on the real transport."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]

    def eof_received(self) -> None:
        # The loop closes the real transport when this returns: what is pending goes first.
        self.transport.flush()  # type: ignore[attr-defined]
        super().eof_received()
