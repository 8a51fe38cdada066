"""`ServiceApi` over httpx's transport against real servers: the service and the
fault-injecting receiver. Errors are classified as outcomes; a timeout is never sent
again; a keep-alive connection the service closed never reaches the agent."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from telemetry.effects.records import RunRecord
from telemetry.shell.service_api import Delivered, ServiceApi, Unavailable
from tests.shell.helpers import ClientFactory, on_disk, stored_runs
from tests.support.receiver import HANG, Receiver, closed_port_url
from tests.support.service import ServiceProcess


def record(number: int = 0) -> RunRecord:
    return RunRecord(f"transport-{time.time_ns()}-{number}", f"transport-run-{number}", "agent", "job", "2026-01-01T00:00:00+00:00")


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


def test_refused_connection_is_a_connect_error_and_unavailable() -> None:
    url = closed_port_url()
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


def test_service_keep_alive_expiry_never_reaches_the_agent(
    make_client: ClientFactory, service: ServiceProcess, tmp_path: Path, delivery: str
) -> None:
    """The keep-alive connection the service closed after 5 s idle is opened again: by the
    caller's own request (sync), by the courier's next batch (background)."""
    client = make_client(service.url)
    client.end_run(client.start_run("agent", "before-idle"))
    assert client.flush(10.0)
    time.sleep(5.5)  # uvicorn closes keep-alive connections idle for 5 s
    client.end_run(client.start_run("agent", "after-idle"))
    assert client.flush(10.0)
    metrics = client.self_metrics()
    if delivery == "sync":
        assert metrics.get("delivery.delivered") == 4 and "breaker.opened" not in metrics
    else:
        assert metrics.get("outbox.delivered") == 4 and "outbox.unavailable" not in metrics
    assert on_disk(tmp_path / "base" / "buffer") == []
    assert {row["job_type"] for row in _rows(service.url)} == {"before-idle", "after-idle"}


def _rows(url: str) -> list[dict[str, object]]:
    return list(httpx.get(f"{url}/api/v1/runs", timeout=10).json())


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
