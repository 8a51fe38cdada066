"""Failure paths of the store, made to happen for real: a file locked by another writer
answers 503 + Retry-After (clients buffer and retry), a whole commit group at once, and the
service recovers when the lock goes; a store whose writer is gone fails /health and writes with 503; a failing write job
never costs the other jobs of its commit group."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from telemetry.service.app import create_app
from telemetry.service.config import build_config
from telemetry.service.sqlite_inserts import plan_inserts, run_inserts
from telemetry.wire.sqlite_schema import ensure_schema
from telemetry.service.sqlite_store import SqliteStore
from telemetry.service.sqlite_writer import GroupWriter
from telemetry.service.fast_validation import validated_create
from tests.service.helpers import file_rows, run_body
from tests.support.service import ServiceFactory

# The SQLite file and its writer thread: locked files, failing jobs, a stopped writer.
pytestmark = pytest.mark.sqlite_only


def test_a_locked_file_answers_503_then_recovers(service_factory: ServiceFactory) -> None:
    service = service_factory(args=["--busy-timeout-ms", "200"])
    locker = sqlite3.connect(service.db_path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    with service.client() as api:
        with ThreadPoolExecutor(3) as pool:
            replies = list(pool.map(lambda _: api.post("/api/v1/runs", json=run_body()), range(3)))
        assert [reply.status_code for reply in replies] == [503, 503, 503]
        assert replies[0].headers["retry-after"] == "1"
        locker.execute("ROLLBACK")
        locker.close()
        body = run_body()
        assert api.post("/api/v1/runs", json=body).status_code == 201
        assert api.get("/metrics").json()["writer"]["errors"] == {"OperationalError": 3}
        assert api.get("/health").json()["status"] == "ok"
    assert len(file_rows(service.db_path)) == 1
    assert service.stderr_text().count("SQLite write failed") == 1  # logged once per kind


def test_a_locked_file_fails_a_whole_group_within_one_busy_timeout(service_factory: ServiceFactory) -> None:
    busy_timeout_s = 1.0
    service = service_factory(args=["--busy-timeout-ms", str(int(busy_timeout_s * 1000))])
    locker = sqlite3.connect(service.db_path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # the write lock, as a user's sqlite3 session takes it

    def timed_create(api: httpx.Client) -> tuple[int, float]:
        started = time.monotonic()
        reply = api.post("/api/v1/runs", json=run_body())
        return reply.status_code, time.monotonic() - started

    with service.client() as api, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: timed_create(api), range(8)))
        # The first create waits one busy timeout alone; the others queue meanwhile and form
        # the next group, which waits one more. Retried one by one, they took ~8 timeouts.
        assert [status for status, _ in answers] == [503] * 8
        assert max(elapsed for _, elapsed in answers) < 4 * busy_timeout_s, answers
        locker.execute("ROLLBACK")
        locker.close()
        after = list(pool.map(lambda _: api.post("/api/v1/runs", json=run_body()).status_code, range(8)))
        assert after == [201] * 8
    assert len(file_rows(service.db_path)) == 8


async def _replies_of_a_closed_store(db_path: Path) -> list[httpx.Response]:
    store = SqliteStore(db_path)
    app = create_app(build_config(db_path=db_path, env={}), store)
    await store.open()
    await store.close()  # the writer is gone, as if it had died
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://in-process") as client:
        return [
            await client.get("/health"),
            await client.post("/api/v1/runs", json=run_body()),  # served by the fast lane
            await client.patch("/api/v1/runs/any", json={"status": "success"}),  # by FastAPI
        ]


def test_a_store_that_cannot_write_answers_503_on_health_and_writes(tmp_path: Path) -> None:
    health, create, patch = asyncio.run(_replies_of_a_closed_store(tmp_path / "closed.sqlite"))
    assert health.status_code == 503 and health.json()["status"] == "unavailable"
    for write in (create, patch):
        assert write.status_code == 503 and write.headers["retry-after"] == "1"
    assert not file_rows(tmp_path / "closed.sqlite")


def _writer(path: Path) -> GroupWriter:
    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode = WAL")
        return connection

    writer = GroupWriter(connect, max_group_size=64)
    writer.start()
    writer.run_sync(ensure_schema)
    return writer


def test_a_failing_job_never_costs_the_rest_of_its_group(tmp_path: Path) -> None:
    writer = _writer(tmp_path / "writer.sqlite")
    gate = threading.Event()
    bodies = [run_body() for _ in range(6)]

    def insert(body: dict[str, object]) -> Callable[[sqlite3.Connection], list[str]]:
        chunks = plan_inserts([validated_create(body)], "now")
        return lambda connection: list(run_inserts(connection, chunks))

    def broken(connection: sqlite3.Connection) -> list[str]:
        run_inserts(connection, plan_inserts([validated_create(bodies[0])], "now"))
        raise ValueError("this job is broken")

    # The first job holds the writer until every other job is queued, so they form one group.
    started = threading.Event()

    def block(connection: sqlite3.Connection) -> bool:
        started.set()
        return gate.wait(10)

    with ThreadPoolExecutor(8) as pool:
        blocker = pool.submit(writer.run_sync, block)
        assert started.wait(10)
        futures = [pool.submit(writer.run_sync, insert(body)) for body in bodies[1:3]]
        failing = pool.submit(writer.run_sync, broken)
        futures += [pool.submit(writer.run_sync, insert(body)) for body in bodies[3:]]
        deadline = time.monotonic() + 10
        while writer.queued() < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer.queued() == 6
        gate.set()
        assert blocker.result() is True
        assert [future.result() for future in futures] == [["created"]] * 5
        with pytest.raises(ValueError, match="broken"):
            failing.result()
    writer.stop()
    stored = {row["event_id"] for row in file_rows(tmp_path / "writer.sqlite")}
    assert stored == {body["event_id"] for body in bodies[1:]}
    assert writer.errors == {"ValueError": 1}
    # schema + blocker + the five good jobs, each in a transaction of its own after the
    # group they shared failed
    assert (writer.groups, writer.jobs) == (7, 7)


def test_a_stopped_writer_refuses_new_jobs(tmp_path: Path) -> None:
    writer = _writer(tmp_path / "stopped.sqlite")
    writer.stop()
    with pytest.raises(Exception, match="shutting down"):
        writer.run_sync(lambda connection: 0)
