"""An agent stand-in for the outbox kill tests: appends runs (a create, then an end) to an
outbox in a buffer directory as fast as it can, and prints each run's number once both
appends returned. `python tests/support/outbox_appender.py BUFFER_DIR PREFIX RUNS`; the
run numbered i has event id `PREFIX-i`."""

from __future__ import annotations

import sys
from pathlib import Path

import attrs

from telemetry.effects.records import BufferEntry, RunRecord
from telemetry.shell.outbox import Outbox
from telemetry.shell.self_metrics import SelfMetrics


def main(buffer_dir: str, prefix: str, runs: int) -> None:
    box = Outbox(Path(buffer_dir), SelfMetrics(), segment_bytes=64 << 10)
    for number in range(runs):
        record = RunRecord(
            event_id=f"{prefix}-{number}", run_id=f"{prefix}-run-{number}", agent_name="killed-agent",
            job_type="outbox-kill", start_time="2026-12-05T10:00:00+00:00",
        )  # fmt: skip
        ended = attrs.evolve(record, status="success", end_time="2026-12-05T10:00:01+00:00", items_succeeded=number)
        assert box.append_entry(BufferEntry("create", record))
        assert box.append_entry(BufferEntry("update", ended, ("status", "end_time", "items_succeeded")))
        print(number, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
