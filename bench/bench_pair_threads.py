"""What the background threads cost a start+end pair (background mode, service refused, so
the courier only backs off): pairs timed in several clients of one process, each client's
p50 and the p50 of its outbox `os.write` (timed through a wrapper), in three variants
taken in turn, in one run:

- as shipped: the NDJSON writer thread encodes the queued lines while the agent works;
- lines queued but encoded as `{}` (the writer's encoding taken away, the rest kept);
- no NDJSON lines queued at all.

A p50 near 50 µs with the write at ~0.7 µs is a client whose writer keeps out of the way;
~95 µs with the write at ~13 µs is one whose writer trades the interpreter lock with the
agent at every write (bench/README.md). The variants patch the library in this process
only.

Usage: .venv/bin/python bench/bench_pair_threads.py [--clients 5] [--pairs 3000]"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import telemetry.shell.ndjson as ndjson  # noqa: E402
import telemetry.shell.outbox.writer as writer  # noqa: E402
from bench_client import client_for, pct, timed  # noqa: E402 (beside this script)
from machine_speed import cpu_reference  # noqa: E402 (beside this script)
from tests.support.receiver import closed_port_url  # noqa: E402

US = 1e6
_writes: list[float] = []


def _timed_write(fd: int, data: bytes) -> int:
    started = time.perf_counter()
    written = os.write(fd, data)
    _writes.append(time.perf_counter() - started)
    return written


def _variant(name: str) -> None:
    """Patch the NDJSON writer for `name` (see the module)."""
    ndjson.encode_line = _ENCODE
    ndjson.NdjsonWriter.submit = _SUBMIT  # type: ignore[method-assign]
    if name == "lines encoded as {}":
        ndjson.encode_line = lambda kind, body, metrics: b"{}\n"
    elif name == "no lines queued":
        ndjson.NdjsonWriter.submit = lambda self, kind, body: None  # type: ignore[method-assign]


_ENCODE: Any = ndjson.encode_line
_SUBMIT: Any = ndjson.NdjsonWriter.submit
VARIANTS = ("as shipped", "lines encoded as {}", "no lines queued")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=3000)
    args = parser.parse_args()
    # The outbox writer's `os.write`, timed; every other use of `os` left as it is.
    writer.os = types.SimpleNamespace(**{**vars(os), "write": _timed_write})  # type: ignore[assignment]
    print(cpu_reference())
    with tempfile.TemporaryDirectory(prefix="bench-pair-threads-") as scratch:
        for variant in VARIANTS:
            _variant(variant)
            cells = []
            for number in range(args.clients):
                client = client_for(Path(scratch) / f"{variant}-{number}", closed_port_url(), heartbeat_interval_s=0, delivery="background")

                def pair() -> None:
                    client.end_run(client.start_run("bench", "pair"), items_succeeded=3)

                timed(pair, 200)
                _writes.clear()
                samples = timed(pair, args.pairs)
                cells.append(f"{pct(samples, .5) * US:.0f} ({pct(_writes, .5) * US:.1f})")
                client.close(0.1)
            print(f"{variant:22s} pair p50 (outbox write p50), µs, by client: {'  '.join(cells)}")
    _variant("as shipped")


if __name__ == "__main__":
    main()
