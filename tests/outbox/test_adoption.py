"""Segments of dead processes: a process killed with SIGKILL while appending leaves its
segments to the next taker (a courier's adoption, or `telemetry sync`'s drain), which
delivers every run whose end was appended and removes the segments; a live process's
segment is never taken."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from telemetry.shell.outbox.drain import drain_outbox
from telemetry.shell.outbox.segments import adopt_segment, segment_paths
from telemetry.shell.service_api import ServiceApi
from tests.outbox.helpers import deliver_all, outbox_and_courier, run_entries, stored
from tests.support.outbox_appender import killed_appender
from tests.support.service import ServiceProcess

REPO = Path(__file__).resolve().parents[2]


def test_a_killed_process_segments_are_adopted_and_delivered_by_the_next_courier(
    tmp_path: Path, shared_api: ServiceApi, shared_service: ServiceProcess
) -> None:
    prefix = f"kill-{uuid.uuid4().hex[:8]}"
    last = killed_appender(tmp_path, prefix, 3000)
    assert len(segment_paths(tmp_path / "outbox")) > 1  # rotated while it ran
    box, courier = outbox_and_courier(tmp_path, shared_api)
    assert courier.adopt() == len(segment_paths(tmp_path / "outbox"))
    deliver_all(courier)
    for number in range(0, last + 1, 97):
        row = stored(shared_service.db_path, f"{prefix}-{number}")
        assert row is not None and (row["status"], row["items_succeeded"]) == ("success", number)
    row = stored(shared_service.db_path, f"{prefix}-{last}")
    assert row is not None and row["status"] == "success"
    assert segment_paths(tmp_path / "outbox") == []
    assert box.metrics.count("outbox.adopted") > 1


def test_sync_drains_a_killed_process_outbox(tmp_path: Path, shared_api: ServiceApi, shared_service: ServiceProcess) -> None:
    prefix = f"drain-{uuid.uuid4().hex[:8]}"
    last = killed_appender(tmp_path, prefix, 500)
    report = drain_outbox(tmp_path, shared_api)
    assert report.unavailable is None and report.segments_left == 0
    assert report.delivered + report.duplicates >= 2 * (last + 1)
    row = stored(shared_service.db_path, f"{prefix}-{last}")
    assert row is not None and row["status"] == "success"


def test_a_live_process_segment_is_not_adopted(tmp_path: Path, shared_api: ServiceApi) -> None:
    box, courier = outbox_and_courier(tmp_path, shared_api)
    assert box.append_entry(run_entries()[0])
    [path] = segment_paths(tmp_path / "outbox")
    assert adopt_segment(path) is None
    other, other_courier = outbox_and_courier(tmp_path, shared_api)
    assert other_courier.adopt() == 0
    deliver_all(courier)


def test_the_ledger_keeps_a_dead_process_from_resending_what_was_acknowledged(
    tmp_path: Path, shared_api: ServiceApi
) -> None:
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[2]);"
        "from tests.outbox.helpers import outbox_and_courier, run_entries, deliver_all;"
        "from telemetry.shell.service_api import ServiceApi;"
        "box, courier = outbox_and_courier(Path(sys.argv[1]), ServiceApi(sys.argv[3]));"
        "[box.append_entry(e) for _ in range(20) for e in run_entries()]; deliver_all(courier);"
        "box.append_entry(run_entries()[0]); import os; os.kill(os.getpid(), 9)"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path), str(REPO), shared_api.base_url], check=False)
    report = drain_outbox(tmp_path, shared_api)
    assert (report.delivered, report.duplicates) == (1, 0)
