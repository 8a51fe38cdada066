"""A client of the Local Telemetry Platform (LT) works against this service unchanged: its
create, end PATCH and batch bodies, shaped as LT's client sends them (every field of its
record, nulls included, plus its own bookkeeping), are stored; the bookkeeping is not.
What LT clients read back: a commit's timestamp as sent, "not found" in a 404, a version
in /health. docs/compat.md lists these and the deliberate differences."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.service.helpers import fresh, run_body, service_rows
from tests.support.service import ServiceProcess

# What LT's client adds to a record about its own delivery (LT's models.py and client.py).
LT_BOOKKEEPING_FIELDS = ("schema_version", "api_posted", "api_posted_at", "api_retry_count", "record_type")
# LT's client stamps with `datetime.now(timezone.utc).isoformat()`.
LT_STAMP = "2025-06-01T12:00:00.123456+00:00"
# Far from now, so a stored value equal to it can only be the client's.
CLIENT_UPDATED_AT = "2001-01-01T00:00:00+00:00"
# The fields of LT's RunRecord that its client leaves null on a fresh run.
_LT_NULL_FIELDS = (
    "agent_owner", "end_time", "input_summary", "output_summary", "source_ref", "target_ref",
    "error_summary", "error_details", "metrics_json", "context_json", "insight_id", "product",
    "platform", "product_family", "subdomain", "website", "website_section", "item_name",
    "git_repo", "git_branch", "git_run_tag", "git_commit_hash", "git_commit_source",
    "git_commit_author", "git_commit_timestamp", "environment", "api_posted_at", "parent_run_id",
)  # fmt: skip


def lt_start_body() -> dict[str, Any]:
    """A create as LT's client POSTs it at start_run: its whole record (`to_dict()`, with
    `record_type`), and created_at/updated_at filled in by the client."""
    body: dict[str, Any] = dict.fromkeys(_LT_NULL_FIELDS)
    body.update(
        run_id=fresh("20250601T120000Z-lt-agent"), agent_name=fresh("lt-agent"), job_type="lt-job",
        trigger_type="cli", start_time=LT_STAMP, event_id=fresh("lt-event"), schema_version=7,
        status="running", items_discovered=0, items_succeeded=0, items_failed=0, items_skipped=0,
        duration_ms=0, host="lt-host", api_posted=0, api_retry_count=0, created_at=CLIENT_UPDATED_AT,
        updated_at=CLIENT_UPDATED_AT, record_type="run",
    )  # fmt: skip
    return body


def lt_end_patch() -> dict[str, Any]:
    """A PATCH as LT's client sends it at end_run: the end fields that are not null, and
    the client's own `updated_at`."""
    return {
        "status": "success", "end_time": "2025-06-01T12:00:05.123456+00:00", "duration_ms": 5000,
        "items_discovered": 3, "items_succeeded": 2, "items_failed": 1, "output_summary": "done",
        "metrics_json": '{"pages": 3}', "updated_at": CLIENT_UPDATED_AT,
    }  # fmt: skip


def test_an_lt_start_is_stored_without_its_bookkeeping(shared_service: ServiceProcess, api: httpx.Client) -> None:
    body = lt_start_body()
    reply = api.post("/api/v1/runs", json=body)
    assert reply.status_code == 201, reply.text
    assert reply.json() == {"status": "created", "event_id": body["event_id"], "run_id": body["run_id"]}
    [row] = service_rows(shared_service, "event_id = ?", (body["event_id"],))
    assert (row["agent_name"], row["status"], row["host"], row["start_time"]) == (body["agent_name"], "running", "lt-host", LT_STAMP)
    assert not set(LT_BOOKKEEPING_FIELDS) & set(row)
    assert CLIENT_UPDATED_AT not in (row["created_at"], row["updated_at"])


def test_an_lt_end_patch_is_applied_and_its_updated_at_ignored(shared_service: ServiceProcess, api: httpx.Client) -> None:
    body = lt_start_body()
    assert api.post("/api/v1/runs", json=body).status_code == 201
    reply = api.patch(f"/api/v1/runs/{body['event_id']}", json=lt_end_patch())
    assert reply.status_code == 200, reply.text
    assert "updated_at" not in reply.json()["updated_fields"]
    [row] = service_rows(shared_service, "event_id = ?", (body["event_id"],))
    assert (row["status"], row["duration_ms"], row["items_failed"], row["output_summary"]) == ("success", 5000, 1, "done")
    assert row["updated_at"] != CLIENT_UPDATED_AT


def test_an_lt_batch_is_stored(api: httpx.Client) -> None:
    bodies = [lt_start_body(), lt_start_body()]
    reply = api.post("/api/v1/runs/batch", json=bodies)
    assert reply.status_code == 200
    assert (reply.json()["inserted"], reply.json()["errors"]) == (2, [])


@pytest.mark.parametrize("name", LT_BOOKKEEPING_FIELDS)
def test_bookkeeping_fields_do_not_lift_the_check_of_the_others(api: httpx.Client, name: str) -> None:
    reply = api.post("/api/v1/runs", json=run_body(**{name: 1, "colour": "blue"}))
    assert reply.status_code == 422
    assert [item["loc"] for item in reply.json()["detail"]] == [["body", "colour"]]


def test_a_commit_timestamp_comes_back_as_sent(api: httpx.Client) -> None:
    body = run_body(git_commit_timestamp="2026-01-01T12:00:00Z")
    assert api.post("/api/v1/runs", json=body).status_code == 201
    url = f"/api/v1/runs/{body['event_id']}"
    assert api.get(url).json()["git_commit_timestamp"] == "2026-01-01T12:00:00Z"
    assert api.patch(url, json={"git_commit_timestamp": "2026-01-01T14:30:00+02:00"}).status_code == 200
    assert api.get(url).json()["git_commit_timestamp"] == "2026-01-01T14:30:00+02:00"
    commit = {"commit_hash": "abc1234567890abcdef", "commit_source": "llm", "commit_timestamp": "2026-01-02T10:00:00Z"}
    assert api.post(f"{url}/associate-commit", json=commit).status_code == 200
    assert api.get(url).json()["git_commit_timestamp"] == "2026-01-02T10:00:00Z"


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("GET", "", None), ("PATCH", "", {"status": "success"}), ("GET", "/commit-url", None),
     ("POST", "/associate-commit", {"commit_hash": "abcdef1", "commit_source": "ci"})],
)  # fmt: skip
def test_a_404_says_not_found(api: httpx.Client, method: str, suffix: str, body: dict[str, Any] | None) -> None:
    missing = fresh("missing")
    reply = api.request(method, f"/api/v1/runs/{missing}{suffix}", json=body)
    assert reply.status_code == 404
    assert "not found" in reply.json()["detail"].lower() and missing in reply.json()["detail"]


def test_health_gives_the_version(api: httpx.Client) -> None:
    assert api.get("/health").json()["version"] == api.get("/version").json()["version"]
