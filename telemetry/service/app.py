"""The ASGI application: the request guard (auth and size limit), then the fast lane for the
hot write paths, then FastAPI with the run and info routes and the API docs pages (their
assets served locally); the store is opened and closed with the application's lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone

from fastapi import FastAPI, Request, Response
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp

from telemetry.distribution import version
from telemetry.service import routes_info, routes_runs, routes_stats
from telemetry.service.dashboard import add_dashboard
from telemetry.service.config import ServiceConfig
from telemetry.service.fast_lane import FastLane
from telemetry.service.guard import DOCS_ASSETS, RequestGuard
from telemetry.service.http import COMMON_REPLIES, RETRY_AFTER_SECONDS, json_response, unavailable_detail
from telemetry.service.sqlite_store import SqliteStore
from telemetry.service.store import Store, StoreUnavailable

_log = logging.getLogger("telemetry.service")


def make_store(config: ServiceConfig) -> Store:
    """The store the configuration names."""
    if config.database_url is not None and config.store_kind == "postgresql":
        from telemetry.service.pg_store import PostgresStore  # needs the `postgres` extra

        return PostgresStore(config.database_url, config.pool_size, config.max_group_size)
    return SqliteStore(config.db_path, config.synchronous, config.max_group_size, config.busy_timeout_ms)


async def _unavailable(request: Request, error: Exception) -> Response:
    response = json_response(unavailable_detail(error), 503)
    response.headers["retry-after"] = RETRY_AFTER_SECONDS
    return response


async def sweep_periodically(store: Store, lease_seconds: int, interval_seconds: float) -> None:
    """End runs whose lease expired, every `interval_seconds`, until cancelled; a failed
    sweep is logged and tried again at the next interval."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            swept = await store.sweep(lease_seconds, datetime.now(timezone.utc))
        except Exception as error:
            _log.warning("automatic sweep failed: %s", error)
            continue
        if swept:
            _log.info("automatic sweep: %d run(s) without a heartbeat for %d s ended as timeout", swept, lease_seconds)


def create_api(config: ServiceConfig, store: Store) -> FastAPI:
    """The documented service for `config`, storing into `store` (opened at startup, closed -
    after every accepted write committed - at shutdown), without the guard in front."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.open()
        sweeper = None
        if config.sweep_lease_seconds > 0:
            sweeper = asyncio.create_task(
                sweep_periodically(store, config.sweep_lease_seconds, config.sweep_interval_seconds)
            )
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
            await store.close()

    # /docs and /redoc load Swagger UI and ReDoc from the service itself (the package ships
    # them), not from a CDN: the pages work on a machine without internet.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="telemetry",
        version=version(),
        description="Run telemetry for autonomous agents. A 2xx to a write means the write is durable.",
        lifespan=lifespan,
        responses=COMMON_REPLIES,
        # FastAPI's built-in OpenTelemetry hooks cost a provider lookup per request; this
        # service exports nothing to OpenTelemetry.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.store = store
    app.include_router(routes_runs.router)
    app.include_router(routes_info.router)
    app.include_router(routes_stats.router)
    add_dashboard(app)
    app.add_exception_handler(StoreUnavailable, _unavailable)
    return app


def create_app(config: ServiceConfig, store: Store, fast_lane: bool = True) -> ASGIApp:
    """What `telemetry serve` runs. The guard and the fast lane sit outside FastAPI, so the
    hot paths skip Starlette's middleware stack too (~6% of the event loop's time per single
    create). Without the fast lane, the FastAPI routes serve the create paths too (same
    functions, more CPU per request)."""
    api: ASGIApp = create_api(config, store)
    inner = FastLane(api, store) if fast_lane else api
    return RequestGuard(inner, auth_token=config.auth_token, max_body_bytes=config.max_body_bytes)
