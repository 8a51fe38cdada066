"""`associate_commit` for a run the client does not hold (ended and forgotten, or started by
another process), with the service down: the commit is buffered by run id, and a real
`telemetry sync` later finds the run on the real service and associates it; a run nobody
knows goes to `rejected/`; with neither service nor buffer, the spec's error tuple."""

from __future__ import annotations

import pytest

import re
import subprocess
import sys
from pathlib import Path

from telemetry.effects.records import CommitDetails, CommitEntry
from telemetry.shell.buffer import BufferDirectory
from tests.shell.helpers import ClientFactory, on_disk, pending_entries, python_process, stored_runs
from tests.shell.test_client_faults import not_a_directory
from tests.support.receiver import closed_port_url
from tests.support.service import ServiceProcess

COMMIT = ("abcdef1234", "ci", "Ann <ann@example.org>", "2024-05-01T10:00:00.000000+00:00")


def _sync(buffer_dir: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "telemetry", "sync", "--buffer-dir", str(buffer_dir), "--api-url", url, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _summary(stdout: str) -> dict[str, int]:
    return {name: int(count) for name, count in re.findall(r"(\w+)\s*\S\s*(\d+)\s*\S", stdout)}


def _assert_buffered(reply: tuple[bool, str], run_id: str) -> None:
    assert reply == (
        True,
        f"Commit abcdef1234 buffered for run {run_id}: it will be associated when the service can be reached",
    )


def _assert_committed(url: str, run_id: str) -> None:
    [row] = stored_runs(url, run_id)
    assert (row["git_commit_hash"], row["git_commit_source"]) == ("abcdef1234", "ci")
    assert (row["git_commit_author"], row["git_commit_timestamp"]) == COMMIT[2:]
    assert row["status"] == "success"  # the commit did not undo the end


def test_a_commit_for_a_run_not_held_is_buffered_while_the_service_is_down_and_synced_later(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    service = ServiceProcess(tmp_path / "telemetry.sqlite").start()
    try:
        ender = make_client(service.url)
        run_id = ender.start_run("agent", "job")
        ender.end_run(run_id)
        assert ender.flush(10.0)  # background mode: the run reached the service before it stops
        service.stop()
        stranger = make_client(service.url)  # never held the run: another process, say
        _assert_buffered(stranger.associate_commit(run_id, *COMMIT), run_id)
        buffer_dir = tmp_path / "base" / "buffer"
        assert pending_entries(buffer_dir) == [CommitEntry(run_id, CommitDetails("abcdef1234", *COMMIT[1:]))]
        service.start()
        result = _sync(buffer_dir, service.url)
        assert result.returncode == 0, result.stderr
        assert _summary(result.stdout)["delivered"] == 1
        _assert_committed(service.url, run_id)
        assert pending_entries(buffer_dir) == []
    finally:
        service.stop()


def test_a_commit_for_a_run_nobody_knows_is_rejected_with_the_reason_and_sync_stops(
    shared_service: ServiceProcess, make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client(closed_port_url())
    _assert_buffered(client.associate_commit("never-started", *COMMIT), "never-started")
    buffer_dir = tmp_path / "base" / "buffer"
    result = _sync(buffer_dir, shared_service.url, "--loop", "--max-seconds", "60")
    assert result.returncode == 0, result.stderr
    assert _summary(result.stdout) == {
        "delivered": 0, "duplicates": 0, "quarantined": 0, "rejected": 1, "remaining": 0,
    }  # fmt: skip
    [reason] = (buffer_dir / "rejected").glob("*.reason.txt")
    assert reason.read_text() == "no run with run_id 'never-started' on the service\n"
    assert stored_runs(shared_service.url, "never-started") == []


ENDER = """
import os, sys
from telemetry import TelemetryClient, TelemetryConfig
client = TelemetryClient(TelemetryConfig(api_url=sys.argv[1], base_dir=sys.argv[2], exit_budget_s=0.5, delivery=os.environ["TELEMETRY_DELIVERY"],
                                         heartbeat_interval_s=0, sync_interval_s=0, connect_timeout_s=0.3))
run_id = client.start_run("agent", "job")
client.end_run(run_id)
print(run_id)
"""


def test_a_commit_and_the_create_of_its_run_both_buffered_converge_after_sync(
    make_client: ClientFactory, tmp_path: Path, delivery: str
) -> None:
    """Another process started and ended the run while the service was down, and exited:
    its run waits in buffer files (sync mode) or in its outbox (background mode: the next
    client on the directory adopts it and delivers it once the service is back); the
    commit waits in a buffer file. `telemetry sync` then delivers the commit (and, in sync
    mode, the run first)."""
    service = ServiceProcess(tmp_path / "telemetry.sqlite")
    try:
        process = python_process(ENDER, service.url, str(tmp_path / "base"))
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        run_id = stdout.strip()
        stranger = make_client(service.url)
        _assert_buffered(stranger.associate_commit(run_id, *COMMIT), run_id)
        buffer_dir = tmp_path / "base" / "buffer"
        assert [(e.operation, e.record.run_id) for e in on_disk(buffer_dir)] == [("create", run_id), ("update", run_id)]
        assert [type(entry).__name__ for entry in pending_entries(buffer_dir)] == (
            ["BufferEntry", "BufferEntry", "CommitEntry"] if delivery == "sync" else ["CommitEntry"]
        )
        service.start()
        assert stranger.flush(20.0)  # background mode: the dead process's outbox, adopted
        result = _sync(buffer_dir, service.url)
        assert result.returncode == 0, result.stderr
        _assert_committed(service.url, run_id)
        assert on_disk(buffer_dir) == [] and pending_entries(buffer_dir) == []
    finally:
        service.stop()


def test_a_commit_for_a_run_whose_create_is_still_buffered_waits_in_the_buffer(
    shared_service: ServiceProcess, make_client: ClientFactory, tmp_path: Path
) -> None:
    """The service answers but does not hold the run yet: its create is still in the
    buffer, so the commit joins it there instead of failing with "Run ID not found". The
    client does not read the buffer to learn which runs it holds (that could stall the
    agent), so while it holds anything, a commit for a run nobody knows waits there too,
    and sync sets it aside in rejected/. In background mode the ender's outbox is over its
    limit (here: a limit of 0), so its run takes the buffer files as in sync mode."""
    ender = make_client(closed_port_url(), outbox_limit_bytes=0)
    run_id = ender.start_run("agent", "job")
    ender.end_run(run_id)
    stranger = make_client(shared_service.url)
    _assert_buffered(stranger.associate_commit(run_id, *COMMIT), run_id)
    _assert_buffered(stranger.associate_commit("never-started", *COMMIT), "never-started")
    buffer_dir = tmp_path / "base" / "buffer"
    result = _sync(buffer_dir, shared_service.url)
    assert result.returncode == 0, result.stderr
    _assert_committed(shared_service.url, run_id)
    [reason] = (buffer_dir / "rejected").glob("*.reason.txt")
    assert reason.read_text() == "no run with run_id 'never-started' on the service\n"
    assert pending_entries(buffer_dir) == []


def test_a_buffered_commit_alone_does_not_make_an_unknown_run_look_buffered(
    shared_service: ServiceProcess, make_client: ClientFactory, tmp_path: Path
) -> None:
    """Only a buffered create or update can be the unknown run's: with nothing but a commit
    in the buffer, a commit for a run nobody knows gets the spec's "Run ID not found"."""
    offline = make_client(closed_port_url())
    _assert_buffered(offline.associate_commit("ghost", *COMMIT), "ghost")
    online = make_client(shared_service.url)
    assert online.associate_commit("never-started", *COMMIT) == (False, "Run ID not found: never-started")
    assert len(pending_entries(tmp_path / "base" / "buffer")) == 1


def test_with_the_service_down_and_the_buffer_unwritable_the_spec_error_is_returned(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client(closed_port_url(), buffer_dir=not_a_directory(tmp_path))
    assert client.associate_commit("held-elsewhere", *COMMIT) == (False, "[ERROR] Commit association not available")
    assert client.self_metrics()["errors.AppendBuffer.NotADirectoryError"] == 1


# associate_commit is truthful for a run the client holds too (issue 11): True only when the
# commit is stored in the service or durably buffered, and the message says which.


def test_a_held_run_commit_stored_by_the_service_says_associated(
    shared_service: ServiceProcess, make_client: ClientFactory
) -> None:
    client = make_client(shared_service.url)
    run_id = client.start_run("agent", "job")
    client.end_run(run_id)
    assert client.associate_commit(run_id, *COMMIT) == (True, f"Commit abcdef1234 associated with run {run_id}")
    _assert_committed(shared_service.url, run_id)


def test_a_held_run_commit_buffered_while_the_service_is_down_says_buffered(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client(closed_port_url())
    run_id = client.start_run("agent", "job")
    _assert_buffered(client.associate_commit(run_id, *COMMIT), run_id)
    [*_, entry] = pending_entries(tmp_path / "base" / "buffer")
    assert not isinstance(entry, CommitEntry) and entry.record.git_commit_hash == "abcdef1234"


def test_a_held_run_commit_stored_nowhere_is_false_and_says_nothing_was_stored(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    """The service down and the buffer directory impossible to create (its parent is a
    file, which stops root too): the commit is nowhere, and the reply says so."""
    client = make_client(closed_port_url(), buffer_dir=not_a_directory(tmp_path))
    run_id = client.start_run("agent", "job")
    ok, message = client.associate_commit(run_id, *COMMIT)
    assert not ok
    assert message == (
        f"[ERROR] Commit association not available: nothing was stored for run {run_id} "
        "(the service did not answer and the buffer could not be written)"
    )
    assert client.self_metrics()["errors.AppendBuffer.NotADirectoryError"] >= 1


def test_a_commit_for_a_run_still_in_a_live_clients_outbox_waits_for_it(
    service: ServiceProcess, make_client_in: ClientFactory, tmp_path: Path
) -> None:
    """A commit buffered by run id whose run waits, unsettled, in the outbox of a live
    client (one that adopted a dead process's outbox, say): `telemetry sync` cannot take
    that outbox, but sees the run in it and keeps the commit for a later pass instead of
    rejecting it as a run nobody knows."""
    holder = make_client_in(closed_port_url(), delivery="background")
    run_id = holder.start_run("agent", "job")
    holder.end_run(run_id)
    buffer_dir = tmp_path / "base" / "buffer"
    BufferDirectory(buffer_dir).append(CommitEntry(run_id, CommitDetails(*COMMIT)), "2026-12-05T00:00:00+00:00")
    result = _sync(buffer_dir, service.url)
    assert result.returncode == 1, result.stdout + result.stderr  # the commit remains, waiting
    assert _summary(result.stdout)["rejected"] == 0 and not (buffer_dir / "rejected").exists()
    assert [type(entry).__name__ for entry in pending_entries(buffer_dir)] == ["CommitEntry"]
