"""The central property (design §4, spec INV-2 made stronger): for any order, repetition and
interleaving of several runs' buffered creates and updates, delivered over any number of
sync passes, the real service ends holding exactly each run's final state."""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.service_api import ServiceApi
from telemetry.shell.sync import SyncWorker
from tests.support.service import ServiceProcess
from tests.sync.helpers import Buffered, RunPlan, buffered_run, differences, fetch_row, write_entry

TERMINAL_WORDS = ("success", "failed", "failure", "partial", "timeout", "cancelled", "completed")
counts = st.integers(min_value=0, max_value=10_000)
small_json = st.dictionaries(
    st.sampled_from(["rows", "pages", "ratio", "note"]),
    st.one_of(st.integers(-5, 5), st.floats(0, 1, allow_nan=False), st.text(max_size=5)),
    max_size=3,
)
plans = st.builds(
    RunPlan,
    start_fields=st.fixed_dictionaries(
        {"items_discovered": counts}, optional={"product": st.sampled_from(["a", "b"]), "context_json": small_json}
    ),
    metrics=st.fixed_dictionaries({"items_succeeded": counts}, optional={"metrics_json": small_json}),
    status=st.sampled_from(TERMINAL_WORDS),
    end_fields=st.fixed_dictionaries(
        {"items_failed": counts},
        optional={"error_summary": st.text(max_size=20), "output_summary": st.text(max_size=20)},
    ),
    commit=st.sampled_from([None, "before_end", "after_end"]),
    seconds=st.integers(0, 10_000),
)


@st.composite
def schedules(draw: st.DrawFn, entry_count: int) -> list[list[int]]:
    """Passes of entry indexes: every entry at least once, some repeated, in any order,
    cut into one or more sync passes."""
    repeats = draw(st.lists(st.integers(0, entry_count - 1), max_size=entry_count))
    order = draw(st.permutations(list(range(entry_count)) + repeats))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(order) - 1)), max_size=3)))
    bounds = [0, *cuts, len(order)]
    return [order[a:b] for a, b in zip(bounds, bounds[1:]) if a < b]


@settings(max_examples=30)
@given(plans=st.lists(plans, min_size=1, max_size=3), data=st.data())
def test_any_delivery_order_converges_to_each_runs_final_state(
    plans: list[RunPlan], data: st.DataObject, shared_api: ServiceApi, shared_service: ServiceProcess
) -> None:
    runs: list[Buffered] = [buffered_run(plan) for plan in plans]  # fresh event ids each example
    entries = [entry for run in runs for entry in run.entries]
    passes = data.draw(schedules(len(entries)), label="passes")
    with tempfile.TemporaryDirectory() as directory:
        buffer_dir = Path(directory) / "buffer"
        window = data.draw(st.integers(1, 8), label="window")
        worker = SyncWorker(BufferDirectory(buffer_dir, fsync="never"), shared_api, window=window, batch_size=3)
        sequence = 0
        for indexes in passes:
            for index in indexes:
                write_entry(buffer_dir, sequence, entries[index])
                sequence += 1
            report = worker.run_once()
            assert (report.remaining, report.rejected, report.quarantined, report.errors) == (0, 0, 0, ())
    with httpx.Client(base_url=shared_service.url) as client:
        for run in runs:
            row = fetch_row(client, run.final.event_id)
            assert row is not None, f"run {run.final.run_id} never reached the service"
            assert differences(row, run.final) == {}
