"""The statistics routes behind `telemetry stats` and the dashboard's charts:
per-agent figures (`/api/v1/stats/agents`) and per-agent time series
(`/api/v1/stats/timeline`). Both read; both need the token when auth is on."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from telemetry.service.http import json_response
from telemetry.service.routes_runs import query_time, store_of
from telemetry.service.store import MAX_AGENTS, AgentStatsQuery, Bucket, now_timestamp

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])
_ISO = "ISO 8601 with zone, inclusive"
# Without `since`, the timeline covers the last week: a chart of all time would be a chart
# of the table's size, not of recent health.
DEFAULT_TIMELINE = timedelta(days=7)


@router.get("/agents", response_model=list[dict[str, Any]])
async def agent_stats(
    request: Request,
    since: Annotated[str | None, Query(description=f"{_ISO}; all time if absent")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_AGENTS)] = MAX_AGENTS,
) -> Response:
    """Per agent: runs, successes, failures, running, runs_24h, last_start_time, p50_ms and
    p95_ms (nearest rank), success_rate (successes over ended runs); most runs first."""
    now = datetime.now(timezone.utc)
    query = AgentStatsQuery(day_ago=now_timestamp(now - timedelta(hours=24)), since=query_time("since", since), limit=limit)
    return json_response(await store_of(request).agent_stats(query))


@router.get("/timeline", response_model=list[dict[str, Any]])
async def timeline(
    request: Request,
    since: Annotated[str | None, Query(description=f"{_ISO}; the last 7 days if absent")] = None,
    bucket: Bucket = "hour",
) -> Response:
    """Per agent and hour (or day) of start_time: runs, successes, ended, mean_duration_ms."""
    start = query_time("since", since) or now_timestamp(datetime.now(timezone.utc) - DEFAULT_TIMELINE)
    return json_response(await store_of(request).timeline(start, bucket))
