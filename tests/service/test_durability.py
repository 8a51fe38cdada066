"""Durability: a 2xx means the row is in the file. The writer runs WAL with
synchronous=FULL unless told otherwise (as its own connection reports it on /health);
concurrent creates share commits and every one is stored; SIGTERM while writes are in
flight ends the process cleanly with every acknowledged row stored; SIGKILL loses no
acknowledged row either; a restart on the same file serves them all. Checked with plain
sqlite3."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.service.helpers import fresh, run_body, service_rows
from tests.support.service import ServiceFactory, ServiceProcess

WRITERS = 4


def _write_until_refused(url: str, agent: str, acknowledged: list[str], started: threading.Event) -> None:
    """Create runs (single and batch alternately) until the service stops answering; keep
    the event ids it acknowledged."""
    with httpx.Client(base_url=url, timeout=10.0) as client:
        for round_number in range(100_000):
            bodies = [run_body(agent_name=agent) for _ in range(1 if round_number % 2 else 20)]
            try:
                if len(bodies) == 1:
                    reply = client.post("/api/v1/runs", json=bodies[0])
                    ok = reply.status_code == 201
                else:
                    reply = client.post("/api/v1/runs/batch", json=bodies)
                    ok = reply.status_code == 200 and reply.json()["inserted"] == len(bodies)
            except httpx.HTTPError:
                return
            if not ok:
                return
            acknowledged.extend(str(body["event_id"]) for body in bodies)
            started.set()


def _load_then(service: ServiceProcess, stop: str) -> tuple[list[str], str]:
    agent = fresh("durable")
    acknowledged: list[str] = []
    events = [threading.Event() for _ in range(WRITERS)]
    threads = [
        threading.Thread(target=_write_until_refused, args=(service.url, agent, acknowledged, event)) for event in events
    ]
    for thread in threads:
        thread.start()
    for event in events:
        assert event.wait(30)
    if stop == "term":
        assert service.stop() == 0
    else:
        service.kill()
    for thread in threads:
        thread.join(30)
    return acknowledged, agent


def _stored(service: ServiceProcess, agent: str) -> set[str]:
    return {row["event_id"] for row in service_rows(service, "agent_name = ?", (agent,))}


def test_no_acknowledged_row_is_lost_to_sigterm_or_sigkill(service: ServiceProcess) -> None:
    acknowledged, agent = _load_then(service, "term")
    assert acknowledged and set(acknowledged) <= _stored(service, agent)
    assert "Application shutdown complete" in service.stderr_text()
    service.start()
    killed, killed_agent = _load_then(service, "kill")
    assert killed and set(killed) <= _stored(service, killed_agent)
    service.start()
    with service.client() as client:
        assert client.get("/metrics").json()["total_runs"] == len(_stored(service, agent) | _stored(service, killed_agent))
        served = client.get("/api/v1/runs", params={"agent_name": killed_agent, "limit": 1}).json()
        assert served[0]["event_id"] in _stored(service, killed_agent)


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("args", "synchronous"), [((), "FULL"), (("--synchronous", "NORMAL"), "NORMAL")])
def test_health_reports_the_writers_journal_mode_and_synchronous_level(
    service_factory: ServiceFactory, args: tuple[str, ...], synchronous: str
) -> None:
    health = httpx.get(f"{service_factory(args=args).url}/health").json()
    assert (health["status"], health["journal_mode"], health["synchronous"]) == ("ok", "wal", synchronous)


def test_concurrent_creates_share_commits_and_all_are_stored(service: ServiceProcess) -> None:
    agent = fresh("grouped")
    bodies = [run_body(agent_name=agent) for _ in range(400)]
    with service.client() as client, ThreadPoolExecutor(16) as pool:
        before = client.get("/metrics").json()["writer"]
        statuses = list(pool.map(lambda body: client.post("/api/v1/runs", json=body).status_code, bodies))
        after = client.get("/metrics").json()["writer"]
    assert statuses == [201] * len(bodies)
    transactions, writes = after["transactions"] - before["transactions"], after["writes"] - before["writes"]
    assert writes == len(bodies) and transactions < writes, after
    assert _stored(service, agent) == {body["event_id"] for body in bodies}
