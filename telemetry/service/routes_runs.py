"""The run routes of `/api/v1/runs`: create, batch, mixed batch (`batch-update`), PATCH, list, get, associate-commit,
commit/repo URLs and the lease sweep. Each route validates (telemetry.service.validation),
calls the store and replies; a write is answered only once durable."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel

from telemetry.core.status import stored_status
from telemetry.service import ingest, mixed_batch
from telemetry.service.http import (
    INVALID_BODY,
    Replies,
    body_schema,
    invalid,
    json_response,
    not_found_detail,
    read_json,
    validated,
)
from telemetry.service.store import MAX_LEASE_SECONDS, Row, RunQuery, Store
from telemetry.service.urls import commit_url, repo_url
from telemetry.service.validation import (
    MAX_INTEGER,
    CommitAssociation,
    RunCreate,
    RunPatch,
    utc_timestamp,
    validated_commit,
)

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])
MAX_LIMIT = 1000
_NOT_FOUND: Replies = {404: {"description": "No run has this event_id"}}


class CreateReply(BaseModel):
    status: Literal["created", "duplicate"]
    event_id: str
    run_id: str


class BatchItem(BaseModel):
    index: int
    event_id: str | None
    status: Literal["created", "duplicate", "error"]
    reason: str | None = None


class BatchError(BaseModel):
    index: int
    event_id: str | None
    reason: str


class BatchReply(BaseModel):
    inserted: int
    duplicates: int
    errors: list[BatchError]
    results: list[BatchItem]


class MixedItem(BaseModel):
    operation: Literal["create", "update"]
    record: dict[str, Any]
    fields: list[str] = []


class MixedColumns(BaseModel):
    columns: list[str]
    items: list[tuple[Literal["create", "update"], list[str], list[Any]]]


class MixedResult(BaseModel):
    index: int
    event_id: str | None
    status: Literal["created", "duplicate", "updated", "not_found", "error"]
    reason: str | None = None


class MixedReply(BaseModel):
    created: int
    duplicate: int
    updated: int
    not_found: int
    error: int
    results: list[MixedResult]


class PatchReply(BaseModel):
    status: Literal["updated"]
    event_id: str
    updated_fields: list[str]


class CommitReply(BaseModel):
    status: Literal["success"]
    event_id: str
    run_id: str
    commit_hash: str


class SweepReply(BaseModel):
    swept: int


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _now() -> datetime:
    return datetime.now(timezone.utc)


@router.post("", status_code=201, response_model=CreateReply, responses=INVALID_BODY, openapi_extra=body_schema(RunCreate))
async def create_run(request: Request) -> Response:
    """Store a run; a repeated event_id is answered `duplicate` and changes nothing."""
    status, reply = await ingest.create_one(store_of(request), await request.body())
    return json_response(reply, status)


@router.post("/batch", response_model=BatchReply, responses=INVALID_BODY, openapi_extra=body_schema(array_of=RunCreate))
async def create_runs(request: Request) -> Response:
    """Store many runs; each item is validated on its own, so a bad one costs only itself."""
    status, reply = await ingest.create_many(store_of(request), await request.body())
    return json_response(reply, status)


_MIXED_BODY = {"anyOf": [{"type": "array", "items": MixedItem.model_json_schema()}, MixedColumns.model_json_schema()]}


@router.post(
    "/batch-update",
    response_model=MixedReply,
    responses=INVALID_BODY,
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _MIXED_BODY}}}},
)
async def apply_mixed(request: Request) -> Response:
    """Creates and updates in one request, each answered on its own: an update sets its
    `fields` to their values in `record`; an update of an unknown run is `not_found`
    (send the create of its record). See `telemetry.service.mixed_batch`."""
    status, reply = await mixed_batch.apply_mixed(store_of(request), await request.body())
    return json_response(reply, status)


@router.patch(
    "/{event_id}", response_model=PatchReply, responses={**_NOT_FOUND, **INVALID_BODY}, openapi_extra=body_schema(RunPatch)
)
async def update_run(event_id: str, request: Request) -> Response:
    """Change fields of a run. `running` never replaces a terminal status (that part of the
    PATCH is ignored and not listed in `updated_fields`); terminal -> terminal is allowed."""
    status, reply = await ingest.update_one(store_of(request), event_id, await request.body())
    return json_response(reply, status)


def _stored_filter_status(status: str | None) -> str | None:
    if status is None:
        return None
    stored = stored_status(status)
    if stored is None:
        raise invalid(("query", "status"), "not a run status")
    return stored


def query_time(name: str, value: str | None) -> str | None:
    """A time filter of the query string in stored (UTC) form; 422 naming it if it has no zone."""
    try:
        return None if value is None else utc_timestamp(value)
    except ValueError as error:
        raise invalid(("query", name), str(error)) from None


@router.get("", response_model=list[dict[str, Any]])
async def list_runs(
    request: Request,
    agent_name: str | None = None,
    status: str | None = None,
    job_type: str | None = None,
    run_id: str | None = None,
    start_time_from: Annotated[str | None, Query(description="ISO 8601 with zone, inclusive")] = None,
    start_time_to: Annotated[str | None, Query(description="ISO 8601 with zone, inclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_INTEGER)] = 0,
) -> Response:
    """Runs matching every given filter, newest start_time first."""
    query = RunQuery(
        agent_name=agent_name,
        status=_stored_filter_status(status),
        job_type=job_type,
        run_id=run_id,
        start_time_from=query_time("start_time_from", start_time_from),
        start_time_to=query_time("start_time_to", start_time_to),
        limit=limit,
        offset=offset,
    )
    return json_response(await store_of(request).list_runs(query))


@router.post("/sweep", response_model=SweepReply)
async def sweep_runs(request: Request, lease_seconds: Annotated[int, Query(ge=1, le=MAX_LEASE_SECONDS)]) -> Response:
    """Runs still `running` with no heartbeat (or start) for `lease_seconds` become
    `timeout`, with an error_summary saying so and end_time = now."""
    return json_response({"swept": await store_of(request).sweep(lease_seconds, _now())})


async def _found(request: Request, event_id: str) -> Row:
    row = await store_of(request).get(event_id)
    if row is None:
        raise HTTPException(404, not_found_detail(event_id))
    return row


# Declared before the `/{event_id}/...` routes, so a run_id named `commit-url` or
# `repo-url` still reaches this one.
@router.get("/by-run-id/{run_id}", response_model=dict[str, Any], responses={404: {"description": "No run has this run_id"}})
async def get_run_by_run_id(run_id: str, request: Request) -> Response:
    """The run with this run_id (the id the client returns and users know). A run_id is
    unique per client, not per service: if several runs share it, the newest start_time is
    returned (`GET /api/v1/runs?run_id=` lists them all)."""
    rows = await store_of(request).list_runs(RunQuery(run_id=run_id, limit=1))
    if not rows:
        raise HTTPException(404, not_found_detail(run_id, "run_id"))
    return json_response(rows[0])


@router.get("/{event_id}", response_model=dict[str, Any], responses=_NOT_FOUND)
async def get_run(event_id: str, request: Request) -> Response:
    return json_response(await _found(request, event_id))


@router.post(
    "/{event_id}/associate-commit",
    response_model=CommitReply,
    responses={**_NOT_FOUND, **INVALID_BODY},
    openapi_extra=body_schema(CommitAssociation),
)
async def associate_commit(event_id: str, request: Request) -> Response:
    """Record the git commit a run produced (hash 7-40 hex, source manual/llm/ci)."""
    commit = validated(validated_commit, await read_json(request))
    association = await store_of(request).associate_commit(event_id, commit.model_dump(), _now())
    if association is None:
        raise HTTPException(404, not_found_detail(event_id))
    reply = {"status": "success", "event_id": event_id, "run_id": association.run_id, "commit_hash": association.commit_hash}
    return json_response(reply)


@router.get("/{event_id}/commit-url", responses=_NOT_FOUND)
async def get_commit_url(event_id: str, request: Request) -> dict[str, str | None]:
    row = await _found(request, event_id)
    return {"commit_url": commit_url(row["git_repo"], row["git_commit_hash"])}


@router.get("/{event_id}/repo-url", responses=_NOT_FOUND)
async def get_repo_url(event_id: str, request: Request) -> dict[str, str | None]:
    row = await _found(request, event_id)
    return {"repo_url": repo_url(row["git_repo"])}
