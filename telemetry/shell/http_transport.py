"""`PooledTransport`: an `httpx.BaseTransport` that sends plain-http requests over the
standard library's `http.client`, on a small keep-alive pool per origin. httpx stays the
API (requests, responses, timeouts, exceptions); `http.client` carries the bytes.

Why not httpx's own transport (httpcore + h11) or urllib3: on the 2-core VM a request cost
the client ~420 us of CPU with httpcore, ~390 us with urllib3 and ~200 us with
`http.client`, and both libraries write the request head and body in two `send` calls,
so the service wakes twice per request; `http.client` sends a small request in one.

Rules:
1. Timeouts come from each request's `timeout` extension: connect for the connection,
   write for sending, read for the answer, pool for waiting for a free connection.
2. Errors are the httpx errors httpx's own transport raises for the same trouble
   (refused -> `ConnectError`, hung -> `ReadTimeout`, ...).
3. A request sent on a reused keep-alive connection that the server closed before a
   whole answer came back is sent once more on a new connection; a timeout never is, or
   a hung service would cost the agent two."""

from __future__ import annotations

import http.client
import select
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import httpx

T = TypeVar("T")
_Origin = tuple[str, int]
_Timeouts = dict[str, float | None]
# What a socket reports when the peer closed it before a whole answer (RemoteDisconnected,
# "closed the connection without a response", is a ConnectionResetError).
_CLOSED_BY_PEER = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, http.client.IncompleteRead)


class _ClosedByPeer(Exception):
    """The server closed the connection before a whole answer came back."""


def _idle_connection_closed(connection: http.client.HTTPConnection) -> bool:
    """An idle keep-alive socket that is readable was closed by the server (or sent
    something unasked): either way it cannot carry the next request."""
    if connection.sock is None:
        return True
    poller = select.poll()  # not select.select: an agent may hold more than 1024 files
    poller.register(connection.sock, select.POLLIN)
    return bool(poller.poll(0))


def _translated(request: httpx.Request, step: Callable[[], T], timeout_error: type[httpx.TimeoutException]) -> T:
    """Run one step of an exchange with the socket errors it may raise as httpx errors."""
    try:
        return step()
    except TimeoutError as error:  # socket.timeout is TimeoutError
        raise timeout_error(str(error) or "timed out", request=request) from error
    except _CLOSED_BY_PEER as error:
        raise _ClosedByPeer(f"{type(error).__name__}: {error}") from error
    except http.client.HTTPException as error:
        raise httpx.RemoteProtocolError(f"{type(error).__name__}: {error}", request=request) from error
    except OSError as error:
        raise httpx.ConnectError(f"{type(error).__name__}: {error}", request=request) from error


def _exchange_on(connection: http.client.HTTPConnection, request: httpx.Request, timeouts: _Timeouts) -> tuple[httpx.Response, bool]:
    """Send `request` and read its whole answer; the response and whether the server keeps
    the connection open."""
    if connection.sock is None:
        _translated(request, connection.connect, httpx.ConnectTimeout)
    sock: socket.socket = connection.sock
    sock.settimeout(timeouts.get("write"))
    body = request.read() or None
    headers = dict(request.headers.items())  # a repeated name's values joined with commas
    target = request.url.raw_path.decode("ascii")
    # One `send` for head and body when the body is bytes (http.client joins them).
    _translated(request, lambda: connection.request(request.method, target, body, headers), httpx.WriteTimeout)
    sock.settimeout(timeouts.get("read"))
    answer = _translated(request, connection.getresponse, httpx.ReadTimeout)
    content = _translated(request, answer.read, httpx.ReadTimeout)
    response = httpx.Response(
        answer.status,
        headers=answer.getheaders(),
        content=content,
        extensions={"http_version": b"HTTP/1.1", "reason_phrase": answer.reason.encode("latin-1")},
        request=request,
    )
    return response, not answer.will_close


class _OriginPool:
    """Connections to one origin: the idle ones (most recent first) and a cap on open ones."""

    def __init__(self, origin: _Origin, max_connections: int) -> None:
        self.origin = origin
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)

    @contextmanager
    def slot(self, timeout: float | None) -> Iterator[None]:
        if not self._slots.acquire(timeout=timeout):
            raise httpx.PoolTimeout(f"no free connection to {self.origin[0]}:{self.origin[1]} within {timeout} s")
        try:
            yield
        finally:
            self._slots.release()

    def take_idle(self) -> http.client.HTTPConnection | None:
        while True:
            with self._lock:
                if not self._idle:
                    return None
                connection = self._idle.pop()
            if not _idle_connection_closed(connection):
                return connection
            connection.close()

    def exchange(self, connection: http.client.HTTPConnection, request: httpx.Request, timeouts: _Timeouts) -> httpx.Response:
        """One exchange on `connection`, which then goes back to the idle ones if the
        server keeps it open, and is closed otherwise or on any error."""
        try:
            response, reusable = _exchange_on(connection, request, timeouts)
        except BaseException:
            connection.close()
            raise
        if reusable:
            with self._lock:
                self._idle.append(connection)
        else:
            connection.close()
        return response

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class PooledTransport(httpx.BaseTransport):
    """Plain-http transport on `http.client`; thread-safe, keep-alive, bodies read whole."""

    def __init__(self, max_connections: int = 16) -> None:
        self._max_connections = max_connections
        self._pools: dict[_Origin, _OriginPool] = {}
        self._lock = threading.Lock()

    def _pool(self, url: httpx.URL) -> _OriginPool:
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"PooledTransport speaks plain http, not {url.scheme!r}")
        origin = (url.raw_host.decode("ascii"), url.port or 80)  # raw: IDNA-encoded, IPv6 unbracketed
        with self._lock:
            pool = self._pools.get(origin)
            if pool is None:
                pool = self._pools[origin] = _OriginPool(origin, self._max_connections)
        return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        pool = self._pool(request.url)
        timeouts: _Timeouts = request.extensions.get("timeout", {})
        with pool.slot(timeouts.get("pool")):
            reused = pool.take_idle()
            if reused is not None:
                try:
                    return pool.exchange(reused, request, timeouts)
                except _ClosedByPeer:
                    # Sending again is safe: every write of ours is idempotent (a create
                    # dedupes on its event_id, a PATCH or commit association sets fields).
                    pass
            fresh = http.client.HTTPConnection(*pool.origin, timeout=timeouts.get("connect"))
            try:
                return pool.exchange(fresh, request, timeouts)
            except _ClosedByPeer as error:
                raise httpx.RemoteProtocolError(str(error), request=request) from error

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
