"""An agent stand-in for the outbox kill tests: appends runs (a create, then an end) to an
outbox in a buffer directory as fast as it can, and prints each run's number once both
appends returned. `python tests/support/outbox_appender.py BUFFER_DIR PREFIX RUNS`; the
run numbered i has event id `PREFIX-i`. `killed_appender` runs it and SIGKILLs it."""

from __future__ import annotations

import os
import signal
import subprocess
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


def killed_appender(buffer_dir: Path, prefix: str, after_runs: int) -> int:
    """Start an appender, SIGKILL it once it reported `after_runs` runs: the last run
    number it reported as appended."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [sys.executable, __file__, str(buffer_dir), prefix, "1000000"], stdout=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout is not None
    last = -1
    for line in process.stdout:
        last = int(line)
        if last >= after_runs:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    last = max([last, *(int(line) for line in process.stdout.read().split())])
    return last


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
