"""Ingest on PostgreSQL beside SQLite, in one run: the service as a real process on each
store in turn (SQLite: temp file, synchronous=FULL; PostgreSQL: a fresh database on the
local server, dropped afterwards), (a) batch creates of 100 runs from 4 client threads
(POST /api/v1/runs/batch), (b) single creates from 4 threads; each 2xx only once committed.
Prints runs/s and server CPU per run for each store, and the PostgreSQL server's own CPU
per run (its backends' processes), since the two share the machine.

Usage: .venv/bin/python bench/bench_postgres.py [--batches N] [--singles N] [--pool-size N]
           [--admin-url postgresql://postgres@127.0.0.1:5432/test] [--pg-options -csynchronous_commit=off]

Load comes from a separate process over raw keep-alive sockets (bench_service.py's)."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from bench_service import BATCH_SIZE, SINGLE_THREADS, batch_bodies, free_port, measure, single_bodies, start_service
from machine_speed import cpu_reference  # noqa: E402 (beside this script)

THREADS = 4


def _postgres_cpu_seconds() -> float:
    """CPU time of every process named postgres on this machine (the server and its backends)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() != "postgres":
                    continue
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the process ended meanwhile
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _ingest(pool: Any, service_pid: int, port: int, batches: int, singles: int) -> dict[str, tuple[float, str, float]]:
    """(runs/s, line, PostgreSQL CPU us per run) of the batch and single phases."""
    measure(pool, service_pid, port, "/api/v1/runs/batch", batch_bodies(2, 5, 9 * 10**7), 200, 1000)  # warm-up
    phases = {
        "batch": ("/api/v1/runs/batch", batch_bodies(THREADS, batches // THREADS, 10**7), 200,
                  THREADS * (batches // THREADS) * BATCH_SIZE),
        "single": ("/api/v1/runs", single_bodies(SINGLE_THREADS, singles), 201, SINGLE_THREADS * singles),
    }  # fmt: skip
    results = {}
    for name, (path, bodies, expected, runs) in phases.items():
        before = _postgres_cpu_seconds()
        rate, line = measure(pool, service_pid, port, path, bodies, expected, runs)
        results[name] = (rate, line, (_postgres_cpu_seconds() - before) / runs * 1e6)
    return results


def _on_store(directory: Path, extra: tuple[str, ...], batches: int, singles: int) -> dict[str, tuple[float, str, float]]:
    port = free_port()
    service = start_service(directory / "telemetry.sqlite", port, *extra)
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            return _ingest(pool, service.pid, port, batches, singles)
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=240, help="batches of 100, shared by the 4 threads")
    parser.add_argument("--singles", type=int, default=1500, help="single creates per thread (4 threads)")
    parser.add_argument("--pool-size", type=int, default=10, help="the PostgreSQL service's pool size")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--pg-options", default="", help="server settings of the service's sessions, e.g. "
                        "'-csynchronous_commit=off' to see what the WAL flush of each commit costs (not durable)")
    args = parser.parse_args()
    name = f"telemetry_bench_{uuid.uuid4().hex[:8]}"
    url = f"{args.admin_url.rpartition('/')[0]}/{name}"
    if args.pg_options:
        url += f"?options={quote(args.pg_options)}"
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-postgres-") as scratch:
            stores = {
                "sqlite": _on_store(Path(scratch), (), args.batches, args.singles),
                "postgresql": _on_store(Path(scratch), ("--database-url", url, "--pool-size", str(args.pool_size)),
                                        args.batches, args.singles),
            }  # fmt: skip
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    options = f", options {args.pg_options}" if args.pg_options else ""
    print(f"machine: {os.cpu_count()} cores; {cpu_reference()}; PostgreSQL pool {args.pool_size}{options}")
    for store, results in stores.items():
        for phase, target in (("batch", "20,000"), ("single", "2,000")):
            _, line, pg_cpu = results[phase]
            what = f"{phase} create, {THREADS} threads" + (f" x {BATCH_SIZE}" if phase == "batch" else "")
            server = f", PostgreSQL {pg_cpu:.0f} us" if store == "postgresql" else ""
            print(f"{store:10} {what:30} {line}{server}  target >= {target}")


if __name__ == "__main__":
    main()
