"""`AsyncTelemetryClient` when things fail, made to happen for real in each delivery mode:
the service refused (closed port) or hung (accepts, never answers), a task cancelled while
its end waits, garbage input. The agent never sees an exception, its other tasks keep
running while a call waits, and every start and end is on disk."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from telemetry import AsyncTelemetryClient
from telemetry.core import COMMIT_FIELDS
from telemetry.effects.records import BufferEntry
from tests.shell.helpers import buffer_entries, ndjson_lines, on_disk, stored_runs
from tests.support.receiver import HANG, HungPort, Receiver, Reply, closed_port_url
from tests.support.service import ServiceProcess

AsyncClientFactory = Callable[..., AsyncTelemetryClient]
T = TypeVar("T")


async def ticking(call: Awaitable[T]) -> tuple[T, int]:
    """`call`'s result and how many times another task ran on the loop while it waited."""
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # the ticker is waiting on its first sleep
    try:
        return await call, ticks
    finally:
        done = True
        await task


async def three_runs(client: AsyncTelemetryClient) -> list[str]:
    run_ids = []
    for number in range(3):
        async with client.track_run("agent", "job", items_discovered=number) as run:
            await run.log_event("step", {"n": number})
            run.set_metrics(items_succeeded=number)
        run_ids.append(run.run_id)
    return run_ids


def entries_on_disk(tmp_path: Path) -> list[tuple[str, str, str | None]]:
    """The starts and ends waiting on disk (buffer files or outbox), commits left out."""
    entries = on_disk(tmp_path / "base" / "buffer")
    return [(entry.operation, entry.record.run_id, entry.record.status) for entry in entries if entry.fields != COMMIT_FIELDS]


def expected_entries(run_ids: list[str]) -> list[tuple[str, str, str | None]]:
    return [(operation, run_id, status) for run_id in run_ids for operation, status in (("create", "running"), ("update", "success"))]


def test_a_refused_service_costs_nothing_and_keeps_every_run_on_disk(
    make_async_client: AsyncClientFactory, tmp_path: Path
) -> None:
    client = make_async_client(closed_port_url())

    async def agent() -> tuple[list[str], tuple[bool, str]]:
        run_ids = await three_runs(client)
        commit = await client.associate_commit(run_ids[0], "abcdef1", "ci")
        await client.flush(0.1)
        return run_ids, commit

    run_ids, commit = asyncio.run(agent())
    assert commit == (True, f"Commit abcdef1 buffered for run {run_ids[0]}: it will be associated when the service can be reached")
    assert entries_on_disk(tmp_path) == expected_entries(run_ids)
    [commit_entry] = [entry for entry in on_disk(tmp_path / "base" / "buffer") if entry.fields == COMMIT_FIELDS]
    assert (commit_entry.record.run_id, commit_entry.record.git_commit_hash) == (run_ids[0], "abcdef1")
    assert [line["kind"] for line in ndjson_lines(tmp_path / "base" / "ndjson")].count("event") == 3
    assert client.self_metrics()["breaker.opened"] == 1


def test_a_hung_service_never_stalls_the_loop_and_costs_one_timeout(
    make_async_client: AsyncClientFactory, tmp_path: Path, delivery: str
) -> None:
    with HungPort() as hung:
        client = make_async_client(hung.url, breaker_cooldown_s=60.0)

        async def agent() -> tuple[str, int, list[str]]:
            first, ticks = await ticking(client.start_run("agent", "first"))
            await client.end_run(first)
            return first, ticks, await three_runs(client)

        first, ticks_while_waiting, run_ids = asyncio.run(agent())
    assert entries_on_disk(tmp_path) == expected_entries([first, *run_ids])
    metrics = client.self_metrics()
    if delivery == "sync":
        # The first start waited for the read timeout (0.4 s) while the other task ran;
        # the seven deliveries after it never touched the service.
        assert ticks_while_waiting >= 10, ticks_while_waiting
        assert metrics["delivery.fallback.unavailable"] == 1 and metrics["breaker.short_circuited"] == 7


def test_a_task_cancelled_again_while_its_end_waits_still_ends_its_run(make_async_client_in: AsyncClientFactory, tmp_path: Path) -> None:
    with Receiver(Reply(201, {"status": "created"})) as receiver:
        receiver.script(Reply(201, {"status": "created"}), HANG)  # the start is stored, the end hangs
        client = make_async_client_in(receiver.url, breaker_cooldown_s=60.0, delivery="sync")
        contexts: list[Any] = []

        async def job() -> None:
            async with client.track_run("agent", "cancelled-twice") as context:
                contexts.append(context)
                await asyncio.sleep(60)

        async def agent() -> None:
            task = asyncio.create_task(job())
            while not contexts:
                await asyncio.sleep(0.01)
            task.cancel()  # the end starts, and waits for the hung service ...
            await asyncio.sleep(0.1)
            task.cancel()  # ... and is cancelled again while it waits
            await asyncio.gather(task, return_exceptions=True)
            await asyncio.sleep(0.6)  # the end goes on to its read timeout (0.4 s), then the buffer

        asyncio.run(agent())
        assert [request.method for request in receiver.requests] == ["POST", "PATCH"]
    statuses = [(entry.operation, entry.record.status) for entry in on_disk(tmp_path / "base" / "buffer")]
    assert statuses == [("update", "cancelled")], statuses


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")

    __repr__ = __str__


def test_garbage_input_never_raises(make_async_client: AsyncClientFactory, tmp_path: Path) -> None:
    client = make_async_client(closed_port_url())

    async def agent() -> tuple[str, tuple[bool, str], bool]:
        run_id = await client.start_run(Unprintable(), ["job"], trigger_type=3, weird=Unprintable(), items_discovered="many")
        await client.log_event(Unprintable(), Unprintable(), {"x": Unprintable()})
        client.set_metrics(run_id, items_failed=object())
        await client.end_run(run_id, status=Unprintable())
        commit = await client.associate_commit(run_id, "not-hex", "ci")
        return run_id, commit, await client.flush("soon")

    run_id, commit, flushed = asyncio.run(agent())
    assert run_id.endswith(tuple("0123456789abcdef")) and "<unprintable Unprintable>" in run_id
    assert commit[0] is False and "not-hex" in commit[1]
    assert isinstance(flushed, bool)
    assert [entry.record.status for entry in on_disk(tmp_path / "base" / "buffer")] == ["running", "failure"]
    assert client.self_metrics()["errors.flush.budget"] == 1


def test_without_a_service_url_every_run_goes_to_the_buffer(make_async_client: AsyncClientFactory, tmp_path: Path) -> None:
    client = make_async_client("not-a-url")

    async def agent() -> list[str]:
        return await three_runs(client)

    run_ids = asyncio.run(agent())
    assert entries_on_disk(tmp_path) == expected_entries(run_ids)
    assert client.self_metrics()["delivery.no_service"] == 6


def test_the_breaker_closes_again_once_a_probe_task_reaches_the_service(make_async_client_in: AsyncClientFactory) -> None:
    with Receiver(Reply(201)) as receiver:
        receiver.script(HANG)
        client = make_async_client_in(receiver.url, breaker_cooldown_s=0.2, delivery="sync")

        async def agent() -> None:
            await client.start_run("agent", "first")  # hangs, times out, opens the breaker
            for _ in range(200):  # after the cooldown, a start starts the probe: a task on this loop
                await client.start_run("agent", "while-open")
                await asyncio.sleep(0.01)
                if client.self_metrics().get("breaker.probe_ok"):
                    break
            await client.start_run("agent", "after")

        asyncio.run(agent())
        requests = receiver.requests
    assert [r.path for r in requests].count("/health") == 1
    assert [r.json()["job_type"] for r in requests if r.method == "POST"] == ["first", "after"]
    assert client.self_metrics()["breaker.probe_ok"] == 1


def test_flush_without_a_service_url_says_the_runs_are_not_delivered(make_async_client_in: AsyncClientFactory) -> None:
    client = make_async_client_in("not-a-url", delivery="background")

    async def agent() -> tuple[bool, bool]:
        before = await client.flush(0.1)  # nothing accepted yet: nothing waits
        await three_runs(client)
        return before, await client.flush(0.1)

    assert asyncio.run(agent()) == (True, False)


def test_in_background_a_commit_the_service_cannot_take_waits_in_the_outbox_until_it_answers(
    make_async_client_in: AsyncClientFactory, tmp_path: Path
) -> None:
    service = ServiceProcess(tmp_path / "service.sqlite")  # its port refuses until it starts
    client = make_async_client_in(service.url, delivery="background")
    buffer = tmp_path / "base" / "buffer"

    async def agent() -> tuple[str, tuple[bool, str], list[BufferEntry], list[BufferEntry], bool]:
        run_id = await client.start_run("agent", "job")
        await client.end_run(run_id)
        commit = await client.associate_commit(run_id, "abcdef1", "ci")
        files, waiting = buffer_entries(buffer), on_disk(buffer)
        service.start()
        return run_id, commit, files, waiting, await client.flush(20.0)

    try:
        run_id, commit, files, waiting, flushed = asyncio.run(agent())
        assert commit == (True, f"Commit abcdef1 buffered for run {run_id}: it will be associated when the service can be reached")
        assert files == []  # no buffer file: the commit waited in the outbox, behind the run's start and end
        assert [(entry.operation, entry.fields) for entry in waiting][-1] == ("update", COMMIT_FIELDS)
        assert flushed
        [row] = stored_runs(service.url, run_id)
        assert (row["status"], row["git_commit_hash"], row["git_commit_source"]) == ("success", "abcdef1", "ci")
    finally:
        service.stop()
