"""Throughput of the telemetry service, started as a real process (synchronous=FULL, temp
SQLite file): (a) batch creates of 100 runs from 4, then 8 client threads, (b) single
creates from 4 threads (each 2xx sent only once durable), (c) the latency of a run's
start + end (POST, then PATCH, waiting for each) from one httpx client, (d) a raw sqlite3
loop of one transaction per row (synchronous=FULL, WAL) for reference. Prints runs/s,
latency percentiles and ratios.

Usage: .venv/bin/python bench/bench_service.py [--batches N] [--singles N] [--threads 4,8]

Load is generated from a separate process over raw keep-alive sockets with pre-built
requests, so the client takes as little of the machine's CPU as possible; server and
client CPU per run are printed, since on a shared machine they explain the rates."""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from telemetry.core.run_ids import generate_run_id
from telemetry.service.sqlite_inserts import insert_sql, plan_inserts
from telemetry.wire.sqlite_schema import ensure_schema
from telemetry.service.fast_validation import validated_create
from telemetry.shell.edge import fresh_event_id, fresh_nonce

from machine_speed import cpu_reference  # noqa: E402 (beside this script)

BATCH_SIZE = 100
RANDOM_EVENT_IDS = False
SINGLE_THREADS = 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(index: int) -> dict[str, Any]:
    """A create body as the client library sends it at start: its time-ordered event id and
    generated run id (`--uuid4-event-ids`: random event ids, as other v3 clients may send)."""
    now = datetime.now(timezone.utc)
    agent = f"bench-agent-{index % 8}"
    return {
        "event_id": uuid.uuid4().hex if RANDOM_EVENT_IDS else fresh_event_id(),
        "run_id": generate_run_id(agent, now, fresh_nonce()[:8]),
        "agent_name": agent,
        "job_type": "bench",
        "start_time": now.isoformat(timespec="microseconds"),
        "status": "running",
        "trigger_type": "cli",
        "items_discovered": index % 50,
        "host": "bench-host",
        "context_json": {"index": index, "tags": ["a", "b"]},
    }


def start_service(db_path: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    """`telemetry serve` on `port` (SQLite file `db_path`, unless `extra` names another
    store), once /health answers."""
    command = [sys.executable, "-m", "telemetry", "serve", "--port", str(port), "--db", str(db_path),
               "--synchronous", "FULL", "--log-level", "warning", *extra]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("service did not start")


def _read_response(connection: socket.socket, buffer: bytes) -> tuple[int, bytes]:
    """(status, leftover bytes) of one HTTP/1.1 response with a Content-Length."""
    while b"\r\n\r\n" not in buffer:
        buffer += connection.recv(65536)
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += connection.recv(65536)
    return status, rest[length:]


def _post_all(port: int, path: str, bodies: list[bytes], expected: int, failures: list[str]) -> None:
    """Post each body in turn on one keep-alive connection. A raw-socket client with
    pre-built requests: http.client costs ~200 us of CPU per request on a small machine,
    CPU the server under test needs."""
    connection = socket.create_connection(("127.0.0.1", port))
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    head = f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: "
    leftover = b""
    for body in bodies:
        connection.sendall(head.encode() + str(len(body)).encode() + b"\r\n\r\n" + body)
        status, leftover = _read_response(connection, leftover)
        if status != expected:
            failures.append(f"{path}: HTTP {status}")
    connection.close()


def _load(port: int, path: str, per_thread: list[list[bytes]], expected: int) -> tuple[float, float, list[str]]:
    """Runs in the load process: every thread posts its bodies; the elapsed wall time and
    the CPU time this (client) process spent."""
    failures: list[str] = []
    threads = [threading.Thread(target=_post_all, args=(port, path, bodies, expected, failures)) for bodies in per_thread]
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, time.process_time() - cpu, failures


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    pool: Any, server: int, port: int, path: str, per_thread: list[list[bytes]], expected: int, runs: int
) -> tuple[float, str]:
    """(runs/s, one line: runs/s, and server and client CPU microseconds per run)."""
    cpu_before = _cpu_seconds(server)
    elapsed, client_cpu, failures = pool.apply(_load, (port, path, per_thread, expected))
    server_cpu = _cpu_seconds(server) - cpu_before
    if failures:
        raise SystemExit(f"{len(failures)} failed requests, first: {failures[0]}")
    rate = runs / elapsed
    return rate, f"{rate:10,.0f} runs/s  (CPU per run: server {server_cpu / runs * 1e6:.0f} us, client {client_cpu / runs * 1e6:.0f} us)"




def _pairs(port: int, pairs: int) -> list[float]:
    """Runs in the load process: seconds per start+end pair of one sequential httpx client
    (the client library's transport, ~0.9 ms of its own per request on the 2-core VM)."""
    import httpx

    timings = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        for index in range(pairs):
            run = _run(index)
            started = time.perf_counter()
            created = client.post("/api/v1/runs", content=orjson.dumps(run))
            ended = client.patch(f"/api/v1/runs/{run['event_id']}", content=orjson.dumps(_END))
            timings.append(time.perf_counter() - started)
            if created.status_code != 201 or ended.status_code != 200:
                raise SystemExit(f"pair failed: HTTP {created.status_code}, {ended.status_code}")
    return sorted(timings)


_END = {"status": "success", "end_time": "2025-06-01T12:00:05.000000+00:00", "duration_ms": 5000, "items_succeeded": 3}


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def batch_bodies(threads: int, batches: int, offset: int) -> list[list[bytes]]:
    return [
        [orjson.dumps([_run(offset + t * 10**6 + b * BATCH_SIZE + i) for i in range(BATCH_SIZE)]) for b in range(batches)]
        for t in range(threads)
    ]


def single_bodies(threads: int, singles: int) -> list[list[bytes]]:
    return [[orjson.dumps(_run(t * 10**6 + i)) for i in range(singles)] for t in range(threads)]


def raw_sqlite(directory: Path, rows: int) -> float:
    """Rows/s of the same INSERT, one transaction (and fsync) per row, no HTTP."""
    connection = sqlite3.connect(directory / "raw.sqlite", isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    ensure_schema(connection)
    now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    chunks = [plan_inserts([validated_create(_run(i))], now)[0] for i in range(rows)]
    statements = [(insert_sql(chunk.columns, 1), chunk.params) for chunk in chunks]
    started = time.perf_counter()
    for sql, params in statements:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(sql, params)
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="4,8", help="client threads for the batch phase, one run per count")
    parser.add_argument("--batches", type=int, default=240, help="batches of 100 per run, shared by its threads")
    parser.add_argument("--singles", type=int, default=1500, help="single creates per thread (4 threads)")
    parser.add_argument("--pairs", type=int, default=400, help="sequential start+end pairs of one client")
    parser.add_argument("--raw-rows", type=int, default=3000, help="rows of the raw sqlite3 loop")
    parser.add_argument("--uuid4-event-ids", action="store_true", help="random event ids instead of the client's")
    args = parser.parse_args()
    thread_counts = [int(count) for count in args.threads.split(",")]
    global RANDOM_EVENT_IDS
    RANDOM_EVENT_IDS = args.uuid4_event_ids
    with tempfile.TemporaryDirectory(prefix="bench-service-") as scratch:
        directory = Path(scratch)
        port = free_port()
        service = start_service(directory / "telemetry.sqlite", port)
        context = multiprocessing.get_context("spawn")
        try:
            with context.Pool(1) as pool:
                pid = service.pid
                measure(pool, pid, port, "/api/v1/runs/batch", batch_bodies(2, 5, 9 * 10**7), 200, 1000)  # warm-up
                batches = {
                    threads: measure(pool, pid, port, "/api/v1/runs/batch",
                        batch_bodies(threads, args.batches // threads, threads * 10**7), 200,
                        threads * (args.batches // threads) * BATCH_SIZE)
                    for threads in thread_counts
                }  # fmt: skip
                singles = measure(pool, pid, port, "/api/v1/runs",
                    single_bodies(SINGLE_THREADS, args.singles), 201, SINGLE_THREADS * args.singles)  # fmt: skip
                pairs = pool.apply(_pairs, (port, args.pairs))
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(60)
        raw_rate = raw_sqlite(directory, args.raw_rows)
    print(f"machine: {os.cpu_count()} cores; service synchronous=FULL, WAL, group commit; {cpu_reference()}")
    single_rate, single = singles
    for threads, (_, line) in batches.items():
        print(f"(a) batch create, {threads} threads x {BATCH_SIZE}: {line}  target >= 20,000")
    print(f"(b) single create, {SINGLE_THREADS} threads:       {single}  target >= 2,000")
    p50, p90, p99 = (_percentile(pairs, fraction) * 1e3 for fraction in (0.5, 0.9, 0.99))
    print(f"(c) start+end pair, 1 httpx client:   p50 {p50:.2f} ms, p90 {p90:.2f} ms, p99 {p99:.2f} ms  target p50 <= 4 ms")
    print(f"(d) raw sqlite3, 1 transaction per row: {raw_rate:10,.0f} rows/s")
    batch_rate = batches[thread_counts[0]][0]
    print(f"ratios ({thread_counts[0]}-thread batches): batch/raw = {batch_rate / raw_rate:.1f}x, "
          f"single/raw = {single_rate / raw_rate:.2f}x, batch/single = {batch_rate / single_rate:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
