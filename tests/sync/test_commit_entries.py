"""SyncWorker and buffered commits of runs known only by run id, against the real service:
sent after the pass's creates and updates whatever their order in the buffer, kept while
their run's create is still in the buffer (even held by another pass), kept while the
service is down, and quarantined when the file is not a commit entry."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson

from telemetry.effects.records import BufferEntry, CommitDetails, CommitEntry
from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.service_api import ServiceApi
from telemetry.shell.sync import SyncWorker
from tests.support.service import ServiceProcess, free_port
from tests.sync.helpers import fetch_row, simple_record, write_entry

DETAILS = CommitDetails("abcdef1234", "manual", None, None)


def _commit_of(shared_service: ServiceProcess, event_id: str) -> object:
    with httpx.Client(base_url=shared_service.url) as client:
        row = fetch_row(client, event_id)
    return None if row is None else row["git_commit_hash"]


def test_a_commit_older_than_its_runs_create_is_sent_after_it_in_the_same_pass(
    shared_service: ServiceProcess, shared_api: ServiceApi, tmp_path: Path
) -> None:
    record = simple_record()
    write_entry(tmp_path, 0, CommitEntry(record.run_id, DETAILS))
    write_entry(tmp_path, 1, BufferEntry("create", record))
    report = SyncWorker(BufferDirectory(tmp_path), shared_api, window=1).run_once()
    assert (report.delivered, report.rejected, report.remaining) == (2, 0, 0)
    assert _commit_of(shared_service, record.event_id) == "abcdef1234"


def test_a_commit_waits_while_another_pass_holds_its_runs_create(
    shared_service: ServiceProcess, shared_api: ServiceApi, tmp_path: Path
) -> None:
    record = simple_record()
    create = write_entry(tmp_path, 0, BufferEntry("create", record))
    write_entry(tmp_path, 1, CommitEntry(record.run_id, DETAILS))
    buffer = BufferDirectory(tmp_path)
    other_pass = buffer.claims(300.0)
    assert other_pass.take([create.name], 0, 1)[0] == [create.name]
    worker = SyncWorker(buffer, shared_api)
    try:
        report = worker.run_once()
    finally:
        other_pass.release()
    assert (report.delivered, report.rejected, report.remaining) == (0, 0, 1)  # the create is held
    assert worker.metrics.count("sync.commits_waiting") == 1
    report = worker.run_once()
    assert (report.delivered, report.rejected, report.remaining) == (2, 0, 0)
    assert _commit_of(shared_service, record.event_id) == "abcdef1234"


def test_a_commit_stays_in_the_buffer_while_the_service_is_down(tmp_path: Path) -> None:
    write_entry(tmp_path, 0, CommitEntry("some-run", DETAILS))
    api = ServiceApi(f"http://127.0.0.1:{free_port()}")
    try:
        report = SyncWorker(BufferDirectory(tmp_path), api).run_once()
    finally:
        api.close()
    assert report.service_unavailable and (report.rejected, report.remaining) == (0, 1)


def test_a_commit_file_whose_details_are_not_text_is_quarantined(shared_api: ServiceApi, tmp_path: Path) -> None:
    path = write_entry(tmp_path, 0, CommitEntry("some-run", DETAILS))
    document = orjson.loads(path.read_bytes())
    document["commit"]["commit_hash"] = 1234567
    path.write_bytes(orjson.dumps(document))
    report = SyncWorker(BufferDirectory(tmp_path), shared_api).run_once()
    assert (report.quarantined, report.remaining) == (1, 0)
    assert (tmp_path / "corrupt" / f"{path.name}.reason.txt").read_text().startswith("WireFormatError: commit details")
