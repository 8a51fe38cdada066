"""The background sync thread: started on demand, delivers what is buffered later, backs
off with jitter while the service is down and resumes when it is back, survives a broken
pass, stops when asked, starts afresh in a forked child, and tries again when the OS refused
its thread."""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry.effects.records import BufferEntry
from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.service_api import ServiceApi
from telemetry.shell.sync import SyncWorker
from telemetry.shell.workers import backoff_delay
from tests.support.service import ServiceProcess
from tests.support.waiting import wait_for
from tests.sync.helpers import simple_record, write_entry

WAIT_S = 30.0


def test_the_thread_delivers_entries_buffered_after_it_started_and_stops(shared_api: ServiceApi, tmp_path: Path) -> None:
    buffer = BufferDirectory(tmp_path)
    worker = SyncWorker(buffer, shared_api)
    assert not worker.running  # nothing starts before it is asked
    worker.start(interval_s=0.05)
    worker.start(interval_s=0.05)  # already running: no second thread
    write_entry(tmp_path, 0, BufferEntry("create", simple_record()))
    # The count, not an empty buffer: a claimed entry leaves the buffer before it is delivered.
    wait_for(lambda: worker.metrics.count("sync.delivered") == 1, "buffered entry delivered", WAIT_S)
    assert buffer.pending() == []
    assert worker.stop(timeout_s=5.0) and not worker.running


def test_the_thread_backs_off_while_the_service_is_down_and_resumes(service: ServiceProcess, tmp_path: Path) -> None:
    service.stop()
    buffer = BufferDirectory(tmp_path)
    write_entry(tmp_path, 0, BufferEntry("create", simple_record()))
    api = ServiceApi(service.url, connect_timeout=0.2)
    worker = SyncWorker(buffer, api, backoff_base_s=0.05, backoff_cap_s=0.2)
    worker.start(interval_s=0.05)
    wait_for(lambda: worker.metrics.count("errors.sync.service_unavailable") >= 3, "passes retried", WAIT_S)
    wait_for(lambda: len(buffer.pending()) == 1, "the entry kept while the service is down", WAIT_S)
    service.start()
    wait_for(lambda: buffer.pending() == [], "delivered once the service is back", WAIT_S)
    assert worker.stop(timeout_s=5.0)
    api.close()


def test_a_failing_pass_does_not_end_the_thread(shared_api: ServiceApi, tmp_path: Path) -> None:
    not_a_directory = tmp_path / "buffer"
    not_a_directory.write_text("a file where the buffer directory should be")
    worker = SyncWorker(BufferDirectory(not_a_directory), shared_api, backoff_base_s=0.01, backoff_cap_s=0.02)
    worker.start(interval_s=0.01)
    wait_for(lambda: worker.metrics.count("errors.sync.cannot_list_buffer") >= 3, "passes go on", WAIT_S)
    assert worker.running and worker.stop(timeout_s=5.0)


def _no_thread_to_be_had(self: threading.Thread) -> None:
    raise RuntimeError("can't start new thread")


def test_a_thread_the_os_refused_is_not_joined_and_is_started_on_the_next_try(
    shared_api: ServiceApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = BufferDirectory(tmp_path)
    worker = SyncWorker(buffer, shared_api)
    with monkeypatch.context() as refused:
        # What CPython raises when the OS refuses a thread (tests/shell/test_client_last_resort.py).
        refused.setattr(threading.Thread, "start", _no_thread_to_be_had)
        with pytest.raises(RuntimeError, match="can't start new thread"):
            worker.start(interval_s=0.05)
    assert not worker.running
    assert worker.stop(timeout_s=1.0)  # no thread to join, and no error for one never started
    worker.start(interval_s=0.05)
    write_entry(tmp_path, 0, BufferEntry("create", simple_record()))
    wait_for(lambda: worker.metrics.count("sync.delivered") == 1, "delivered by the retried thread", WAIT_S)
    assert worker.running and worker.stop(timeout_s=5.0)


def test_a_forked_child_runs_its_own_thread(shared_api: ServiceApi, tmp_path: Path) -> None:
    buffer = BufferDirectory(tmp_path)
    worker = SyncWorker(buffer, shared_api)
    worker.start(interval_s=60.0)  # idle in the parent during the fork
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread does not exist here
        code = 1
        try:
            worker.start(interval_s=0.05)
            write_entry(tmp_path, 0, BufferEntry("create", simple_record()))
            wait_for(lambda: buffer.pending() == [], "child delivered", WAIT_S)
            code = 0 if worker.stop(timeout_s=5.0) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # An empty buffer must mean delivered, not quarantined.
    assert not list((tmp_path / "corrupt").glob("*"))
    assert worker.running and worker.stop(timeout_s=5.0)


@given(failures=st.integers(1, 200), base=st.floats(0.01, 5), cap=st.floats(0.01, 120), seed=st.integers())
def test_backoff_grows_exponentially_with_jitter_up_to_the_cap(failures: int, base: float, cap: float, seed: int) -> None:
    ceiling = min(cap, base * 2 ** (failures - 1))
    delays = [backoff_delay(failures, base, cap, random.Random(seed + i)) for i in range(5)]
    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert len(set(delays)) > 1, "no jitter"
