"""`AsyncTelemetryClient` against the real service, in each delivery mode: every public
call, `track_run` ending by how its block ended (cancelled task included), `@tracked`
coroutine and plain functions, `current_run()` per task; rows read back over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import telemetry
from telemetry import AsyncRunContext, AsyncTelemetryClient
from tests.shell.helpers import buffer_entries, ndjson_lines, stored_runs
from tests.support.service import ServiceProcess

AsyncClientFactory = Callable[..., AsyncTelemetryClient]


def stored(service: ServiceProcess, run_id: str) -> dict[str, Any]:
    rows = stored_runs(service.url, run_id)
    assert len(rows) == 1, rows
    return rows[0]


def test_the_async_names_import_from_the_package() -> None:
    assert {"AsyncTelemetryClient", "AsyncRunContext", "current_run"} <= set(telemetry.__all__)
    assert telemetry.AsyncTelemetryClient.__module__ == "telemetry.shell.async_client"


def test_start_event_metrics_end_and_commit_reach_the_service(
    shared_service: ServiceProcess, make_async_client: AsyncClientFactory, tmp_path: Path
) -> None:
    client = make_async_client(shared_service.url)

    async def agent() -> tuple[str, tuple[bool, str], dict[str, Any]]:
        run_id = await client.start_run("async-agent", "translate", trigger_type="scheduler", product="words", batch="b7")
        await client.log_event(run_id, "checkpoint", {"step": 1})
        client.set_metrics(run_id, items_discovered=4)
        await client.end_run(run_id, status="failed", items_succeeded=3, items_failed=1, pages=9)
        commit = await client.associate_commit(run_id, "a1b2c3d", "ci", "dev <dev@example.com>")
        assert await client.flush(10.0)
        return run_id, commit, await client.get_stats()

    run_id, commit, stats = asyncio.run(agent())
    assert commit == (True, f"Commit a1b2c3d associated with run {run_id}")
    assert stats["source"] == "service" and "run_id_metrics" in stats
    row = stored(shared_service, run_id)
    assert (row["agent_name"], row["trigger_type"], row["status"], row["product"]) == ("async-agent", "scheduler", "failure", "words")
    assert (row["items_discovered"], row["items_succeeded"], row["items_failed"]) == (4, 3, 1)
    assert row["context_json"] == {"batch": "b7"} and row["metrics_json"] == {"pages": 9}
    assert (row["git_commit_hash"], row["git_commit_source"]) == ("a1b2c3d", "ci")
    assert buffer_entries(tmp_path / "base" / "buffer") == []
    kinds = [line["kind"] for line in ndjson_lines(tmp_path / "base" / "ndjson")]
    assert kinds == ["run_start", "event", "run_end", "run_update"]


def test_track_run_ends_success_or_failure_and_re_raises(shared_service: ServiceProcess, make_async_client: AsyncClientFactory) -> None:
    client = make_async_client(shared_service.url)
    contexts: list[AsyncRunContext] = []

    async def agent() -> None:
        async with client.track_run("async-agent", "ok", items_discovered=2) as ok:
            contexts.append(ok)
            assert telemetry.current_run() is ok
            await ok.log_event("step", {"n": 1})
            ok.set_metrics(items_succeeded=2)
        with pytest.raises(RuntimeError, match="disk on fire"):
            async with client.track_run("async-agent", "broken") as broken:
                contexts.append(broken)
                raise RuntimeError("disk on fire")
        assert telemetry.current_run() is None
        assert await client.flush(10.0)

    asyncio.run(agent())
    ok_row, broken_row = (stored(shared_service, context.run_id) for context in contexts)
    assert (ok_row["status"], ok_row["items_succeeded"]) == ("success", 2)
    assert broken_row["status"] == "failure" and "disk on fire" in broken_row["error_summary"]
    assert "Traceback" in broken_row["error_details"]


def test_cancelling_the_task_ends_the_run_cancelled_and_re_raises(
    shared_service: ServiceProcess, make_async_client: AsyncClientFactory
) -> None:
    client = make_async_client(shared_service.url)
    contexts: list[AsyncRunContext] = []

    async def slow_job() -> None:
        async with client.track_run("async-agent", "slow") as context:
            contexts.append(context)
            await asyncio.sleep(60)

    async def agent() -> None:
        task = asyncio.create_task(slow_job())
        while not contexts:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await client.flush(10.0)

    asyncio.run(agent())
    row = stored(shared_service, contexts[0].run_id)
    assert row["status"] == "cancelled" and "CancelledError" in row["error_summary"]


def test_a_timeout_around_the_block_ends_the_run_cancelled(shared_service: ServiceProcess, make_async_client: AsyncClientFactory) -> None:
    client = make_async_client(shared_service.url)

    @client.tracked("async-agent", "bounded")
    async def bounded() -> None:
        await asyncio.sleep(60)

    async def agent() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await bounded()
        assert await client.flush(10.0)

    asyncio.run(agent())
    rows = [row for row in _rows_of(shared_service, "async-agent") if row["job_type"] == "bounded"]
    assert [row["status"] for row in rows] == ["cancelled"]


def _rows_of(service: ServiceProcess, agent: str) -> list[dict[str, Any]]:
    import httpx

    return list(httpx.get(f"{service.url}/api/v1/runs", params={"agent_name": agent, "limit": 1000}).json())


def test_tracked_coroutines_see_their_own_run_in_each_task(shared_service: ServiceProcess, make_async_client: AsyncClientFactory) -> None:
    client = make_async_client(shared_service.url)

    @client.tracked("async-agent", "page", product="docs")
    async def page(number: int) -> str:
        run = telemetry.current_run()
        await asyncio.sleep(0.01 * (5 - number))  # interleave the tasks
        assert telemetry.current_run() is run
        await run.log_event("page", {"n": number})
        return str(run.run_id)

    async def agent() -> list[str]:
        ids = list(await asyncio.gather(*(page(n) for n in range(5))))
        assert await client.flush(10.0)
        return ids

    ids = asyncio.run(agent())
    assert len(set(ids)) == 5 and asyncio.iscoroutinefunction(page)
    assert {(stored(shared_service, run_id)["status"], stored(shared_service, run_id)["product"]) for run_id in ids} == {("success", "docs")}


def test_a_plain_function_tracked_by_the_async_client_is_a_run_of_its_thread(
    shared_service: ServiceProcess, make_async_client: AsyncClientFactory
) -> None:
    client = make_async_client(shared_service.url)

    @client.tracked("async-agent", "blocking-step")
    def blocking_step(x: int) -> tuple[str, int]:
        run = telemetry.current_run()
        run.log_event("step", {"x": x})
        run.set_metrics(items_succeeded=x)
        return run.run_id, x * 2

    async def agent() -> tuple[str, int]:
        result = await asyncio.to_thread(blocking_step, 21)
        assert await client.flush(10.0)
        return result

    run_id, doubled = asyncio.run(agent())
    assert doubled == 42 and not asyncio.iscoroutinefunction(blocking_step)
    row = stored(shared_service, run_id)
    assert (row["status"], row["items_succeeded"]) == ("success", 21)


def test_the_client_is_an_async_context_manager_that_closes(shared_service: ServiceProcess, tmp_path: Path, delivery: str) -> None:
    from tests.shell.helpers import fast_config

    async def agent() -> str:
        async with AsyncTelemetryClient(fast_config(shared_service.url, base_dir=tmp_path / "base")) as client:
            async with client.track_run("async-agent", "closing") as context:
                await context.log_event("step")
        return context.run_id

    run_id = asyncio.run(agent())
    # aclose delivered what background mode had in the outbox, and wrote the backup.
    assert stored(shared_service, run_id)["status"] == "success"
    assert [line["kind"] for line in ndjson_lines(tmp_path / "base" / "ndjson")] == ["run_start", "event", "run_end"]
