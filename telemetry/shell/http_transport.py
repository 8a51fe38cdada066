"""`PooledTransport`: an `httpx.BaseTransport` that sends plain-http requests through
urllib3's thread-safe keep-alive pools (one per origin). httpx stays the API (requests,
responses, timeouts, exceptions); urllib3 carries the bytes, a little cheaper than
httpcore + h11, and a keep-alive connection the server closes under a request costs a
second attempt instead of an error that would open the circuit breaker.

Rules:
1. Timeouts come from each request's `timeout` extension: connect, read and pool as
   given; urllib3 sends the request under the connect timeout, so that bounds the write.
2. urllib3 errors become the httpx errors httpx's own transport raises for the same
   trouble (refused -> `ConnectError`, hung -> `ReadTimeout`, ...).
3. A request whose connection the server closed before a whole answer came back (an idle
   keep-alive connection closed just as it was reused) is sent once more; a timeout never
   is, or a hung service would cost the agent two."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import httpx
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    EmptyPoolError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

_Origin = tuple[str, int]
# What a socket reports when the peer closed it before answering (RemoteDisconnected, the
# "server closed the connection without a response" of http.client, is a ConnectionResetError).
_CLOSED_BY_PEER = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
# Most specific first: NewConnectionError (refused, unresolvable) is a ConnectTimeoutError.
_HTTPX_ERRORS: tuple[tuple[type[Exception], Callable[..., httpx.TransportError]], ...] = (
    (EmptyPoolError, httpx.PoolTimeout),
    (NewConnectionError, httpx.ConnectError),
    (ConnectTimeoutError, httpx.ConnectTimeout),
    (ReadTimeoutError, httpx.ReadTimeout),
    (ProtocolError, httpx.RemoteProtocolError),
)


@functools.lru_cache(maxsize=64)
def _timeout(connect: float | None, read: float | None) -> urllib3.Timeout:
    # urllib3 clones the Timeout of every request, so one shared instance per pair is safe.
    return urllib3.Timeout(connect=connect, read=read)


def _closed_before_answer(error: ProtocolError) -> bool:
    return any(isinstance(arg, _CLOSED_BY_PEER) for arg in error.args)


def _httpx_error(error: HTTPError, request: httpx.Request) -> httpx.TransportError:
    for urllib3_class, httpx_class in _HTTPX_ERRORS:
        if isinstance(error, urllib3_class):
            return httpx_class(str(error), request=request)
    return httpx.TransportError(f"{type(error).__name__}: {error}", request=request)


class PooledTransport(httpx.BaseTransport):
    """Plain-http transport on urllib3 pools; thread-safe, keep-alive, bodies read whole."""

    def __init__(self, max_connections: int = 16) -> None:
        self._max_connections = max_connections
        self._pools: dict[_Origin, urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()

    def _pool(self, url: httpx.URL) -> urllib3.HTTPConnectionPool:
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"PooledTransport speaks plain http, not {url.scheme!r}")
        origin = (url.raw_host.decode("ascii"), url.port or 80)  # raw: IDNA-encoded, IPv6 unbracketed
        pool = self._pools.get(origin)
        if pool is None:
            with self._lock:
                pool = self._pools.get(origin)
                if pool is None:
                    # block=True: at most max_connections at once; a caller waits for a free
                    # one up to its pool timeout (httpx's Limits semantics).
                    pool = urllib3.HTTPConnectionPool(*origin, maxsize=self._max_connections, block=True)
                    self._pools[origin] = pool
        return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        pool = self._pool(request.url)
        timeouts = request.extensions.get("timeout", {})
        try:
            answer = self._send(pool, request, timeouts)
        except HTTPError as error:
            raise _httpx_error(error, request) from error
        return httpx.Response(
            answer.status,
            headers=list(answer.headers.items()),
            content=answer.data,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (answer.reason or "").encode("latin-1")},
            request=request,
        )

    def _send(
        self, pool: urllib3.HTTPConnectionPool, request: httpx.Request, timeouts: dict[str, float | None]
    ) -> urllib3.BaseHTTPResponse:
        def send() -> urllib3.BaseHTTPResponse:
            return pool.urlopen(
                request.method,
                request.url.raw_path.decode("ascii"),
                body=request.read() or None,
                # One pass over httpx's headers (urllib3 looks names up several times);
                # items() joins a repeated name's values with commas, as HTTP allows.
                headers=dict(request.headers.items()),
                retries=False,
                redirect=False,
                timeout=_timeout(timeouts.get("connect"), timeouts.get("read")),
                # Annotated as int, used as a queue timeout: a float is what it takes.
                pool_timeout=timeouts.get("pool"),  # type: ignore[arg-type]
                preload_content=True,
                decode_content=False,  # httpx.Response decodes per content-encoding
            )

        try:
            return send()
        except ProtocolError as error:
            if not _closed_before_answer(error):
                raise
        # Sending again is safe: every write of ours is idempotent (a create dedupes on its
        # event_id, a PATCH sets fields, a commit association sets them), and reads are reads.
        # urllib3 checks each pooled connection at checkout and reconnects one the server
        # has closed meanwhile, so this attempt goes out on a live or a new connection.
        return send()

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
