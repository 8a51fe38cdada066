"""Contract of create, get and list over real HTTP against a real service process and
SQLite file: idempotent creates, status aliases, the 422 rules (naming the field), the
stored UTC timestamps, filters, ordering and paging."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from telemetry.effects.records import RECORD_FIELDS
from tests.service.helpers import T0, error_fields, fresh, run_body, stamp, service_rows
from tests.support.service import ServiceProcess


def test_create_replies_created_and_stores_every_field(api: httpx.Client, shared_service: ServiceProcess) -> None:
    body = run_body(
        status="success", end_time=stamp(T0 + timedelta(seconds=5)), duration_ms=5000, items_discovered=3,
        items_succeeded=2, items_failed=1, items_skipped=0, metrics_json={"tokens": 12, "nested": [1, {"a": None}]},
        context_json=["any", "json"], product="p", git_repo="git@github.com:o/r.git", heartbeat_at=stamp(T0),
    )  # fmt: skip
    reply = api.post("/api/v1/runs", json=body)
    assert reply.status_code == 201
    assert reply.json() == {"status": "created", "event_id": body["event_id"], "run_id": body["run_id"]}
    row = api.get(f"/api/v1/runs/{body['event_id']}").json()
    assert set(row) == set(RECORD_FIELDS)
    assert {name: row[name] for name in body} == body
    assert row["created_at"] == row["updated_at"] and row["created_at"].endswith("+00:00")
    [stored] = service_rows(shared_service, "event_id = ?", (body["event_id"],))
    assert stored["metrics_json"] == '{"tokens":12,"nested":[1,{"a":null}]}'


def test_same_create_twice_stores_one_row_and_says_duplicate(api: httpx.Client, shared_service: ServiceProcess) -> None:
    body = run_body(items_discovered=1)
    assert api.post("/api/v1/runs", json=body).json()["status"] == "created"
    again = api.post("/api/v1/runs", json={**body, "items_discovered": 99, "status": "failure"})
    assert again.status_code == 201
    assert again.json() == {"status": "duplicate", "event_id": body["event_id"], "run_id": body["run_id"]}
    rows = service_rows(shared_service, "event_id = ?", (body["event_id"],))
    assert len(rows) == 1
    assert (rows[0]["items_discovered"], rows[0]["status"]) == (1, "running")


def test_defaults_of_a_minimal_create(api: httpx.Client) -> None:
    body = run_body()
    api.post("/api/v1/runs", json=body)
    row = api.get(f"/api/v1/runs/{body['event_id']}").json()
    assert (row["status"], row["trigger_type"], row["items_failed"], row["end_time"]) == ("running", "cli", 0, None)


@pytest.mark.parametrize(
    ("said", "stored"),
    [("failed", "failure"), ("completed", "success"), ("Succeeded", "success"), (" FAILED ", "failure"),
     ("partial", "partial"), ("cancelled", "cancelled"), ("timeout", "timeout"), ("Running", "running")],
)  # fmt: skip
def test_status_aliases_are_stored_mapped(api: httpx.Client, said: str, stored: str) -> None:
    body = run_body(status=said)
    assert api.post("/api/v1/runs", json=body).status_code == 201
    assert api.get(f"/api/v1/runs/{body['event_id']}").json()["status"] == stored


def test_timestamps_with_any_zone_are_stored_in_utc(api: httpx.Client) -> None:
    body = run_body(start_time="2025-06-01T14:30:00+02:00", end_time="2025-06-01T12:31:00Z")
    api.post("/api/v1/runs", json=body)
    row = api.get(f"/api/v1/runs/{body['event_id']}").json()
    assert row["start_time"] == "2025-06-01T12:30:00.000000+00:00"
    assert row["end_time"] == "2025-06-01T12:31:00.000000+00:00"


def test_server_owned_timestamps_in_a_create_are_ignored(api: httpx.Client) -> None:
    body = run_body(created_at="1999-01-01T00:00:00+00:00", updated_at="not even a time")
    assert api.post("/api/v1/runs", json=body).status_code == 201
    assert api.get(f"/api/v1/runs/{body['event_id']}").json()["created_at"] != "1999-01-01T00:00:00+00:00"


INVALID_CREATES: list[tuple[str, dict[str, Any], str]] = [
    ("missing event_id", {"event_id": None}, "event_id"),
    ("empty agent_name", {"agent_name": ""}, "agent_name"),
    ("negative count", {"items_failed": -1}, "items_failed"),
    ("negative duration", {"duration_ms": -5}, "duration_ms"),
    ("count too large for SQLite", {"items_discovered": 2**63}, "items_discovered"),
    ("count as boolean", {"items_succeeded": True}, "items_succeeded"),
    ("count as text", {"items_skipped": "3"}, "items_skipped"),
    ("zone-less start_time", {"start_time": "2025-06-01T12:00:00"}, "start_time"),
    ("zone-less end_time", {"end_time": "2025-06-01T12:00:00"}, "end_time"),
    ("zone-less heartbeat_at", {"heartbeat_at": "2025-06-01 12:00:00"}, "heartbeat_at"),
    ("zone-less git_commit_timestamp", {"git_commit_timestamp": "2025-06-01"}, "git_commit_timestamp"),
    ("start_time not a time", {"start_time": "yesterday"}, "start_time"),
    ("start_time as a number", {"start_time": 1717243200}, "start_time"),
    ("unknown status", {"status": "exploded"}, "status"),
    ("short commit hash", {"git_commit_hash": "abc12"}, "git_commit_hash"),
    ("non-hex commit hash", {"git_commit_hash": "zzzzzzz"}, "git_commit_hash"),
    ("unknown commit source", {"git_commit_source": "robot"}, "git_commit_source"),
    ("unknown field", {"colour": "blue"}, "colour"),
    ("text field as object", {"product": {"a": 1}}, "product"),
]


@pytest.mark.parametrize(("case", "change", "field"), INVALID_CREATES, ids=[c[0] for c in INVALID_CREATES])
def test_invalid_create_is_422_naming_the_field(api: httpx.Client, case: str, change: dict[str, Any], field: str) -> None:
    body = {k: v for k, v in run_body(**change).items() if v is not None}
    reply = api.post("/api/v1/runs", json=body)
    assert reply.status_code == 422, case
    assert field in error_fields(reply.json())
    if "event_id" in body:
        assert api.get(f"/api/v1/runs/{body['event_id']}").status_code == 404


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"a string"', "\"\\ud800\"".encode(), b""])
def test_a_body_that_is_not_a_run_is_422(api: httpx.Client, content: bytes) -> None:
    reply = api.post("/api/v1/runs", content=content, headers={"content-type": "application/json"})
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"][0] == "body"


def test_unknown_event_id_is_404(api: httpx.Client) -> None:
    assert api.get(f"/api/v1/runs/{fresh('missing')}").status_code == 404


def _create_many(api: httpx.Client, agent: str, count: int, **fields: Any) -> list[dict[str, Any]]:
    bodies = [run_body(agent_name=agent, start_time=stamp(T0 + timedelta(minutes=i)), **fields) for i in range(count)]
    for body in bodies:
        assert api.post("/api/v1/runs", json=body).status_code == 201
    return bodies


def test_list_filters_by_agent_newest_first(api: httpx.Client) -> None:
    agent = fresh("lister")
    bodies = _create_many(api, agent, 5)
    rows = api.get("/api/v1/runs", params={"agent_name": agent}).json()
    assert [row["event_id"] for row in rows] == [body["event_id"] for body in reversed(bodies)]


def test_list_pages_with_limit_and_offset(api: httpx.Client) -> None:
    agent = fresh("pager")
    bodies = list(reversed(_create_many(api, agent, 5)))
    page = api.get("/api/v1/runs", params={"agent_name": agent, "limit": 2, "offset": 2}).json()
    assert [row["event_id"] for row in page] == [body["event_id"] for body in bodies[2:4]]


def test_list_filters_by_status_alias_job_type_and_run_id(api: httpx.Client) -> None:
    agent = fresh("filter")
    failed = run_body(agent_name=agent, status="failed", job_type="nightly")
    other = run_body(agent_name=agent, status="success", job_type="hourly")
    for body in (failed, other):
        api.post("/api/v1/runs", json=body)
    by_status = api.get("/api/v1/runs", params={"agent_name": agent, "status": "FAILED"}).json()
    assert [row["event_id"] for row in by_status] == [failed["event_id"]]
    by_job = api.get("/api/v1/runs", params={"agent_name": agent, "job_type": "hourly"}).json()
    assert [row["event_id"] for row in by_job] == [other["event_id"]]
    by_run = api.get("/api/v1/runs", params={"run_id": failed["run_id"]}).json()
    assert [row["event_id"] for row in by_run] == [failed["event_id"]]


def test_list_filters_by_start_time_range_in_any_zone(api: httpx.Client) -> None:
    agent = fresh("range")
    bodies = _create_many(api, agent, 5)
    params = {"agent_name": agent, "start_time_from": "2025-06-01T14:01:00+02:00", "start_time_to": "2025-06-01T12:03:00Z"}
    rows = api.get("/api/v1/runs", params=params).json()
    assert [row["event_id"] for row in rows] == [bodies[3]["event_id"], bodies[2]["event_id"], bodies[1]["event_id"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 1001}, "limit"), ({"limit": 0}, "limit"), ({"offset": -1}, "offset"),
     ({"start_time_from": "2025-06-01"}, "start_time_from"), ({"start_time_to": "soon"}, "start_time_to"),
     ({"status": "exploded"}, "status")],
)  # fmt: skip
def test_invalid_list_query_is_422_naming_the_parameter(api: httpx.Client, params: dict[str, Any], field: str) -> None:
    reply = api.get("/api/v1/runs", params=params)
    assert reply.status_code == 422
    assert field in error_fields(reply.json())


def test_list_limit_defaults_to_100(api: httpx.Client) -> None:
    agent = fresh("many")
    bodies = [run_body(agent_name=agent) for _ in range(105)]
    assert api.post("/api/v1/runs/batch", json=bodies).json()["inserted"] == 105
    assert len(api.get("/api/v1/runs", params={"agent_name": agent}).json()) == 100
    assert len(api.get("/api/v1/runs", params={"agent_name": agent, "limit": 1000}).json()) == 105
