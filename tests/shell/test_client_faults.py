"""Each failure made to happen for real: the service refused (closed port), hung (accepts,
never answers), answering 500/429/422, the NDJSON or buffer directory unwritable, the disk
full. The agent never sees an exception, and nothing already accepted is lost."""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from pathlib import Path

import pytest

from telemetry import TelemetryClient
from telemetry.effects.records import RunEvent
from telemetry.shell.edge import now
from telemetry.shell.ndjson import NdjsonWriter
from telemetry.shell.self_metrics import SelfMetrics
from tests.shell.helpers import ClientFactory, buffer_entries, ndjson_lines, on_disk, stored_runs
from tests.support.waiting import eventually, wait_for
from tests.support.receiver import HANG, HungPort, Receiver, Reply, closed_port_url
from tests.support.disks import tiny_disk  # noqa: F401 (a fixture)
from tests.support.service import ServiceProcess


def run_three(client: TelemetryClient, flush: bool = True) -> list[str]:
    """Three runs started, evented and ended (then `flush()`ed); their ids."""
    run_ids = []
    for number in range(3):
        run_id = client.start_run("agent", "job", items_discovered=number)
        client.log_event(run_id, "step", {"n": number})
        client.end_run(run_id, items_succeeded=number)
        run_ids.append(run_id)
    if flush:
        client.flush()
    return run_ids


def assert_all_buffered(buffer_dir: Path, run_ids: list[str]) -> None:
    """Every start and end is on disk, in order: in buffer files (sync mode) or in the
    outbox, unacknowledged (background mode)."""
    entries = on_disk(buffer_dir)
    assert [(e.operation, e.record.run_id) for e in entries] == [
        (operation, run_id) for run_id in run_ids for operation in ("create", "update")
    ]
    ends = [e for e in entries if e.operation == "update"]
    assert all(e.record.status == "success" and "status" in e.fields for e in ends)
    assert [e.record.items_succeeded for e in ends] == [0, 1, 2]


def test_refused_service_buffers_every_start_and_end(
    make_client: ClientFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture, delivery: str
) -> None:
    client = make_client(closed_port_url())
    with caplog.at_level(logging.WARNING, logger="telemetry"):
        run_ids = run_three(client)
    assert_all_buffered(tmp_path / "base" / "buffer", run_ids)
    metrics = client.self_metrics()
    if delivery == "sync":
        assert caplog.text.count("API unavailable, buffering event: ConnectError") == 1
        assert metrics["breaker.opened"] == 1 and metrics["delivery.fallback.unavailable"] == 1
        assert metrics["delivery.fallback.breaker_open"] == 5
    else:  # the courier met the refusal, backs off and keeps every entry in the outbox
        assert caplog.text.count("API unavailable, keeping runs in the outbox until it answers: ConnectError") == 1
        assert metrics["outbox.unavailable"] >= 1 and "outbox.delivered" not in metrics
        assert buffer_entries(tmp_path / "base" / "buffer") == []  # no buffer files
    assert len(ndjson_lines(tmp_path / "base" / "ndjson")) == 9


def test_commits_are_buffered_while_the_service_is_down(make_client: ClientFactory, tmp_path: Path) -> None:
    client = make_client(closed_port_url())
    run_id = client.start_run("agent", "job")
    client.end_run(run_id)
    assert client.associate_commit(run_id, "abcdef1", "ci") == (
        True, f"Commit abcdef1 buffered for run {run_id}: it will be associated when the service can be reached"
    )
    commit = buffer_entries(tmp_path / "base" / "buffer")[-1]
    assert commit.operation == "update" and commit.record.git_commit_hash == "abcdef1"
    assert set(commit.fields) == {"git_commit_hash", "git_commit_source", "git_commit_author", "git_commit_timestamp"}
    assert commit.record.status == "success"  # the full record rides along, for a 404 -> create
    ok, message = client.associate_commit("held-elsewhere", "abcdef1", "ci")
    assert ok and "buffered" in message  # by run id: tests/shell/test_client_commits.py


def test_hung_service_costs_one_timeout_then_goes_straight_to_the_buffer(
    make_client: ClientFactory, tmp_path: Path, delivery: str
) -> None:
    with HungPort() as hung:
        client = make_client(hung.url, breaker_cooldown_s=60.0)
        started = time.monotonic()
        run_ids = run_three(client, flush=False)
        seconds = time.monotonic() - started
        client.flush()  # gives up after the exit budget in background mode
    assert_all_buffered(tmp_path / "base" / "buffer", run_ids)
    metrics = client.self_metrics()
    if delivery == "sync":
        # Only the first delivery waited for the service; the other five never touched it.
        assert metrics["delivery.fallback.unavailable"] == 1 and metrics["breaker.short_circuited"] == 5
    else:
        # The caller never waited: its six calls took less than one read timeout (0.4 s);
        # the courier waited instead.
        assert seconds < 0.4 and metrics["outbox.unavailable"] >= 1 and "outbox.delivered" not in metrics


def test_hung_http_server_is_detected_by_the_read_timeout(
    make_client: ClientFactory, tmp_path: Path, delivery: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Receiver(HANG) as receiver, caplog.at_level(logging.WARNING, logger="telemetry"):
        client = make_client(receiver.url, breaker_cooldown_s=60.0)
        run_ids = run_three(client)
        requests = receiver.requests
    assert_all_buffered(tmp_path / "base" / "buffer", run_ids)
    if delivery == "sync":  # one request, then the breaker
        assert len(requests) == 1
        assert "API unavailable, buffering event: ReadTimeout" in caplog.text
    else:  # the courier's batches, each given up after the read timeout, sent again after a backoff
        assert requests and all(r.path == "/api/v1/runs/batch-update" for r in requests)
        assert "API unavailable, keeping runs in the outbox until it answers: ReadTimeout" in caplog.text


@pytest.mark.parametrize("reply", [Reply(500, {"detail": "boom"}), Reply(503), Reply(429, {}, {"Retry-After": "30"})])
def test_server_errors_and_throttling_are_buffered(reply: Reply, make_client: ClientFactory, tmp_path: Path, delivery: str) -> None:
    with Receiver(reply) as receiver:
        client = make_client(receiver.url, breaker_cooldown_s=60.0)
        run_ids = run_three(client)
    assert_all_buffered(tmp_path / "base" / "buffer", run_ids)
    metrics = client.self_metrics()
    if delivery == "sync":
        assert metrics["breaker.opened"] == 1
    else:  # the courier keeps the batch and backs off (a Retry-After of 30 s is more than the test's second)
        assert metrics["outbox.unavailable"] >= 1 and "outbox.delivered" not in metrics


def test_a_refused_record_goes_to_rejected_with_the_reason(make_client: ClientFactory, tmp_path: Path, delivery: str) -> None:
    with Receiver(Reply(422, {"detail": "agent_name: too odd"})) as receiver:
        client = make_client(receiver.url)
        run_id = client.start_run("agent", "job")
        assert client.flush(10.0)  # background mode: the courier's answer is in
    rejected = tmp_path / "base" / "buffer" / "rejected"
    [entry] = buffer_entries(rejected)
    assert entry.operation == "create" and entry.record.run_id == run_id
    reason = next(rejected.glob("*.reason.txt")).read_text()
    assert "HTTP 422" in reason and "too odd" in reason
    assert buffer_entries(tmp_path / "base" / "buffer") == []
    counted = ("buffer.rejected", "errors.delivery.refused") if delivery == "sync" else ("outbox.rejected", "errors.outbox.rejected")
    assert [client.self_metrics()[name] for name in counted] == [1, 1]


def test_the_breaker_closes_again_once_a_probe_reaches_the_service(make_client_in: ClientFactory) -> None:
    """Sync mode's breaker, which guards the caller's own requests (background mode's
    courier backs off instead: the next test)."""
    with Receiver(Reply(201)) as receiver:
        receiver.script(HANG)
        client = make_client_in(receiver.url, breaker_cooldown_s=0.2, delivery="sync")
        client.start_run("agent", "first")  # hangs, times out, opens the breaker

        def probed() -> int:
            client.start_run("agent", "while-open")  # after the cooldown: starts the probe
            return client.self_metrics().get("breaker.probe_ok", 0)

        assert eventually(probed)
        client.start_run("agent", "after")
        requests = receiver.requests
    assert any(r.path == "/health" for r in requests)
    assert [r.json()["job_type"] for r in requests if r.method == "POST"][-1] == "after"


def test_the_courier_backs_off_while_the_service_is_down_and_delivers_once_it_is_back(
    make_client_in: ClientFactory, tmp_path: Path
) -> None:
    """Background mode's counterpart of the breaker: batches the service cannot take wait
    in the outbox (nothing settled, nothing rejected); the first batch after the service
    is back delivers all of it, in order, to its final state."""
    service = ServiceProcess(tmp_path / "telemetry.sqlite")  # its port is chosen, nothing listens yet
    try:
        client = make_client_in(service.url, delivery="background")
        run_ids = run_three(client)  # flush() gives up after the exit budget
        assert client.self_metrics()["outbox.unavailable"] >= 1
        assert_all_buffered(tmp_path / "base" / "buffer", run_ids)
        service.start()
        assert client.flush(20.0)
        assert [stored_runs(service.url, run_id)[0]["items_succeeded"] for run_id in run_ids] == [0, 1, 2]
        assert on_disk(tmp_path / "base" / "buffer") == []
        assert not (tmp_path / "base" / "buffer" / "rejected").exists()
    finally:
        service.stop()


def not_a_directory(tmp_path: Path) -> Path:
    """A path no one can create a directory at, root included: its parent is a file."""
    blocker = tmp_path / "blocker"
    blocker.write_text("I am a file")
    return blocker / "dir"


def test_lines_held_while_the_ndjson_dir_is_unwritable_arrive_in_order_once_it_is_writable(
    shared_service: ServiceProcess, make_client: ClientFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ndjson_dir = not_a_directory(tmp_path)
    client = make_client(shared_service.url, ndjson_dir=ndjson_dir)
    with caplog.at_level(logging.WARNING, logger="telemetry"):
        run_ids = run_three(client)
        time.sleep(1.0)  # the writer retries meanwhile, backing off
    assert client.flush(10.0)  # background mode: the runs are delivered by now
    for run_id in run_ids:
        assert stored_runs(shared_service.url, run_id)[0]["status"] == "success"
    metrics = client.self_metrics()
    # Interval 0.05 s doubling: about 7 tries in the second, where a retry every cycle made 20.
    assert "ndjson.lines_lost" not in metrics and 1 <= metrics["errors.ndjson.write"] <= 10
    assert caplog.text.count("NDJSON write failed: NotADirectoryError") == 1  # logged once, however often it fails
    (tmp_path / "blocker").unlink()
    (tmp_path / "blocker").mkdir()
    wait_for(lambda: len(ndjson_lines(ndjson_dir)) == 9, "the held lines written", timeout=10.0)
    client.close()
    kinds = [(line["kind"], line["run_id"]) for line in ndjson_lines(ndjson_dir)]
    assert kinds == [(kind, run_id) for run_id in run_ids for kind in ("run_start", "event", "run_end")]
    assert "ndjson.lines_lost" not in client.self_metrics()


def submit_events(writer: NdjsonWriter, count: int) -> None:
    for number in range(count):
        writer.submit("event", RunEvent("run", "step", {"n": number}, now()))


def test_a_write_failure_outlasting_the_queue_drops_the_oldest_lines_with_a_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = SelfMetrics()
    directory = not_a_directory(tmp_path)
    writer = NdjsonWriter(directory, flush_interval_s=60.0, capacity=4, metrics=metrics)
    with caplog.at_level(logging.WARNING, logger="telemetry"):
        submit_events(writer, 10)
        writer.flush()  # fails too: the newest 4 lines stay held
    assert metrics.count("ndjson.lines_lost") == 6
    assert caplog.text.count("NDJSON lines lost: writes failed past the queue's 4 lines") == 1
    (tmp_path / "blocker").unlink()
    writer.flush()
    assert [line["payload"]["n"] for line in ndjson_lines(directory)] == [6, 7, 8, 9]
    writer.drain(time.monotonic() + 5)
    assert metrics.count("ndjson.lines_lost") == 6 and metrics.count("ndjson.lines_written") == 4


def test_once_a_write_succeeds_again_new_lines_are_written_not_held_and_dropped(tmp_path: Path) -> None:
    """Failures have backed the retries off to a second; a flush() that succeeds ends the
    back-off, so the lines the writer thread takes next are written at once, not held
    until the old retry time (and dropped past the capacity meanwhile)."""
    metrics = SelfMetrics()
    directory = not_a_directory(tmp_path)
    writer = NdjsonWriter(directory, flush_interval_s=0.01, capacity=4, metrics=metrics)
    submit_events(writer, 1)
    for _ in range(8):
        writer.flush()  # fails each time: the retry delay doubles up to its 1 s cap
    (tmp_path / "blocker").unlink()
    writer.flush()
    for _ in range(20):
        submit_events(writer, 3)
        time.sleep(0.02)  # the writer thread takes them meanwhile
    writer.drain(time.monotonic() + 5)
    assert metrics.count("ndjson.lines_lost") == 0
    assert len(ndjson_lines(directory)) == 61


def test_lines_still_unwritable_at_close_are_counted_lost_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    metrics = SelfMetrics()
    writer = NdjsonWriter(not_a_directory(tmp_path), flush_interval_s=60.0, capacity=100, metrics=metrics)
    with caplog.at_level(logging.WARNING, logger="telemetry"):
        submit_events(writer, 3)
        writer.drain(time.monotonic() + 5)
        submit_events(writer, 1)  # after close: written synchronously, or lost at once
    assert metrics.count("ndjson.lines_lost") == 4 and metrics.count("ndjson.lines_written") == 0
    assert "NDJSON lines lost: 3 lines still unwritable at close" in caplog.text


def test_unwritable_buffer_dir_with_service_down_keeps_the_ndjson_backup(make_client: ClientFactory, tmp_path: Path) -> None:
    client = make_client(closed_port_url(), buffer_dir=not_a_directory(tmp_path))
    run_ids = run_three(client)
    lines = ndjson_lines(tmp_path / "base" / "ndjson")
    assert [line["run_id"] for line in lines if line["kind"] == "run_end"] == run_ids
    metrics = client.self_metrics()
    assert metrics["errors.AppendBuffer.NotADirectoryError"] == 6


def test_disk_full_never_raises_and_keeps_what_was_written(tiny_disk: Path, make_client_in: ClientFactory) -> None:
    """Sync mode's full disk: the buffer files that fit are whole, the rest counted.
    Background mode's (the outbox's frames): tests/outbox/test_disk_full.py."""
    client = make_client_in(closed_port_url(), base_dir=tiny_disk, ndjson_flush_interval_s=0.0, delivery="sync")
    started = [client.start_run("agent", "job", input_summary="x" * 500) for _ in range(120)]
    client.flush()
    client.close()  # the NDJSON lines still held get their last try, then count as lost
    entries = buffer_entries(tiny_disk / "buffer")
    metrics = client.self_metrics()
    # Every file that exists is whole; the ones that did not fit were counted, not torn.
    assert len(entries) == metrics["buffer.appended"] and len(entries) < len(started)
    assert metrics["errors.AppendBuffer.OSError"] == len(started) - len(entries)
    assert [e.record.run_id for e in entries] == started[: len(entries)]
    assert not list((tiny_disk / "buffer").glob(".*.tmp"))
    raw = [line for path in (tiny_disk / "ndjson").glob("*.ndjson") for line in path.read_bytes().splitlines()]
    whole = [line for line in raw if parses(line)]
    # A cut line is retried whole: each short write leaves one fragment on a line of its own.
    assert len(whole) == metrics["ndjson.lines_written"] and len(raw) - len(whole) <= metrics["errors.ndjson.write"]
    assert metrics["ndjson.lines_written"] + metrics["ndjson.lines_lost"] == len(started)
    assert metrics["ndjson.lines_lost"] > 0 and metrics["errors.ndjson.write"] > 0


def parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def test_a_short_write_leaves_one_unreadable_fragment_and_no_glued_lines(
    make_client: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC injected at the OS boundary: `os.write` writes half a batch, then fails; the
    lines of both are written again on the next flush."""
    client = make_client(closed_port_url(), ndjson_flush_interval_s=60.0)  # no retry but the test's flushes
    real_write = os.write
    calls = {"n": 0}

    def failing_write(fd: int, data: bytes) -> int:
        if not os.readlink(f"/proc/self/fd/{fd}").endswith(".ndjson"):
            return real_write(fd, data)
        calls["n"] += 1
        if calls["n"] == 2:
            return real_write(fd, data[: len(data) // 2])
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", failing_write)
    for number in range(5):
        client.log_event("run", "step", {"n": number})
        client.flush()
    monkeypatch.undo()
    raw = next((tmp_path / "base" / "ndjson").glob("*.ndjson")).read_bytes().splitlines()
    assert [json.loads(line)["payload"]["n"] for line in raw if parses(line)] == [0, 1, 2, 3, 4]
    assert len(raw) == 6  # five whole lines and the fragment of the second, on its own line
    assert calls["n"] == 5 and "ndjson.lines_lost" not in client.self_metrics()


def test_an_agent_that_changes_directory_keeps_writing_where_its_config_said(
    make_client: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative directories are taken from the working directory when the config is made:
    an agent that moves elsewhere afterwards neither scatters its runs nor loses them."""
    monkeypatch.chdir(tmp_path)
    client = make_client(closed_port_url(), base_dir=Path("relative"))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    run_id = client.start_run("agent", "job")
    client.end_run(run_id, items_succeeded=1)
    client.close(0.3)
    assert [entry.record.run_id for entry in on_disk(tmp_path / "relative" / "buffer")] == [run_id, run_id]
    assert [line["kind"] for line in ndjson_lines(tmp_path / "relative" / "ndjson")] == ["run_start", "run_end"]
    assert list((tmp_path / "elsewhere").iterdir()) == []
