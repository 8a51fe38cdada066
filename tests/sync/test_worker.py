"""SyncWorker against the real service: what each answer does to an entry (acknowledged
and deleted, sent again as a create, rejected with the reason, kept), and that an entry
is deleted only after the service acknowledged it, even when the service dies mid-pass."""

from __future__ import annotations

from pathlib import Path

import attrs
import httpx

from telemetry.effects.records import BufferEntry
from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.service_api import ServiceApi
from telemetry.shell.sync import SyncWorker
from telemetry.wire.format import record_to_wire
from tests.support.buffer_files import read_entry
from tests.support.service import ServiceFactory, ServiceProcess
from tests.sync.helpers import T0, claims_files, differences, fetch_row, simple_record, write_entry

STAMP = T0.isoformat(timespec="microseconds")


def _ended(event_id: str | None = None) -> tuple[BufferEntry, BufferEntry]:
    """A run's buffered create and its buffered end (an update carrying the full record)."""
    start = simple_record(event_id, start_time=STAMP, items_discovered=3)
    end = attrs.evolve(start, status="success", end_time=STAMP, duration_ms=0, items_succeeded=3)
    return BufferEntry("create", start), BufferEntry("update", end, ("status", "end_time", "duration_ms", "items_succeeded"))


def test_a_create_and_its_end_reach_the_service_as_the_final_state(
    shared_service: ServiceProcess, shared_api: ServiceApi, tmp_path: Path
) -> None:
    create, end = _ended()
    write_entry(tmp_path, 0, create)
    write_entry(tmp_path, 1, end)
    report = SyncWorker(BufferDirectory(tmp_path), shared_api).run_once()
    assert (report.delivered, report.duplicates, report.remaining) == (2, 0, 0)
    with httpx.Client(base_url=shared_service.url) as client:
        row = fetch_row(client, end.record.event_id)
    assert row is not None and differences(row, end.record) == {}


def test_an_update_of_a_stored_run_is_a_patch_and_a_repeated_create_a_duplicate(
    shared_service: ServiceProcess, shared_api: ServiceApi, tmp_path: Path
) -> None:
    create, end = _ended()
    with httpx.Client(base_url=shared_service.url) as client:
        assert client.post("/api/v1/runs", json=record_to_wire(create.record)).status_code == 201
        write_entry(tmp_path, 0, end)
        write_entry(tmp_path, 1, create)  # delivered after the end: must not undo it
        report = SyncWorker(BufferDirectory(tmp_path), shared_api).run_once()
        row = fetch_row(client, end.record.event_id)
    assert (report.delivered, report.duplicates, report.remaining) == (1, 1, 0)
    assert row is not None and differences(row, end.record) == {}


def test_an_update_of_an_unknown_run_becomes_a_create_of_its_full_record(
    shared_service: ServiceProcess, shared_api: ServiceApi, tmp_path: Path
) -> None:
    _, end = _ended()
    write_entry(tmp_path, 0, end)
    worker = SyncWorker(BufferDirectory(tmp_path), shared_api, window=1)
    report = worker.run_once()
    with httpx.Client(base_url=shared_service.url) as client:
        row = fetch_row(client, end.record.event_id)
    assert (report.delivered, report.remaining) == (1, 0)
    assert row is not None and differences(row, end.record) == {}


def test_refused_entries_go_to_rejected_with_the_reason_and_the_rest_is_delivered(
    shared_service: ServiceProcess, shared_api: ServiceApi, tmp_path: Path
) -> None:
    bad_create = BufferEntry("create", simple_record(start_time="yesterday"))
    create, end = _ended()
    bad_end = attrs.evolve(end, record=attrs.evolve(end.record, end_time="not a time"))
    for sequence, entry in enumerate((bad_create, create, bad_end)):
        write_entry(tmp_path, sequence, entry)
    report = SyncWorker(BufferDirectory(tmp_path), shared_api).run_once()
    assert (report.delivered, report.rejected, report.remaining) == (1, 2, 0)
    reasons = sorted(path.read_text() for path in (tmp_path / "rejected").glob("*.reason.txt"))
    assert len(reasons) == 2 and all("422" in reason for reason in reasons)
    assert any("start_time" in reason for reason in reasons) and any("end_time" in reason for reason in reasons)
    with httpx.Client(base_url=shared_service.url) as client:
        row = fetch_row(client, create.record.event_id)
    assert row is not None and row["status"] == "running"


def test_a_wrong_token_or_url_keeps_every_entry(service_factory: ServiceFactory, tmp_path: Path) -> None:
    service = service_factory(auth_token="s3cret")
    create, end = _ended()
    write_entry(tmp_path, 0, create)
    write_entry(tmp_path, 1, end)
    for api, error in (
        (ServiceApi(service.url, token="wrong"), "not authorized"),
        (ServiceApi(service.url + "/not-here", token="s3cret"), "no telemetry service at this URL"),
    ):
        report = SyncWorker(BufferDirectory(tmp_path), api).run_once()
        api.close()
        assert (report.delivered, report.rejected, report.remaining) == (0, 0, 2)
        assert any(message.startswith(error) for message in report.errors)
    api = ServiceApi(service.url, token="s3cret")
    assert SyncWorker(BufferDirectory(tmp_path), api).run_once().delivered == 2
    api.close()


def test_entries_are_deleted_only_after_the_service_acknowledged_them(
    service: ServiceProcess, tmp_path: Path
) -> None:
    """SIGKILL the service in the middle of a pass: every file that left the buffer is in
    the database, every other file is still pending, whole."""
    entries = [entry for _ in range(300) for entry in _ended()]
    written = {write_entry(tmp_path, sequence, entry).name: entry for sequence, entry in enumerate(entries)}
    api = ServiceApi(service.url, read_timeout=10.0)
    worker = SyncWorker(BufferDirectory(tmp_path), api, window=30, batch_size=10)

    def kill_once(done: int, total: int) -> None:
        # Between two windows: the next window is being claimed and read meanwhile.
        if done >= 100 and service.is_running():
            service.kill()

    report = worker.run_once(kill_once)
    assert report.service_unavailable and 0 < report.remaining < len(entries)
    assert claims_files(tmp_path) == []
    pending = BufferDirectory(tmp_path).pending()
    assert all(read_entry(path) == written[path.name] for path in pending)
    gone = set(written) - {path.name for path in pending}
    service.start()
    with httpx.Client(base_url=service.url) as client:
        for name in gone:  # acknowledged: the service holds what the entry said
            row = fetch_row(client, written[name].record.event_id)
            assert row is not None and (written[name].operation == "create" or row["status"] == "success")
        assert worker.run_once().remaining == 0
        stored = client.get("/metrics").json()["total_runs"]
    api.close()
    assert stored == len(entries) // 2
