"""`ProcessPass` (`telemetry sync --workers N`): several processes sync one buffer directory
at once against the real service; every entry is delivered and counted once, and a helper
killed with SIGKILL mid-pass loses nothing (its claims die with it)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import attrs
import httpx
import pytest

from telemetry.effects.records import BufferEntry, RunRecord
from telemetry.shell.sync import processes as sync_processes
from telemetry.shell.buffer import CLAIMS_DIR, LOCK_NAME, BufferDirectory
from telemetry.shell.service_api import ServiceApi
from telemetry.shell.sync import SyncWorker
from telemetry.shell.sync.processes import ProcessPass
from tests.support.receiver import HungPort
from tests.support.service import ServiceProcess
from tests.sync.helpers import claims_files, fetch_row, simple_record, write_entry

_END_FIELDS = ("status", "end_time", "duration_ms")


def _fill(buffer_dir: Path, runs: int) -> list[RunRecord]:
    """Each run's create, and its end a few entries later; the ended records."""
    finals = []
    for index in range(runs):
        start = simple_record()
        end = attrs.evolve(start, status=("success", "failure")[index % 2], end_time=start.start_time, duration_ms=index)
        write_entry(buffer_dir, 2 * index, BufferEntry("create", start))
        write_entry(buffer_dir, 2 * index + 7, BufferEntry("update", end, _END_FIELDS))
        finals.append(end)
    return finals


def _worker(buffer_dir: Path, url: str) -> SyncWorker:
    return SyncWorker(BufferDirectory(buffer_dir), ServiceApi(url, read_timeout=30.0), window=40)


def _assert_stored(service: ServiceProcess, finals: list[RunRecord]) -> None:
    with httpx.Client(base_url=service.url) as client:
        for final in finals:
            row = fetch_row(client, final.event_id)
            assert row is not None and (row["status"], row["duration_ms"]) == (final.status, final.duration_ms)


def test_two_processes_deliver_every_entry_once(shared_service: ServiceProcess, tmp_path: Path) -> None:
    finals = _fill(tmp_path, 150)
    progress: list[tuple[int, int]] = []
    claimants: set[str] = set()

    def advanced(done: int, total: int) -> None:
        progress.append((done, total))
        claimants.update(name.split(".")[0] for name in claims_files(tmp_path))

    passes = ProcessPass(lambda: _worker(tmp_path, shared_service.url), 2)
    report = passes.run(_worker(tmp_path, shared_service.url), advanced)
    assert (report.delivered + report.duplicates, report.remaining, report.errors) == (300, 0, ())
    assert not report.incomplete
    assert claimants - {str(os.getpid())}, "the helper process took part"
    assert progress[-1] == (300, 300)
    assert not BufferDirectory(tmp_path).pending() and not claims_files(tmp_path)
    _assert_stored(shared_service, finals)


def _kill_helper_once_it_holds_claims(buffer_dir: Path, stop: threading.Event) -> None:
    while not stop.is_set():
        for helper in multiprocessing.active_children():
            if any(name.startswith(f"{helper.pid}.") for name in claims_files(buffer_dir)):
                assert helper.pid is not None
                os.kill(helper.pid, signal.SIGKILL)
                return
        time.sleep(0.01)


@pytest.mark.timeout(120)
def test_a_helper_killed_mid_pass_is_reported_and_its_entries_go_in_the_next_pass(
    shared_service: ServiceProcess, tmp_path: Path
) -> None:
    finals = _fill(tmp_path, 150)
    stop = threading.Event()
    killer = threading.Thread(target=_kill_helper_once_it_holds_claims, args=(tmp_path, stop))
    killer.start()
    with HungPort() as hung:  # the helper's requests never get an answer: it dies holding claims
        try:
            report = ProcessPass(lambda: _worker(tmp_path, hung.url), 2).run(_worker(tmp_path, shared_service.url))
        finally:
            stop.set()
            killer.join()
    assert any("sync worker process died or hung: 1 of 2" in error for error in report.errors)
    assert report.incomplete
    assert report.delivered + report.duplicates + report.remaining == 300  # what it held went free
    again = _worker(tmp_path, shared_service.url).run_once()
    assert again.remaining == 0 and not BufferDirectory(tmp_path).pending()
    _assert_stored(shared_service, finals)


@pytest.mark.timeout(120)
def test_a_hung_helper_is_stopped_after_the_pass_and_its_entries_go_in_the_next(
    shared_service: ServiceProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    finals = _fill(tmp_path, 150)
    monkeypatch.setattr(sync_processes, "_MIN_OVERRUN_S", 0.5)
    with HungPort() as hung:  # the helper's batch never gets an answer
        report = ProcessPass(lambda: _worker(tmp_path, hung.url), 2).run(_worker(tmp_path, shared_service.url))
        assert not [child for child in multiprocessing.active_children() if child.is_alive()]
    assert report.incomplete and report.remaining > 0
    assert any("died or hung: 1 of 2" in error for error in report.errors)
    again = _worker(tmp_path, shared_service.url).run_once()
    assert again.remaining == 0
    _assert_stored(shared_service, finals)


def test_a_helper_that_fails_reports_why_and_this_process_delivers_everything(
    shared_service: ServiceProcess, tmp_path: Path
) -> None:
    finals = _fill(tmp_path, 150)

    def broken() -> SyncWorker:
        raise OSError("no buffer here")

    report = ProcessPass(broken, 2).run(_worker(tmp_path, shared_service.url))
    assert "sync worker process failed: OSError: no buffer here" in report.errors
    assert (report.delivered, report.remaining, report.incomplete) == (300, 0, False)
    _assert_stored(shared_service, finals)


def test_a_buffer_read_in_place_is_synced_by_one_process_from_then_on(
    shared_service: ServiceProcess, tmp_path: Path
) -> None:
    _fill(tmp_path, 150)
    (tmp_path / CLAIMS_DIR / LOCK_NAME).mkdir(parents=True)  # claims cannot be taken: read in place
    passes = ProcessPass(lambda: _worker(tmp_path, shared_service.url), 2)
    worker = _worker(tmp_path, shared_service.url)
    first = passes.run(worker)
    assert any(error.startswith("buffer not writable") for error in first.errors)
    second = passes.run(worker)  # a fresh helper would know nothing of what was sent
    assert second.delivered + second.duplicates == 0 and second.remaining == 300
