"""A/B of the client's HTTP transport (issue 12): the same `ServiceApi` health calls and
single creates against one local service, through `PooledTransport` (httpx over
`http.client` pools) and through httpx's own `HTTPTransport`, alternating in one sitting.
The figure the pooled transport exists for is the client's CPU per request (the agent's
CPU); it earns its place at >= 1.5x. Run from the repository root:

    .venv/bin/python bench/bench_transport.py [--requests 2000] [--rounds 3]"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from telemetry.effects.records import RunRecord  # noqa: E402
from telemetry.shell.http_transport import PooledTransport  # noqa: E402
from telemetry.shell.service_api import ServiceApi  # noqa: E402
from tests.support.service import ServiceProcess  # noqa: E402

from machine_speed import cpu_reference  # noqa: E402 (beside this script)


def _record(number: int) -> RunRecord:
    return RunRecord(
        event_id=f"bench-{time.time_ns()}-{number}", run_id=f"run-{number}", agent_name="bench",
        job_type="ab", start_time="2026-01-01T00:00:00.000000+00:00",
    )  # fmt: skip


def _cpu_per_request(api: ServiceApi, requests: int) -> float:
    """Client CPU (this process) per create, in microseconds."""
    api.health()  # connect first: only requests on a warm connection are measured
    started = time.process_time()
    for number in range(requests):
        api.create(_record(number))
    return (time.process_time() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(cpu_reference())
    with tempfile.TemporaryDirectory() as directory:
        service = ServiceProcess(Path(directory) / "telemetry.sqlite").start()
        try:
            figures: dict[str, list[float]] = {"pooled (http.client)": [], "httpx HTTPTransport": []}
            for _ in range(args.rounds):
                for name in figures:
                    api = ServiceApi(service.url, read_timeout=30.0)
                    if name.startswith("httpx"):
                        api._transport.close()
                        api._transport = httpx.HTTPTransport()
                    figures[name].append(_cpu_per_request(api, args.requests))
                    api.close()
        finally:
            service.stop()
    for name, values in figures.items():
        print(f"{name}: client CPU per create, median of {args.rounds}: {statistics.median(values):.0f} us ({', '.join(f'{v:.0f}' for v in values)})")
    pooled, plain = (statistics.median(values) for values in figures.values())
    print(f"ratio httpx / pooled: {plain / pooled:.2f}x (earns its place at >= 1.5x)")


if __name__ == "__main__":
    main()
