"""`AsyncServiceApi` on an event loop against the real service, and the shared commit rule
(`associate_by_run_id`) awaited through it: the same requests and readings as `ServiceApi`,
with real suspension."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import attrs

from telemetry.effects.records import CommitDetails, RunRecord
from telemetry.shell.async_service_api import AsyncServiceApi
from telemetry.shell.service_api import Delivered, NotFound, Unavailable
from telemetry.shell.sync.commits import RunBuffered, RunUnknown, associate_by_run_id
from tests.shell.helpers import stored_runs
from tests.support.receiver import closed_port_url
from tests.support.service import ServiceProcess

COMMIT = CommitDetails("a" * 40, "manual", "someone")


def _record() -> RunRecord:
    return RunRecord(f"async-{time.time_ns()}", f"async-run-{time.time_ns()}", "agent", "job", "2026-01-01T00:00:00+00:00")


async def _never(run_id: str) -> bool:
    return False


async def _always(run_id: str) -> bool:
    return True


def _on_a_loop(url: str, steps: Callable[[AsyncServiceApi], Awaitable[list[object]]]) -> list[object]:
    """What `steps` returned, run on a fresh event loop with an api for `url`, closed after."""

    async def scenario() -> list[object]:
        api = AsyncServiceApi(url)
        try:
            return await steps(api)
        finally:
            await api.aclose()

    return asyncio.run(scenario())


def test_creates_updates_and_associates_a_commit_by_run_id(shared_service: ServiceProcess) -> None:
    run = _record()

    async def steps(api: AsyncServiceApi) -> list[object]:
        return [
            await api.create(run),
            await api.create(run),
            await api.patch(attrs.evolve(run, status="success"), ("status",)),
            await associate_by_run_id(api, run.run_id, COMMIT, _never),
        ]

    assert _on_a_loop(shared_service.url, steps) == [Delivered("created"), Delivered("duplicate"), Delivered("updated"), Delivered("success")]
    [row] = stored_runs(shared_service.url, run.run_id)
    assert row["status"] == "success" and row["git_commit_hash"] == COMMIT.commit_hash


def test_a_run_nobody_holds_is_unknown_or_buffered_and_an_unknown_update_is_not_found(shared_service: ServiceProcess) -> None:
    run = _record()

    async def steps(api: AsyncServiceApi) -> list[object]:
        return [
            await associate_by_run_id(api, run.run_id, COMMIT, _never),
            await associate_by_run_id(api, run.run_id, COMMIT, _always),
            await api.patch(run, ("status",)),
        ]

    unknown, buffered, patched = _on_a_loop(shared_service.url, steps)
    assert isinstance(unknown, RunUnknown) and run.run_id in unknown.reason
    assert buffered == RunBuffered(run.run_id)
    assert isinstance(patched, NotFound)


def test_a_closed_port_is_unavailable_for_writes_reads_and_the_commit_rule() -> None:
    async def steps(api: AsyncServiceApi) -> list[object]:
        return [await api.create(_record()), await api.health(), await associate_by_run_id(api, "r", COMMIT, _always)]

    results = _on_a_loop(closed_port_url(), steps)
    assert all(isinstance(result, Unavailable) and "ConnectError" in result.reason for result in results)
