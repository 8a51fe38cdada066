"""Threads and process lifecycle, each in a fresh interpreter: no thread at import, lazy
start, interpreter exit (normal, by exception, with a hung service, within the budget for
one client or several), kill -9 after flush(), a real SIGINT inside track_run or inside a
start_run waiting on a hung service, and fork; in both delivery modes (the scripts' clients
take theirs from TELEMETRY_DELIVERY)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.shell.helpers import ndjson_lines, on_disk, python_process, run_python
from tests.support.receiver import HANG, HungPort, Receiver, Reply, closed_port_url
from tests.support.waiting import wait_for

PRELUDE = """
import json, os, sys, threading, time
from telemetry import TelemetryClient, TelemetryConfig
def make(base, url, **extra):
    settings = dict(connect_timeout_s=0.3, read_timeout_s=0.5, breaker_cooldown_s=60.0, sync_interval_s=0.0,
                    delivery=os.environ.get("TELEMETRY_DELIVERY", "sync"))
    settings.update(extra)
    return TelemetryClient(TelemetryConfig(api_url=url, base_dir=base, **settings))
"""


def script(body: str, **values: object) -> str:
    assignments = "".join(f"{name} = {value!r}\n" for name, value in values.items())
    return PRELUDE + assignments + body


def test_no_thread_at_import_and_threads_start_lazily(tmp_path: Path, delivery: str) -> None:
    done = run_python(script(
        """
import telemetry.shell.client
assert threading.active_count() == 1, threading.enumerate()
client = make(base, url, sync_interval_s=30.0)
assert threading.active_count() == 1, threading.enumerate()
client.log_event("run", "step")
after_event = sorted(t.name for t in threading.enumerate() if t.daemon)
client.start_run("agent", "job")
# A sync pass may have begun already, with its own sending threads (telemetry-sync-*_N).
after_start = sorted(t.name for t in threading.enumerate() if t.daemon and not t.name.startswith("telemetry-sync-"))
print(json.dumps([after_event, after_start]))
""",
        base=str(tmp_path), url=closed_port_url(),
    ))  # fmt: skip
    assert done.returncode == 0, done.stderr
    after_event, after_start = json.loads(done.stdout)
    assert after_event == ["telemetry-ndjson"]
    # Background delivery's courier is a process of its own (tests/outbox/test_courier_process.py).
    assert after_start == ["telemetry-heartbeat", "telemetry-ndjson", "telemetry-sync"]


# Exit time is measured from the agent's last call (printed by the child) to the parent
# seeing the process end. Beyond the budget it holds interpreter teardown and the
# parent's wake-up: tens of milliseconds when idle, but a busy 2-core machine can delay
# either by several hundred; 2 s of margin keeps the test quiet and still catches a
# second budget being spent (test_several_clients...).
EXIT_MARGIN_S = 2.0


def _exit_seconds(code: str, ready: Callable[[], object] = lambda: None) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run `code`, which prints `last-call <time.monotonic()>` after its last call (and may
    first wait for a line on stdin, sent once `ready()` returns); the seconds from then
    until the process had ended, and what it printed."""
    process = python_process(code, stdin=subprocess.PIPE)
    ready()
    stdout, stderr = process.communicate(input="go\n", timeout=60)
    ended = time.monotonic()
    last_call = float(next(line.split()[1] for line in stdout.splitlines() if line.startswith("last-call")))
    return ended - last_call, subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_exit_with_a_hung_service_leaves_every_record_on_disk_within_the_budget(tmp_path: Path, delivery: str) -> None:
    with HungPort() as hung, Receiver(HANG) as export:
        seconds, done = _exit_seconds(script(
            """
import atexit
atexit.register(lambda: print(json.dumps(client.self_metrics())))
client = make(base, url, export_url=export, exit_budget_s=1.0, export_timeout_s=30.0)
for number in range(10):
    run_id = client.start_run("agent", "job", run_id=f"hung-{number}")
    client.log_event(run_id, "step", {"n": number})
    client.end_run(run_id)
print("last-call", time.monotonic())
""",
            base=str(tmp_path), url=hung.url, export=export.url,
        ))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert seconds <= 1.0 + EXIT_MARGIN_S
    entries = on_disk(tmp_path / "buffer")
    assert sorted((e.operation, e.record.run_id) for e in entries) == sorted(
        (operation, f"hung-{n}") for n in range(10) for operation in ("create", "update")
    )
    assert len(ndjson_lines(tmp_path / "ndjson")) == 30
    metrics = json.loads(done.stdout.splitlines()[-1])
    # The export receiver hangs: what it never took is counted as dropped at exit.
    assert metrics["export.dropped_at_exit"] >= 1


def test_exit_does_not_wait_for_a_batch_request_the_service_never_answers(tmp_path: Path, delivery: str) -> None:
    """A batch is in flight when the agent exits: the background sync's of the buffer files
    (sync mode) or the courier's of the outbox (background mode). The service read it and
    never answers, and the read timeout is far past the budget. Those threads are daemons
    and the drain waits only within the budget, so the exit keeps to it; the entries stay
    on disk for a later pass (in background mode the last start too: it was in that batch)."""
    hang_batches = lambda request: HANG if "/batch" in request.path else Reply(201)  # noqa: E731
    with Receiver(hang_batches) as service:
        seconds, done = _exit_seconds(script(
            """
earlier = make(base, refused)
for number in range(5):
    earlier.end_run(earlier.start_run("agent", "job", run_id=f"buffered-{number}"))
earlier.close()
client = make(base, url, sync_interval_s=0.05, read_timeout_s=60.0, exit_budget_s=1.0)
client.start_run("agent", "job")
sys.stdin.readline()  # until the service holds the batch
print("last-call", time.monotonic())
""",
            base=str(tmp_path), refused=closed_port_url(), url=service.url,
        ), ready=lambda: wait_for(lambda: any("/batch" in r.path for r in service.requests), "the batch", timeout=30.0))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert seconds <= 1.0 + EXIT_MARGIN_S
    assert len(on_disk(tmp_path / "buffer")) == (10 if delivery == "sync" else 11)


def test_several_clients_exit_within_one_budget_not_one_each(tmp_path: Path, delivery: str) -> None:
    # Each client's export hangs until exit: one budget each would take 3 x 1.75 s.
    with HungPort() as hung, Receiver(HANG) as export:
        seconds, done = _exit_seconds(script(
            """
clients = [make(f"{base}/{n}", url, export_url=export, exit_budget_s=2.0, export_timeout_s=30.0) for n in range(3)]
for client in clients:
    client.end_run(client.start_run("agent", "job"))
print("last-call", time.monotonic())
""",
            base=str(tmp_path), url=hung.url, export=export.url,
        ))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert seconds <= 2.0 + EXIT_MARGIN_S - 0.5
    assert len(on_disk(tmp_path / "0" / "buffer") + on_disk(tmp_path / "2" / "buffer")) == 4


def test_normal_exit_and_an_uncaught_exception_write_every_queued_event(tmp_path: Path, delivery: str) -> None:
    body = """
client = make(base, url)
for number in range(2000):
    client.log_event("run", "step", {"n": number})
if crash:
    raise RuntimeError("agent crashed")
"""
    for crash in (False, True):
        base = tmp_path / str(crash)
        done = run_python(script(body, base=str(base), url=closed_port_url(), crash=crash))
        assert (done.returncode != 0) == crash and ("agent crashed" in done.stderr) == crash
        assert [line["payload"]["n"] for line in ndjson_lines(base / "ndjson")] == list(range(2000))


def test_kill_9_after_flush_loses_nothing(tmp_path: Path, delivery: str) -> None:
    process = python_process(script(
        """
client = make(base, url)
for number in range(500):
    client.log_event("run", "step", {"n": number})
client.flush()
print("flushed", flush=True)
time.sleep(60)
""",
        base=str(tmp_path), url=closed_port_url(),
    ))  # fmt: skip
    assert process.stdout is not None and process.stdout.readline().strip() == "flushed"
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert len(ndjson_lines(tmp_path / "ndjson")) == 500


def test_sigint_inside_track_run_records_cancelled_and_stops_the_agent(tmp_path: Path, delivery: str) -> None:
    process = python_process(script(
        """
client = make(base, url)
with client.track_run("agent", "long", run_id="interrupted"):
    print("inside", flush=True)
    time.sleep(60)
print("not reached")
""",
        base=str(tmp_path), url=closed_port_url(),
    ))  # fmt: skip
    assert process.stdout is not None and process.stdout.readline().strip() == "inside"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode != 0 and "KeyboardInterrupt" in stderr and "not reached" not in stdout
    end = [e for e in on_disk(tmp_path / "buffer") if e.operation == "update"]
    assert [(e.record.run_id, e.record.status) for e in end] == [("interrupted", "cancelled")]


def test_a_forked_child_gets_its_own_threads_and_loses_nothing(tmp_path: Path, delivery: str) -> None:
    done = run_python(script(
        """
client = make(base, url)
client.log_event("parent", "before-fork")
pid = os.fork()
if pid == 0:
    for number in range(200):
        client.log_event("child", "step", {"n": number})
    run_id = client.start_run("agent", "child-job")
    client.end_run(run_id)
    names = sorted(t.name for t in threading.enumerate() if t.daemon)
    client.flush()
    with open(os.path.join(base, "child.json"), "w") as out:
        json.dump(names, out)
    os._exit(0)
for number in range(200):
    client.log_event("parent", "step", {"n": number})
os.waitpid(pid, 0)
""",
        base=str(tmp_path), url=closed_port_url(),
    ))  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = ndjson_lines(tmp_path / "ndjson")
    events = [line for line in lines if line["kind"] == "event"]
    assert sorted(e["payload"]["n"] for e in events if e["run_id"] == "child") == list(range(200))
    assert sorted(e["payload"]["n"] for e in events if e["run_id"] == "parent" and e["payload"]) == list(range(200))
    assert sum(e["event_type"] == "before-fork" for e in events) == 1  # not written twice
    assert [e.record.job_type for e in on_disk(tmp_path / "buffer")] == ["child-job", "child-job"]
    child_threads = json.loads((tmp_path / "child.json").read_text())
    assert "telemetry-ndjson" in child_threads


def test_ctrl_c_while_start_run_waits_on_a_hung_service_reaches_the_agent(tmp_path: Path) -> None:
    """Sync mode only: in background mode start_run never waits on the service (its
    Ctrl-C has nothing to interrupt but a file write)."""
    with HungPort() as hung:
        done = run_python(script(
            """
import signal
client = make(base, url, read_timeout_s=3.0, delivery="sync")
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
started = time.monotonic()
try:
    client.start_run("agent", "job", run_id="interrupted")
    print("not interrupted")
except KeyboardInterrupt:
    print("interrupted after", time.monotonic() - started)
# Still usable: the hung service now costs one read timeout, then the buffer.
run_id = client.start_run("agent", "job", run_id="after")
client.end_run(run_id)
print("after", run_id)
""",
            base=str(tmp_path), url=hung.url,
        ), timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    interrupted, after = done.stdout.splitlines()
    assert interrupted.startswith("interrupted after") and float(interrupted.split()[-1]) < 3.0
    assert after == "after after"
    assert [(e.operation, e.record.run_id) for e in on_disk(tmp_path / "buffer")] == [("create", "after"), ("update", "after")]
