"""The service's calls awaited on an event loop: the requests of `ApiRequests` sent through
one keep-alive `httpx.AsyncHTTPTransport`, their answers read as `ServiceApi` reads them
(`classify`, `read_json`). It is `ServiceCalls` for the delivery rules of an asyncio port."""

from __future__ import annotations

from typing import Any

import httpx

from telemetry.effects.records import CommitDetails, RunRecord
from telemetry.shell.service_api import ApiRequests, Outcome, Unavailable, classify, read_json
from telemetry.wire.format import patch_body, record_to_wire


class AsyncServiceApi:
    """Typed calls to the telemetry service, as coroutines; never raises for HTTP or
    network trouble."""

    def __init__(
        self, base_url: str, token: str | None = None, connect_timeout: float = 0.5, read_timeout: float = 2.0
    ) -> None:
        self.requests = ApiRequests(base_url, token, connect_timeout, read_timeout)
        self._transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=8, max_connections=16))

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def _send(self, request: httpx.Request) -> httpx.Response | Unavailable:
        try:
            response = await self._transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
            return response
        except httpx.HTTPError as error:
            return Unavailable(f"{type(error).__name__}: {error}")

    async def _write(self, request: httpx.Request) -> Outcome:
        response = await self._send(request)
        return response if isinstance(response, Unavailable) else classify(response)

    async def _read(self, request: httpx.Request) -> Any:
        response = await self._send(request)
        return response if isinstance(response, Unavailable) else read_json(response)

    async def create(self, record: RunRecord) -> Outcome:
        return await self._write(self.requests.create_wire(record_to_wire(record)))

    async def patch(self, record: RunRecord, fields: tuple[str, ...]) -> Outcome:
        return await self._write(self.requests.patch_wire(record.event_id, patch_body(record, fields)))

    async def associate_commit(self, event_id: str, commit: CommitDetails) -> Outcome:
        return await self._write(self.requests.associate_commit(event_id, commit))

    async def find_runs(self, run_id: str) -> list[dict[str, Any]] | Outcome:
        """Stored rows with this run id, newest first."""
        return await self._read(self.requests.find_runs(run_id))  # type: ignore[no-any-return]

    async def health(self) -> dict[str, Any] | Outcome:
        return await self._read(self.requests.health())  # type: ignore[no-any-return]
