"""`PooledTransport` (httpx over `http.client` pools) against real servers: the service, the
fault-injecting receiver, and a small HTTP/1.1 server here that closes keep-alive
connections (when idle, or just as the client reuses one). Errors keep httpx's classes,
so `ServiceApi` classifies them as before; only a request on a reused connection closed
before any answer is sent again, once; a timeout never is."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from telemetry.effects.records import RunRecord
from telemetry.shell.http_transport import PooledTransport
from telemetry.shell.service_api import Delivered, ServiceApi, Unavailable
from tests.shell.helpers import ClientFactory, buffer_entries, stored_runs
from tests.support.receiver import HANG, Receiver, closed_port_url
from tests.support.service import ServiceProcess
from tests.support.waiting import wait_for


class ClosingServer:
    """An HTTP/1.1 server on 127.0.0.1 answering `{"status": "created"}` that closes
    connections: after `idle_s` without a request (as uvicorn does after 5 s), and, with
    `answers_per_connection`, without answering once a connection has served that many."""

    def __init__(self, idle_s: float | None = None, answers_per_connection: int | None = None) -> None:
        self.requests = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(idle_s, answers_per_connection))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _count(self, connection: bool = False) -> None:
        with self._lock:
            if connection:
                self.connections += 1
            else:
                self.requests += 1

    def _handler(self, idle_s: float | None, answers: int | None) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = idle_s  # idle keep-alive connections are closed after this
            answered = 0

            def setup(self) -> None:
                super().setup()
                server._count(connection=True)

            def _handle(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                server._count()
                if answers is not None and self.answered >= answers:
                    self.close_connection = True  # the request was read; no answer comes
                    return
                self.answered += 1
                content = b'{"status": "created"}'
                self.send_response(201)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PATCH = _handle

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        return Handler

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def pooled() -> Iterator[httpx.Client]:
    client = httpx.Client(transport=PooledTransport(), timeout=httpx.Timeout(5.0, connect=1.0))
    yield client
    client.close()


def record(number: int = 0) -> RunRecord:
    return RunRecord(f"transport-{time.time_ns()}-{number}", f"transport-run-{number}", "agent", "job", "2026-01-01T00:00:00+00:00")


def test_round_trip_through_httpx(pooled: httpx.Client, shared_service: ServiceProcess) -> None:
    created = pooled.post(
        f"{shared_service.url}/api/v1/runs",
        content=b'{"event_id": "e-transport-1", "run_id": "r-transport-1", "agent_name": "a", "job_type": "j",'
        b' "start_time": "2026-01-01T00:00:00+00:00"}',
        headers={"content-type": "application/json"},
    )
    assert created.status_code == 201 and created.json()["status"] in ("created", "duplicate")
    assert created.http_version == "HTTP/1.1" and created.reason_phrase == "Created"
    fetched = pooled.get(f"{shared_service.url}/api/v1/runs", params={"run_id": "r-transport-1"})
    assert fetched.status_code == 200 and [row["event_id"] for row in fetched.json()] == ["e-transport-1"]
    assert pooled.get(f"{shared_service.url}/api/v1/runs/unknown-event").status_code == 404


def test_service_api_writes_and_reads_through_the_pool(shared_service: ServiceProcess) -> None:
    api = ServiceApi(shared_service.url)
    try:
        run = record()
        assert api.create(run) == Delivered("created")
        assert api.create(run) == Delivered("duplicate")
        assert api.patch_wire(run.event_id, {"status": "success"}) == Delivered("updated")
        health = api.health()
        assert isinstance(health, dict) and health["status"] == "ok"
        assert [row["status"] for row in stored_runs(shared_service.url, run.run_id)] == ["success"]
    finally:
        api.close()


def test_refused_connection_is_a_connect_error_and_unavailable(pooled: httpx.Client) -> None:
    url = closed_port_url()
    with pytest.raises(httpx.ConnectError):
        pooled.get(f"{url}/health")
    api = ServiceApi(url)
    outcome = api.create(record())
    api.close()
    assert isinstance(outcome, Unavailable) and outcome.reason.startswith("ConnectError")


@pytest.mark.timeout(30)  # a read timeout that is not honoured hangs here
def test_hung_server_is_a_read_timeout_and_is_not_sent_again() -> None:
    with Receiver(HANG) as receiver:
        api = ServiceApi(receiver.url, read_timeout=0.3)
        outcome = api.create(record())
        assert isinstance(outcome, Unavailable) and outcome.reason.startswith("ReadTimeout")
        time.sleep(0.3)  # a retry would have arrived by now
        assert len(receiver.requests) == 1
        api.close()


def test_connection_closed_as_it_is_reused_is_sent_again_on_a_fresh_one(pooled: httpx.Client) -> None:
    server = ClosingServer(answers_per_connection=1)
    try:
        first = pooled.post(f"{server.url}/api/v1/runs", content=b"{}")
        second = pooled.post(f"{server.url}/api/v1/runs", content=b"{}")  # reuses the first connection
        assert (first.status_code, second.status_code) == (201, 201)
        # The second request reached the server twice: on the reused connection (closed
        # without an answer), then on a new one.
        assert (server.requests, server.connections) == (3, 2)
    finally:
        server.close()


def test_a_new_connection_closed_without_an_answer_is_not_sent_again(pooled: httpx.Client) -> None:
    server = ClosingServer(answers_per_connection=0)
    try:
        with pytest.raises(httpx.RemoteProtocolError):
            pooled.post(f"{server.url}/api/v1/runs", content=b"{}")
        assert server.requests == 1
    finally:
        server.close()


def test_idle_connection_closed_by_the_server_is_replaced(pooled: httpx.Client) -> None:
    server = ClosingServer(idle_s=0.2)
    try:
        assert pooled.get(f"{server.url}/health").status_code == 201
        time.sleep(0.6)  # the server has closed the idle connection
        assert pooled.get(f"{server.url}/health").status_code == 201
        assert (server.requests, server.connections) == (2, 2)
    finally:
        server.close()


@pytest.mark.sync_only("counts the caller's own requests on a keep-alive connection")
def test_service_keep_alive_expiry_never_reaches_the_agent(
    make_client: ClientFactory, service: ServiceProcess, tmp_path: Path
) -> None:
    client = make_client(service.url)
    client.end_run(client.start_run("agent", "before-idle"))
    time.sleep(5.5)  # uvicorn closes keep-alive connections idle for 5 s
    client.end_run(client.start_run("agent", "after-idle"))
    metrics = client.self_metrics()
    assert metrics.get("delivery.delivered") == 4 and "breaker.opened" not in metrics
    assert buffer_entries(tmp_path / "base" / "buffer") == []


def test_many_threads_share_one_api(shared_service: ServiceProcess) -> None:
    api = ServiceApi(shared_service.url, read_timeout=10.0)
    outcomes: list[object] = []
    lock = threading.Lock()

    def agent(number: int) -> None:
        for step in range(20):
            run = record(number * 100 + step)
            results = [api.create(run), api.patch_wire(run.event_id, {"status": "success"})]
            with lock:
                outcomes.extend(results)

    threads = [threading.Thread(target=agent, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    api.close()
    assert len(outcomes) == 8 * 20 * 2
    assert {type(outcome) for outcome in outcomes} == {Delivered}


@pytest.mark.timeout(30)  # a pool timeout that is not honoured hangs here
def test_pool_timeout_is_honoured() -> None:
    client = httpx.Client(transport=PooledTransport(max_connections=1))
    with Receiver(HANG) as receiver:
        holder = threading.Thread(target=lambda: _ignore_errors(client, receiver.url), daemon=True)
        holder.start()
        wait_for(lambda: len(receiver.requests) == 1, "the first request holds the only connection", 10.0)
        with pytest.raises(httpx.PoolTimeout):
            client.get(f"{receiver.url}/health", timeout=httpx.Timeout(10.0, pool=0.1))
    holder.join()
    client.close()


def _ignore_errors(client: httpx.Client, url: str) -> None:
    try:
        client.get(f"{url}/health", timeout=httpx.Timeout(10.0))
    except httpx.HTTPError:
        pass  # the receiver closing its hung connection ends this request


@pytest.mark.timeout(30)  # a connect timeout that is not honoured hangs here
def test_connect_timeout_is_honoured() -> None:
    # A listening socket whose accept queue is full: the kernel drops further SYNs, so a
    # connection attempt neither succeeds nor is refused.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        client = httpx.Client(transport=PooledTransport())
        with socket.create_connection(("127.0.0.1", port)):  # fills the queue of listen(0)
            with pytest.raises(httpx.ConnectTimeout):
                client.get(f"http://127.0.0.1:{port}/health", timeout=httpx.Timeout(10.0, connect=0.2))
        client.close()


def test_https_is_not_this_transport(pooled: httpx.Client) -> None:
    with pytest.raises(httpx.UnsupportedProtocol):
        pooled.get("https://127.0.0.1:1/health")
