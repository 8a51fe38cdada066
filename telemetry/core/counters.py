"""The run-id counters of the spec and their snapshot shape (`run_id_metrics`)."""

from __future__ import annotations

from typing import Any

import attrs

from telemetry.core.run_ids import RejectionReason


@attrs.frozen
class RunIdCounters:
    """How run ids were chosen: custom or generated, refused and why, duplicates seen."""

    custom_accepted: int = 0
    generated: int = 0
    rejected_empty: int = 0
    rejected_too_long: int = 0
    rejected_invalid_chars: int = 0
    duplicates_detected: int = 0

    def tally(
        self,
        *,
        custom: int = 0,
        generated: int = 0,
        duplicate: int = 0,
        rejection: RejectionReason | None = None,
    ) -> RunIdCounters:
        """These counters plus one start's worth of counts (built directly: `attrs.evolve`
        costs several times more on the start path)."""
        return RunIdCounters(
            self.custom_accepted + custom,
            self.generated + generated,
            self.rejected_empty + (rejection == "empty"),
            self.rejected_too_long + (rejection == "too_long"),
            self.rejected_invalid_chars + (rejection == "invalid_chars"),
            self.duplicates_detected + duplicate,
        )


def run_id_metrics(counters: RunIdCounters) -> dict[str, Any]:
    """The `run_id_metrics` object of the spec's snapshot."""
    total_runs = counters.custom_accepted + counters.generated
    percentage = round(100.0 * counters.custom_accepted / total_runs, 2) if total_runs else 0.0
    return {
        "custom_accepted": counters.custom_accepted,
        "generated": counters.generated,
        "rejected": {
            "empty": counters.rejected_empty,
            "too_long": counters.rejected_too_long,
            "invalid_chars": counters.rejected_invalid_chars,
            "total": counters.rejected_empty
            + counters.rejected_too_long
            + counters.rejected_invalid_chars,
        },
        "duplicates_detected": counters.duplicates_detected,
        "total_runs": total_runs,
        "custom_percentage": percentage,
    }


def run_id_snapshot(counters: RunIdCounters, timestamp: str) -> dict[str, Any]:
    """`get_run_id_metrics()` / `RunIDMetrics.get_snapshot()`: metrics and when they were read."""
    return {"run_id_metrics": run_id_metrics(counters), "timestamp": timestamp}
