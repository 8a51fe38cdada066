"""The CPU reference every benchmark prints: on this project's VM the speed of plain Python
code moved by about 2x between sessions and within one (the bare `json.dumps` + write of
bench_client read 5.8 us one day and 12.3 us the next), so a figure is only comparable
with another together with the reference taken in the same run."""

from __future__ import annotations

import timeit


def cpu_reference() -> str:
    """One line: microseconds for `sum(range(1000))`, best of 5 (lower: faster machine)."""
    best = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000
    return f"cpu reference: sum(range(1000)) = {best * 1e6:.1f} us (best of 5; lower is faster)"
