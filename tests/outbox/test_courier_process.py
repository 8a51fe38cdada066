"""The courier in a process of its own (the default): it delivers what the agent appends
and its counters reach `self_metrics()`; killed, another is started; where none can
start, a thread delivers; one that keeps exiting is started again later and later (a
thread delivers if they never run); it ends
with its agent, even one killed with SIGKILL; segments it settled are removed and let go;
a full report pipe never makes it wait."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from telemetry import TelemetryClient, TelemetryConfig
from telemetry.shell.outbox.courier import Courier
from telemetry.shell.outbox.courier_main import Control, ProcessPace, Warnings
from telemetry.shell.outbox.courier_process import CourierProcess
from telemetry.shell.outbox.drain import drain_outbox
from telemetry.shell.outbox.segments import segment_paths
from telemetry.shell.outbox.writer import Outbox
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.service_api import ServiceApi
from tests.chaos.helpers import stored_rows
from tests.support.service import ServiceProcess
from tests.support.waiting import wait_for


def _client(tmp_path: Path, url: str, **extra: Any) -> TelemetryClient:
    return TelemetryClient(TelemetryConfig(api_url=url, base_dir=tmp_path, heartbeat_interval_s=0, **extra))


def _statuses(service: ServiceProcess, run_ids: list[str]) -> list[str | None]:
    rows = {row["run_id"]: row["status"] for row in stored_rows(service.db_path)}
    return [rows.get(run_id) for run_id in run_ids]


def _courier(client: TelemetryClient) -> CourierProcess:
    worker = client._runtime.outbox
    assert isinstance(worker, CourierProcess)
    return worker


def _gone(pid: int) -> bool:
    """Whether the process `pid` ended (a zombie no one reaped counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (FileNotFoundError, ProcessLookupError):
        return True


def _pairs(client: TelemetryClient, count: int) -> list[str]:
    run_ids = [client.start_run("courier-agent", "courier-test") for _ in range(count)]
    for run_id in run_ids:
        client.end_run(run_id, items_succeeded=1)
    return run_ids


def test_the_courier_process_delivers_and_its_counters_reach_self_metrics(
    tmp_path: Path, shared_service: ServiceProcess
) -> None:
    client = _client(tmp_path, shared_service.url)
    run_ids = _pairs(client, 50)
    child = _courier(client)._child
    assert child is not None and child.pid != os.getpid() and child.poll() is None
    assert client.flush(30.0)
    assert client.self_metrics()["outbox.delivered"] == 100
    assert set(_statuses(shared_service, run_ids)) == {"success"}
    client.close()
    assert child.poll() == 0  # it ended with the client
    assert segment_paths(tmp_path / "buffer" / "outbox") == []


def test_a_killed_courier_process_is_replaced_and_nothing_is_lost(tmp_path: Path, shared_service: ServiceProcess) -> None:
    client = _client(tmp_path, shared_service.url)
    first = _pairs(client, 20)
    assert client.flush(30.0)
    killed = _courier(client)._child
    assert killed is not None
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    later = _pairs(client, 20)
    assert client.flush(30.0)  # its polls notice the exit and start another
    metrics = client.self_metrics()
    assert metrics["outbox.courier_exits"] == 1
    assert metrics["outbox.delivered"] == 80  # the killed one's counters are kept
    assert set(_statuses(shared_service, first + later)) == {"success"}
    client.close()


def test_where_no_courier_process_can_start_a_thread_delivers(
    tmp_path: Path, shared_service: ServiceProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python-here"))
    client = _client(tmp_path, shared_service.url)
    run_ids = _pairs(client, 3)
    assert client.flush(10.0)
    assert set(_statuses(shared_service, run_ids)) == {"success"}
    assert client.self_metrics()["errors.outbox.courier_start"] == 1
    assert caplog.text.count("could not start the courier process; delivering from a thread instead") == 1
    assert "telemetry-outbox" in [thread.name for thread in threading.enumerate()]
    client.close()
    assert segment_paths(tmp_path / "buffer" / "outbox") == []


def test_courier_processes_that_keep_exiting_are_started_later_and_later_then_a_thread_delivers(
    tmp_path: Path, shared_service: ServiceProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")  # starts, and exits at once with 1
    client = _client(tmp_path, shared_service.url)
    run_ids = _pairs(client, 3)
    began = time.monotonic()
    # Checked once a second, started again after 0.5 s, then 1 s: three exits before their
    # first report take over 3 s (one start per append or per poll would take milliseconds);
    # then a thread of the agent's process delivers.
    assert client.flush(15.0)
    assert time.monotonic() - began > 3.0
    assert client.self_metrics()["outbox.courier_exits"] == 3
    assert caplog.text.count("the courier process exited") == 1 and "exit code 1" in caplog.text
    assert caplog.text.count("no courier process runs; delivering from a thread instead") == 1
    assert set(_statuses(shared_service, run_ids)) == {"success"}
    client.close()


def test_segments_it_settled_are_removed_and_let_go(tmp_path: Path, shared_service: ServiceProcess) -> None:
    descriptors = len(os.listdir("/proc/self/fd"))
    client = _client(tmp_path, shared_service.url, outbox_segment_bytes=4096)
    _pairs(client, 150)
    assert client.flush(30.0)
    worker = _courier(client)
    assert len(segment_paths(tmp_path / "buffer" / "outbox")) > 10
    # Sealed over a second ago, settled: the courier process deletes them; the agent lets go.
    wait_for(lambda: len(segment_paths(tmp_path / "buffer" / "outbox")) <= 2, "settled segments removed", 10.0)
    worker.flush(1.0)
    assert len(worker.outbox.segments) <= 2
    client.close()
    assert segment_paths(tmp_path / "buffer" / "outbox") == []
    assert len(os.listdir("/proc/self/fd")) <= descriptors + 1  # the service API's pool may stay


AGENT = """
import sys, time
from telemetry import TelemetryClient, TelemetryConfig
client = TelemetryClient(TelemetryConfig(api_url=sys.argv[1], base_dir=sys.argv[2], heartbeat_interval_s=0))
for number in range(100):
    client.end_run(client.start_run("killed-agent", "courier-test", run_id=f"courier-kill-{sys.argv[3]}-{number}"), items_succeeded=1)
print(client._runtime.outbox._child.pid, flush=True)
time.sleep(600)
"""


def test_the_courier_process_ends_with_its_agent_killed(tmp_path: Path, shared_service: ServiceProcess) -> None:
    tag = str(time.time_ns())
    down = "http://127.0.0.1:9"  # nothing listens: everything stays in the outbox
    agent = subprocess.Popen([sys.executable, "-c", AGENT, down, str(tmp_path), tag], stdout=subprocess.PIPE, text=True)
    assert agent.stdout is not None
    courier_pid = int(agent.stdout.readline())
    assert not _gone(courier_pid)
    agent.send_signal(signal.SIGKILL)
    agent.wait()
    wait_for(lambda: _gone(courier_pid), "the courier process ended", 10.0)
    client = _client(tmp_path, shared_service.url)  # adopts the dead agent's segments
    assert client.flush(30.0)
    client.close()
    assert set(_statuses(shared_service, [f"courier-kill-{tag}-{number}" for number in range(100)])) == {"success"}


def test_a_full_report_pipe_never_makes_it_wait(tmp_path: Path) -> None:
    reading, writing = os.pipe()
    os.set_blocking(writing, False)
    while True:  # fill the pipe, as an agent that never reads would let it fill
        try:
            os.write(writing, b"x" * 4096)
        except BlockingIOError:
            break
    metrics = SelfMetrics()
    outbox = Outbox(tmp_path, metrics)
    courier = Courier(outbox, lambda: ServiceApi("http://127.0.0.1:9", None, 0.1, 0.1))
    pace = ProcessPace(Control(os.open(os.devnull, os.O_RDONLY)), outbox, metrics, writing, Warnings())
    for delivered in range(1, 2001):
        metrics.increment("outbox.delivered")
        pace.after_pass(courier)
    drained = b""
    os.set_blocking(reading, False)
    for _ in range(3):  # the agent reads at last; the next passes finish the report
        try:
            while chunk := os.read(reading, 1 << 16):
                drained += chunk
        except BlockingIOError:
            pass
        pace.idle()
    last = drained.rstrip(b"x").split(b"\n")[-2]
    assert orjson.loads(last.lstrip(b"x"))["counts"]["outbox.delivered"] == delivered


def test_an_agent_with_a_relative_buffer_dir_and_a_telemetry_module_of_its_own_is_delivered(
    tmp_path: Path, shared_service: ServiceProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "telemetry").mkdir()
    (tmp_path / "telemetry" / "__init__.py").write_text("raise ImportError('the agent own telemetry module')\n")
    monkeypatch.chdir(tmp_path)
    client = TelemetryClient(TelemetryConfig(api_url=shared_service.url, base_dir=Path("relative-base"), heartbeat_interval_s=0))
    run_ids = _pairs(client, 5)
    assert client.flush(10.0)
    assert _courier(client)._thread is None  # its courier process ran, not the fallback thread
    assert set(_statuses(shared_service, run_ids)) == {"success"}
    client.close()
