"""The outbox against the real service: entries appended by the caller arrive in their final
state; settled segments are removed; what the service refuses goes to `rejected/` with its
reason; damaged frames are quarantined and counted; the size limit says no and counts it;
a service that cannot take a batch settles nothing, and the batch arrives later."""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import pytest

from telemetry.effects.records import BufferEntry
from telemetry.shell.outbox.segments import SEAL_GRACE_S
from telemetry.shell.service_api import ServiceApi
from tests.outbox.helpers import deliver_all, outbox_and_courier, run_entries, stored
from tests.support.service import ServiceProcess, free_port


def test_runs_appended_arrive_with_their_final_state(
    tmp_path: Path, shared_api: ServiceApi, shared_service: ServiceProcess
) -> None:
    box, courier = outbox_and_courier(tmp_path, shared_api)
    runs = [run_entries("failure", items_failed=index) for index in range(50)]
    for create, end in runs:
        assert box.append_entry(create) and box.append_entry(end)
    deliver_all(courier)
    for create, end in runs:
        row = stored(shared_service.db_path, create.record.event_id)
        assert row is not None and (row["status"], row["items_failed"]) == ("failure", end.record.items_failed)
    assert box.metrics.count("outbox.delivered") == 100
    assert box.settled(box.marks())


def test_an_end_whose_start_went_elsewhere_is_sent_as_a_create(
    tmp_path: Path, shared_api: ServiceApi, shared_service: ServiceProcess
) -> None:
    box, courier = outbox_and_courier(tmp_path, shared_api)
    _, end = run_entries("success")
    assert box.append_entry(end)
    deliver_all(courier)
    row = stored(shared_service.db_path, end.record.event_id)
    assert row is not None and row["status"] == "success"


def test_settled_sealed_segments_are_removed(tmp_path: Path, shared_api: ServiceApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("telemetry.shell.outbox.segments.SEAL_GRACE_S", 0.0)
    box, courier = outbox_and_courier(tmp_path, shared_api, segment_bytes=4096)
    for _ in range(20):
        for entry in run_entries():
            assert box.append_entry(entry)
    segments = len(box.segments)
    assert segments > 2
    deliver_all(courier)
    assert len(box.segments) == 1  # the active one
    assert len(os.listdir(box.directory)) == 2  # it and its ledger
    assert box.metrics.count("outbox.segments_removed") == segments - 1
    assert SEAL_GRACE_S > 0  # the module's own value is untouched outside this test


def test_a_refused_entry_goes_to_rejected_with_the_reason_and_the_rest_arrives(
    tmp_path: Path, shared_api: ServiceApi, shared_service: ServiceProcess
) -> None:
    box, courier = outbox_and_courier(tmp_path, shared_api)
    good, _ = run_entries()
    bad, _ = run_entries()
    bad = attrs.evolve(bad, record=attrs.evolve(bad.record, start_time="noon"))
    assert box.append_entry(bad) and box.append_entry(good)
    deliver_all(courier)
    assert stored(shared_service.db_path, good.record.event_id) is not None
    rejected = sorted((tmp_path / "rejected").iterdir())
    assert len(rejected) == 2 and "start_time" in rejected[1].read_text()
    assert box.metrics.count("outbox.rejected") == 1


def test_damaged_frames_are_quarantined_and_counted(
    tmp_path: Path, shared_api: ServiceApi, shared_service: ServiceProcess
) -> None:
    box, courier = outbox_and_courier(tmp_path, shared_api)
    first, second = run_entries()[0], run_entries()[0]
    assert box.append_entry(first)
    garbage = b"TOB1" + b"\xff" * 40  # our magic, then a length no frame has
    os.write(box.segments[0].fd, garbage)
    assert box.append_entry(second)
    deliver_all(courier)
    assert stored(shared_service.db_path, first.record.event_id) is not None
    assert stored(shared_service.db_path, second.record.event_id) is not None
    assert box.metrics.count("outbox.quarantined") == 1
    assert (tmp_path / "outbox" / "quarantine" / (box.segments[0].name + ".bad")).read_bytes() == garbage


def test_over_the_size_limit_append_says_no_and_counts(tmp_path: Path, shared_api: ServiceApi) -> None:
    box, _ = outbox_and_courier(tmp_path, shared_api, limit_bytes=4096)
    entries = [entry for _ in range(10) for entry in run_entries()]
    accepted = [box.append_entry(entry) for entry in entries]
    assert accepted[0] and not accepted[-1]
    assert box.metrics.count("outbox.over_limit") == accepted.count(False)


def test_nothing_is_settled_while_the_service_is_down_and_all_arrives_later(
    tmp_path: Path, service_factory: object
) -> None:
    port = free_port()
    api = ServiceApi(f"http://127.0.0.1:{port}", connect_timeout=0.2, read_timeout=2.0)
    box, courier = outbox_and_courier(tmp_path, api)
    entries: list[BufferEntry] = [entry for _ in range(5) for entry in run_entries()]
    for entry in entries:
        assert box.append_entry(entry)
    header_end = box.segments[0].acked
    assert courier.step() is False and courier.unavailable is not None
    assert box.segments[0].acked == header_end
    service = service_factory(port=port)  # type: ignore[operator]
    deliver_all(courier)
    assert courier.unavailable is None
    for entry in entries:
        assert stored(service.db_path, entry.record.event_id)["status"] == "success"  # type: ignore[index]
    api.close()
