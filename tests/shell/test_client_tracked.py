"""`@client.tracked(...)` and `telemetry.current_run()` on the threaded client: a function
and a coroutine function each run as a run, ended by how the call ended, with the run
reachable from inside; what the service stored is read back over HTTP."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import telemetry
from tests.shell.helpers import ClientFactory, stored_runs
from tests.support.service import ServiceProcess


def stored(service: ServiceProcess, run_id: str) -> dict[str, Any]:
    rows = stored_runs(service.url, run_id)
    assert len(rows) == 1, rows
    return rows[0]


def test_a_tracked_function_is_a_run_with_its_fields(shared_service: ServiceProcess, make_client: ClientFactory) -> None:
    client = make_client(shared_service.url)
    seen: list[Any] = []

    @client.tracked("tracked-agent", "resize", product="images")
    def resize(width: int, height: int = 2) -> int:
        """Multiplies."""
        seen.append(telemetry.current_run())
        telemetry.current_run().set_metrics(items_succeeded=width)
        return width * height

    assert resize(3, height=4) == 12
    assert resize.__name__ == "resize" and resize.__doc__ == "Multiplies."
    assert telemetry.current_run() is None
    assert client.flush(10.0)
    row = stored(shared_service, seen[0].run_id)
    assert (row["agent_name"], row["job_type"], row["status"]) == ("tracked-agent", "resize", "success")
    assert (row["product"], row["items_succeeded"]) == ("images", 3)


def test_each_call_is_its_own_run_even_with_a_custom_run_id(shared_service: ServiceProcess, make_client: ClientFactory) -> None:
    client = make_client(shared_service.url)

    @client.tracked("tracked-agent", "daily", run_id="tracked-daily-run")
    def daily() -> str:
        return str(telemetry.current_run().run_id)

    first, second = daily(), daily()
    assert first == "tracked-daily-run" and second == "tracked-daily-run"  # the first ended: no longer active
    assert client.flush(10.0)
    assert [row["status"] for row in stored_runs(shared_service.url, "tracked-daily-run")] == ["success", "success"]


def test_an_exception_fails_the_run_and_is_re_raised(shared_service: ServiceProcess, make_client: ClientFactory) -> None:
    client = make_client(shared_service.url)
    ids: list[str] = []

    @client.tracked("tracked-agent", "explode")
    def explode() -> None:
        ids.append(telemetry.current_run().run_id)
        raise ValueError("page 7 unreadable")

    with pytest.raises(ValueError, match="page 7"):
        explode()
    assert client.flush(10.0)
    row = stored(shared_service, ids[0])
    assert row["status"] == "failure" and "page 7 unreadable" in row["error_summary"]
    assert "Traceback" in row["error_details"]


def test_a_tracked_coroutine_function_stays_one_and_sees_its_run(shared_service: ServiceProcess, make_client: ClientFactory) -> None:
    client = make_client(shared_service.url)

    @client.tracked("tracked-agent", "fetch")
    async def fetch(n: int) -> str:
        await asyncio.sleep(0)
        run = telemetry.current_run()
        run.log_event("fetched", {"n": n})
        return str(run.run_id)

    async def both() -> list[str]:
        return list(await asyncio.gather(fetch(1), fetch(2)))

    assert asyncio.iscoroutinefunction(fetch)
    ids = asyncio.run(both())
    assert len(set(ids)) == 2  # each task saw its own run
    assert client.flush(10.0)
    assert [stored(shared_service, run_id)["status"] for run_id in ids] == ["success", "success"]


def test_a_cancelled_coroutine_ends_its_run_cancelled(shared_service: ServiceProcess, make_client: ClientFactory) -> None:
    client = make_client(shared_service.url)
    ids: list[str] = []

    @client.tracked("tracked-agent", "forever")
    async def forever() -> None:
        ids.append(telemetry.current_run().run_id)
        await asyncio.sleep(60)

    async def cancel_it() -> None:
        task = asyncio.create_task(forever())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_it())
    assert client.flush(10.0)
    assert stored(shared_service, ids[0])["status"] == "cancelled"


def test_current_run_is_per_thread_and_nests(shared_service: ServiceProcess, make_client: ClientFactory) -> None:
    client = make_client(shared_service.url)
    elsewhere: list[Any] = []
    with client.track_run("tracked-agent", "outer") as outer:
        assert telemetry.current_run() is outer
        thread = threading.Thread(target=lambda: elsewhere.append(telemetry.current_run()))
        thread.start()
        thread.join()
        with client.track_run("tracked-agent", "inner") as inner:
            assert telemetry.current_run() is inner
        assert telemetry.current_run() is outer
    assert elsewhere == [None] and telemetry.current_run() is None
