"""A small real HTTP server on a loopback port for fault injection and for the secondary
export: scriptable replies (status, JSON body, headers, or hang: accept and never answer)
and a record of every request it got. Plus `HungPort` (a socket that listens but never
accepts) and `closed_port()` (nobody listens: connection refused)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

from tests.support.service import free_port


@attrs.frozen
class Reply:
    """What the receiver answers: a status with a JSON body and headers, or nothing at all
    (`hang`: the request is read, then the connection is held open until `close()`)."""

    status: int = 200
    body: Any = attrs.Factory(lambda: {"status": "created"})
    headers: Mapping[str, str] = attrs.Factory(dict)
    hang: bool = False


HANG = Reply(hang=True)


@attrs.frozen
class Request:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    received_at: float = attrs.field(factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A threaded HTTP/1.1 server on 127.0.0.1; `script()` queues replies for the next
    requests, after which `default` (a reply, or a function of the request) answers."""

    def __init__(self, default: Reply | Callable[[Request], Reply] = Reply()) -> None:
        self.default = default
        self._script: deque[Reply] = deque()
        self._requests: list[Request] = []
        self._lock = threading.Condition()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        """The requests received, once there are at least `count` (or after `timeout`)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._requests) < count and time.monotonic() < deadline:
                self._lock.wait(max(0.0, deadline - time.monotonic()))
            return list(self._requests)

    def _reply_for(self, request: Request) -> Reply:
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()
            scripted = self._script.popleft() if self._script else None
        if scripted is not None:
            return scripted
        return self.default(request) if callable(self.default) else self.default

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = receiver._reply_for(Request(self.command, self.path, headers, body))
            if reply.hang:
                receiver._release.wait()
                self.close_connection = True
                return
            content = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            for name, value in {"content-type": "application/json", **reply.headers}.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read `receiver.requests` instead."""

    return Handler


class HungPort:
    """A loopback port whose socket listens but never accepts: connections complete in the
    kernel, requests are sent, and no answer ever comes (a hung service)."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> HungPort:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def closed_port_url() -> str:
    """A loopback URL where nobody listens: every connection is refused."""
    return f"http://127.0.0.1:{free_port()}"
