"""The client's last lines of defence, each made to fail for real: no thread to be had when
a run starts (the process is out of threads), and the outer `except` of every public
method, reached by calling it with almost no stack left (an agent deep in recursion)."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from telemetry import TelemetryClient
from tests.shell.helpers import ClientFactory, fast_config, ndjson_lines, on_disk, stored_runs
from tests.support.receiver import closed_port_url
from tests.support.service import ServiceProcess


def _no_thread_to_be_had(self: threading.Thread) -> None:
    raise RuntimeError("can't start new thread")


def test_a_run_started_when_no_thread_can_start_is_delivered_active_and_on_disk(
    shared_service: ServiceProcess, make_client: ClientFactory, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, delivery: str,
) -> None:  # fmt: skip
    """Sync mode delivers on the caller's thread, so the run is in the service at once. In
    background mode the run waits in the outbox (whole, on disk) until a thread can start:
    the next call that starts one, or flush(), delivers it (the courier's thread: a courier
    process needs no thread of the agent's)."""
    client = make_client(shared_service.url, heartbeat_interval_s=30.0, sync_interval_s=30.0, courier="thread")
    # What CPython raises when the OS refuses a thread (which cannot safely be caused here).
    monkeypatch.setattr(threading.Thread, "start", _no_thread_to_be_had)
    with caplog.at_level(logging.WARNING, logger="telemetry"):
        run_id = client.start_run("agent", "job", run_id="threadless")
        client.log_event(run_id, "step", {"n": 1})
        client.start_run("agent", "job", run_id="threadless-2")
    assert run_id == "threadless" and "threadless" in client._state.active
    client.end_run(run_id, items_succeeded=1)
    if delivery == "background":
        assert [e.record.run_id for e in on_disk(tmp_path / "base" / "buffer")] == ["threadless", "threadless-2", "threadless"]
        assert stored_runs(shared_service.url, "threadless") == []
        monkeypatch.undo()  # threads can start again
        assert client.flush(10.0)
    assert [row["status"] for row in stored_runs(shared_service.url, "threadless")] == ["success"]
    # No writer thread: each line was written synchronously, none waits in a queue.
    lines = ndjson_lines(tmp_path / "base" / "ndjson")
    assert [line["kind"] for line in lines] == ["run_start", "event", "run_start", "run_end"]
    metrics = client.self_metrics()
    assert metrics["errors.thread_start.HeartbeatWorker"] == 2 and metrics["errors.thread_start.BackgroundSync"] == 2
    assert metrics["errors.ndjson.thread_start"] == 4
    if delivery == "background":
        assert metrics["errors.thread_start.OutboxWorker"] == 2
    # Once per worker kind, in plain words: no internal names in what the agent's log shows.
    kinds = 2 if delivery == "sync" else 3
    assert caplog.text.count("telemetry: could not start a background thread; it is tried again at the next run: RuntimeError: can't start new thread") == kinds
    assert "thread_start." not in caplog.text and "HeartbeatWorker" not in caplog.text


def _sync_threads() -> int:
    return sum(thread.name == "telemetry-sync" for thread in threading.enumerate())


def test_a_sync_thread_the_os_refused_is_started_by_a_later_run_and_closes_cleanly(
    shared_service: ServiceProcess, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(shared_service.url, sync_interval_s=30.0)
    with monkeypatch.context() as refused:
        refused.setattr(threading.Thread, "start", _no_thread_to_be_had)
        client.start_run("agent", "job", run_id="sync-refused")
    refused_threads = _sync_threads()
    client.start_run("agent", "job", run_id="sync-retried")
    assert _sync_threads() == refused_threads + 1
    client.close()
    metrics = client.self_metrics()
    assert metrics["errors.thread_start.BackgroundSync"] == 1
    assert not [name for name in metrics if name.startswith("errors.drain")]


@contextmanager
def _stack_room(frames: int) -> Iterator[None]:
    """Only `frames` more Python frames may be entered, as for an agent deep in recursion."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


# Each public method, and how to tell that its own `except` answered.
CALLS: dict[str, tuple[Callable[[TelemetryClient], Any], Callable[[Any, TelemetryClient], bool]]] = {
    "start_run": (lambda c: c.start_run("agent", "job"), lambda reply, c: reply.startswith("error-")),
    "end_run": (lambda c: c.end_run("active"), lambda reply, c: "errors.end_run" in c.self_metrics()),
    "log_event": (lambda c: c.log_event("active", "step", {"n": 1}), lambda reply, c: "errors.log_event" in c.self_metrics()),
    "associate_commit": (
        lambda c: c.associate_commit("active", "abcdef1", "manual"),
        lambda reply, c: reply[1].startswith("[ERROR] associate_commit failed"),
    ),
    "get_run_id_metrics": (lambda c: c.get_run_id_metrics(), lambda reply, c: "error" in reply),
}
# The spec gives no message for get_run_id_metrics, only its error dict.
LOGGED = {"start_run", "end_run", "log_event", "associate_commit"}


def _outer_except_reached(method: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> tuple[Any, list[str]]:
    """Call `method` with less and less stack until its own `except` catches the failure
    and has room to answer; its reply and what it logged."""
    call, answered = CALLS[method]
    for frames in range(150, 2, -1):
        # A new closed client each time (no background thread shares the lowered limit, so
        # sync delivery: background mode's courier is such a thread; its once-per-kind log
        # memory is fresh), with one active run.
        client = TelemetryClient(fast_config(closed_port_url(), base_dir=tmp_path, delivery="sync"))
        client.close()
        client.start_run("agent", "job", run_id="active")
        caplog.clear()
        try:
            with _stack_room(frames):
                reply = call(client)
        except RecursionError:
            continue  # no room even to enter the method or its handler: tried with less
        logged = [r.getMessage() for r in caplog.records if f"Telemetry {method} failed" in r.getMessage()]
        if answered(reply, client) and (logged or method not in LOGGED):
            return reply, logged
    pytest.fail(f"{method} never reached its outer except with room to answer")


@pytest.mark.parametrize("method", sorted(CALLS))
def test_the_outer_except_of_each_public_method_answers_as_the_spec_says(
    method: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="telemetry")
    reply, logged = _outer_except_reached(method, tmp_path, caplog)
    prefix = "[WARN]" if method == "log_event" else "[ERROR]"
    if method in LOGGED:
        assert logged[0].startswith(f"{prefix} Telemetry {method} failed: maximum recursion depth exceeded")
    if method == "start_run":
        assert reply.startswith("error-") and "-agent-" in reply
    elif method == "associate_commit":
        assert reply[0] is False and reply[1].startswith("[ERROR] associate_commit failed: maximum recursion depth")
    elif method == "get_run_id_metrics":
        assert set(reply) == {"error", "timestamp"} and reply["error"].startswith("maximum recursion depth")
    else:
        assert reply is None
