"""The courier on its thread: `flush` returns True once what was appended before it is
settled, False when the timeout passes first (service down); the exit leaves what it could
not deliver on disk for the next taker; a forked child appends to segments of its own."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from telemetry.shell.outbox import OutboxWorker
from telemetry.shell.outbox.drain import drain_outbox
from telemetry.shell.outbox.segments import segment_paths
from telemetry.shell.outbox.writer import Outbox
from telemetry.shell.self_metrics import SelfMetrics
from telemetry.shell.service_api import ServiceApi
from tests.outbox.helpers import outbox_and_courier, run_entries, stored
from tests.support.service import ServiceProcess, free_port


def test_flush_waits_until_the_service_holds_what_was_appended(
    tmp_path: Path, shared_api: ServiceApi, shared_service: ServiceProcess
) -> None:
    box, courier = outbox_and_courier(tmp_path, shared_api)
    worker = OutboxWorker(courier)
    worker.ensure_started()
    runs = [run_entries() for _ in range(200)]
    for create, end in runs:
        box.append_entry(create)
        box.append_entry(end)
    assert worker.flush(30.0)
    for create, _ in runs[::20]:
        assert stored(shared_service.db_path, create.record.event_id)["status"] == "success"  # type: ignore[index]
    worker.drain(time.monotonic() + 5.0)
    assert segment_paths(tmp_path / "outbox") == []  # all settled: nothing left behind


def test_with_the_service_down_flush_times_out_and_the_exit_leaves_the_entries_on_disk(
    tmp_path: Path, shared_api: ServiceApi, shared_service: ServiceProcess
) -> None:
    down = ServiceApi(f"http://127.0.0.1:{free_port()}", connect_timeout=0.1)
    box, courier = outbox_and_courier(tmp_path, down)
    worker = OutboxWorker(courier)
    create, end = run_entries()
    box.append_entry(create)
    box.append_entry(end)
    assert worker.flush(0.3) is False
    started = time.monotonic()
    worker.drain(time.monotonic() + 1.0)
    assert time.monotonic() - started < 1.5
    assert len(segment_paths(tmp_path / "outbox")) == 1
    report = drain_outbox(tmp_path, shared_api)  # this process still holds it: not taken
    assert (report.delivered, len(segment_paths(tmp_path / "outbox"))) == (0, 1)
    for segment in box.segments:
        segment.close()  # as the process's death would
    assert drain_outbox(tmp_path, shared_api).delivered == 2
    assert segment_paths(tmp_path / "outbox") == []
    assert stored(shared_service.db_path, create.record.event_id)["status"] == "success"  # type: ignore[index]


def test_a_forked_child_writes_segments_of_its_own(tmp_path: Path, shared_api: ServiceApi) -> None:
    box, _ = outbox_and_courier(tmp_path, shared_api)
    box.append_entry(run_entries()[0])
    pid = os.fork()
    if pid == 0:  # the child: one append, then gone without cleanup
        code = 0 if box.append_entry(run_entries()[0]) and len(box.segments) == 1 else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(segment_paths(tmp_path / "outbox")) == 2
    assert len(box.segments) == 1


def test_flush_marks_survive_the_courier_removing_segments_meanwhile(tmp_path: Path) -> None:
    # flush() reads each held segment's size while the courier deletes settled ones: the
    # size of a segment closed under it once failed the flush with EBADF.
    box = Outbox(tmp_path, SelfMetrics(), segment_bytes=1)  # a new segment per entry
    stop = threading.Event()

    def courier_removing() -> None:
        while not stop.is_set():
            box.append_entry(run_entries()[0])
            for segment in list(box.segments)[:-1]:
                box.forget(segment, segment.size())
                segment.remove()

    remover = threading.Thread(target=courier_removing)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race shows at once
    remover.start()
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            for segment, size in box.marks():
                assert size > 0, segment.name
    finally:
        stop.set()
        remover.join()
        sys.setswitchinterval(interval)
