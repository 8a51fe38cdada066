"""Contract of `PATCH /api/v1/runs/{event_id}`: what may change, 404 and 422, and the
CONVERGENCE RULE (a terminal run never goes back to `running`; terminal -> terminal is
allowed), including a property: every order of a run's updates ends in the same state."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.service.helpers import error_fields, fresh, minutes_ago, run_body


def _created(api: httpx.Client, **fields: Any) -> str:
    body = run_body(**fields)
    assert api.post("/api/v1/runs", json=body).status_code == 201
    return str(body["event_id"])


def _row(api: httpx.Client, event_id: str) -> dict[str, Any]:
    reply = api.get(f"/api/v1/runs/{event_id}")
    assert reply.status_code == 200
    return dict(reply.json())


def test_patch_sets_the_given_fields_only(api: httpx.Client) -> None:
    event_id = _created(api, product="kept", items_discovered=4)
    before = _row(api, event_id)
    changes = {"status": "Completed", "end_time": "2025-06-01T13:00:00Z", "items_succeeded": 4, "metrics_json": {"a": 1},
               "git_commit_hash": "ABCDEF1", "error_summary": None}  # fmt: skip
    reply = api.patch(f"/api/v1/runs/{event_id}", json=changes)
    assert reply.status_code == 200
    assert reply.json()["status"] == "updated" and reply.json()["event_id"] == event_id
    assert sorted(reply.json()["updated_fields"]) == sorted(changes)
    row = _row(api, event_id)
    assert (row["status"], row["end_time"], row["items_succeeded"]) == ("success", "2025-06-01T13:00:00.000000+00:00", 4)
    assert (row["metrics_json"], row["git_commit_hash"]) == ({"a": 1}, "abcdef1")
    assert (row["product"], row["items_discovered"], row["created_at"]) == ("kept", 4, before["created_at"])
    assert row["updated_at"] > before["updated_at"]


def test_patch_of_an_unknown_run_is_404(api: httpx.Client) -> None:
    assert api.patch(f"/api/v1/runs/{fresh('missing')}", json={"status": "success"}).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [({"status": None}, "status"), ({"status": "done-ish"}, "status"), ({"items_failed": -1}, "items_failed"),
     ({"items_failed": None}, "items_failed"), ({"end_time": "2025-06-01T13:00:00"}, "end_time"),
     ({"heartbeat_at": "now"}, "heartbeat_at"), ({"agent_name": "renamed"}, "agent_name"),
     ({"event_id": "other"}, "event_id"), ({"git_commit_source": "bot"}, "git_commit_source")],
)  # fmt: skip
def test_invalid_patch_is_422_naming_the_field_and_changes_nothing(api: httpx.Client, change: dict[str, Any], field: str) -> None:
    event_id = _created(api)
    before = _row(api, event_id)
    reply = api.patch(f"/api/v1/runs/{event_id}", json=change)
    assert reply.status_code == 422
    assert field in error_fields(reply.json())
    assert _row(api, event_id) == before


def test_a_patch_body_that_is_not_an_object_is_422(api: httpx.Client) -> None:
    event_id = _created(api)
    assert api.patch(f"/api/v1/runs/{event_id}", json=["status"]).status_code == 422


def test_running_never_replaces_a_terminal_status(api: httpx.Client) -> None:
    event_id = _created(api, status="success")
    reply = api.patch(f"/api/v1/runs/{event_id}", json={"status": "running", "heartbeat_at": minutes_ago(0), "items_failed": 2})
    assert reply.status_code == 200
    assert sorted(reply.json()["updated_fields"]) == ["heartbeat_at", "items_failed"]
    row = _row(api, event_id)
    assert (row["status"], row["items_failed"]) == ("success", 2)


def test_a_terminal_status_replaces_another_one(api: httpx.Client) -> None:
    event_id = _created(api, status="timeout", error_summary="abandoned")
    api.patch(f"/api/v1/runs/{event_id}", json={"status": "failed", "error_summary": "real end"})
    row = _row(api, event_id)
    assert (row["status"], row["error_summary"]) == ("failure", "real end")


HEARTBEAT = {"status": "running", "heartbeat_at": "2025-06-01T12:01:00+00:00"}
END: dict[str, Any] = {"status": "success", "end_time": "2025-06-01T12:05:00+00:00", "duration_ms": 300000}
COMMIT = {"git_commit_hash": "abcdef1234", "git_commit_source": "ci"}


@settings(max_examples=12)
@given(order=st.permutations([HEARTBEAT, HEARTBEAT, END, COMMIT]), create_at=st.integers(0, 4))
def test_every_order_of_updates_converges_to_the_end(api: httpx.Client, order: list[dict[str, Any]], create_at: int) -> None:
    """Updates that arrive before the create get 404 and are retried after it (as the sync
    worker does); whatever the order, the run ends `success` with its commit."""
    body = run_body()
    pending: list[dict[str, Any]] = []
    for step, update in itertools.zip_longest(range(5), order):
        if step == create_at:
            assert api.post("/api/v1/runs", json=body).status_code == 201
            for late in pending:
                assert api.patch(f"/api/v1/runs/{body['event_id']}", json=late).status_code == 200
            pending = []
        if update is not None:
            if api.patch(f"/api/v1/runs/{body['event_id']}", json=update).status_code == 404:
                pending.append(update)
    row = _row(api, str(body["event_id"]))
    assert (row["status"], row["end_time"], row["git_commit_hash"]) == ("success", END["end_time"].replace("+", ".000000+"), "abcdef1234")
