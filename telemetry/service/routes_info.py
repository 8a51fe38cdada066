"""The routes about the service and its data as a whole: /health (open even with auth
on), /metrics (JSON, and /metrics/prometheus), /version and the distinct values of a metadata field."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from telemetry.distribution import version
from telemetry.service import prometheus
from telemetry.service.http import json_response
from telemetry.service.routes_runs import store_of
from telemetry.service.store import METADATA_FIELDS, StoreUnavailable

router = APIRouter(tags=["service"])
API_VERSION = "v1"
SERVICE_VERSION = version()
# An enum path parameter: FastAPI answers 422 naming `field` for anything else, and the
# OpenAPI schema lists the allowed fields.
MetadataField = Enum("MetadataField", {name: name for name in METADATA_FIELDS}, type=str)  # type: ignore[misc]


class Health(BaseModel):
    status: str
    version: str
    store: str
    schema_version: int | None = None
    journal_mode: str | None = None
    synchronous: str | None = None
    pool_size: int | None = None


class MetadataValues(BaseModel):
    field: str
    values: list[Any]


@router.get("/health", response_model=Health, responses={503: {"description": "The store cannot serve requests"}})
async def health(request: Request) -> Response:
    """`ok` when the store can read and write, with the service's version, the store's
    schema version, and the journal mode and synchronous level its writer connection runs
    with (SQLite) or its pool size (PostgreSQL); 503 otherwise. Needs no token."""
    store = store_of(request)
    try:
        return json_response({"status": "ok", "version": SERVICE_VERSION, **await store.health()})
    except StoreUnavailable as error:
        return json_response({"status": "unavailable", "store": store.kind, "reason": str(error)}, 503)


@router.get("/metrics", response_model=dict[str, Any])
async def metrics(request: Request) -> Response:
    """`total_runs`, `agents` {name: count}, `recent_24h` (by start_time), `by_status`,
    `by_job_type`, `latest_start_time`, and the writer's transaction/write counts."""
    return json_response(await store_of(request).metrics(datetime.now(timezone.utc)))


@router.get("/metrics/prometheus", response_class=Response, responses={200: {"content": {prometheus.CONTENT_TYPE: {}}}})
async def metrics_prometheus(request: Request) -> Response:
    """The figures of `/metrics` in the Prometheus text exposition format (gauges
    `telemetry_runs`, `telemetry_runs_by_agent{agent_name}`, ..., counters of the writer)."""
    counts = await store_of(request).metrics(datetime.now(timezone.utc))
    return Response(prometheus.exposition(counts), media_type=prometheus.CONTENT_TYPE)


@router.get("/version", response_model=dict[str, str])
async def service_version(request: Request) -> Response:
    return json_response({"version": SERVICE_VERSION, "api": API_VERSION, "store": store_of(request).kind})


@router.get("/api/v1/metadata/{field}", response_model=MetadataValues)
async def metadata_values(field: MetadataField, request: Request) -> Response:
    """The distinct non-null values stored in `field` (one of the categorical fields)."""
    values = await store_of(request).distinct_values(field.value)
    return json_response({"field": field.value, "values": values})
