"""Concurrency: many threads on one client against the real service, and many processes
appending to one NDJSON file and one buffer directory at once."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from telemetry import TelemetryClient
from tests.shell.helpers import ClientFactory, ndjson_lines, on_disk, python_process
from tests.support.receiver import closed_port_url
from tests.support.service import ServiceProcess

THREADS = 8
RUNS_PER_THREAD = 20
EVENTS_PER_RUN = 5


def work(client: TelemetryClient, worker: int, run_ids: list[str]) -> None:
    for number in range(RUNS_PER_THREAD):
        run_id = client.start_run("crowd", f"worker-{worker}", run_id=f"crowd-{worker}-{number}")
        for step in range(EVENTS_PER_RUN):
            client.log_event(run_id, "step", {"worker": worker, "step": step})
        client.end_run(run_id, items_succeeded=number)
        run_ids.append(run_id)


def test_many_threads_on_one_client(shared_service: ServiceProcess, make_client: ClientFactory, tmp_path: Path) -> None:
    client = make_client(shared_service.url)
    run_ids: list[str] = []
    threads = [threading.Thread(target=work, args=(client, worker, run_ids)) for worker in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.flush(30.0)

    total = THREADS * RUNS_PER_THREAD
    assert len(set(run_ids)) == total
    rows = httpx.get(f"{shared_service.url}/api/v1/runs", params={"agent_name": "crowd", "limit": 1000}).json()
    assert sorted(row["run_id"] for row in rows) == sorted(run_ids)
    assert all(row["status"] == "success" for row in rows)
    assert client.get_run_id_metrics()["run_id_metrics"]["custom_accepted"] == total
    lines = ndjson_lines(tmp_path / "base" / "ndjson")
    assert len(lines) == total * (2 + EVENTS_PER_RUN)
    assert on_disk(tmp_path / "base" / "buffer") == []  # all delivered (background: all acknowledged)


def test_many_processes_on_one_ndjson_file_and_buffer_dir(tmp_path: Path, delivery: str) -> None:
    code = """
import sys
from telemetry import TelemetryClient, TelemetryConfig
client = TelemetryClient(TelemetryConfig(api_url=sys.argv[1], base_dir=sys.argv[2], ndjson_flush_interval_s=0.001, sync_interval_s=0,
                                         delivery=sys.argv[4]))
for number in range(10):
    run_id = client.start_run("proc", "job", run_id=f"{sys.argv[3]}-{number}")
    for step in range(100):
        client.log_event(run_id, "step", {"pad": "x" * 300, "step": step})
    client.end_run(run_id)
"""
    url = closed_port_url()
    processes = [python_process(code, url, str(tmp_path), f"p{n}", delivery) for n in range(4)]
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr

    lines = ndjson_lines(tmp_path / "ndjson")  # every line parses: no interleaving
    assert len(lines) == 4 * 10 * (100 + 2)
    steps = sorted((line["run_id"], line["payload"]["step"]) for line in lines if line["kind"] == "event")
    assert steps == sorted((f"p{n}-{r}", s) for n in range(4) for r in range(10) for s in range(100))
    entries = on_disk(tmp_path / "buffer")  # background mode: four processes' outbox segments
    assert sorted((e.operation, e.record.run_id) for e in entries) == sorted(
        (op, f"p{n}-{r}") for n in range(4) for r in range(10) for op in ("create", "update")
    )
