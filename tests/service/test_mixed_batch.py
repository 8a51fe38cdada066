"""Contract of `POST /api/v1/runs/batch-update`: creates and updates in one request, each
answered in order; a run's create and its later updates stored as one row; `running` never
replaces a terminal status; an update of an unknown run is `not_found`; a bad item costs
only itself; the documented route and the fast lane answer alike."""

from __future__ import annotations

from typing import Any

import httpx

from tests.service.helpers import run_body, service_rows
from tests.support.service import ServiceProcess


def _create(body: dict[str, Any]) -> dict[str, Any]:
    return {"format": "telemetry-buffer/1", "operation": "create", "fields": [], "record": body, "buffered_at": "x"}


def _update(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"operation": "update", "fields": sorted(changes), "record": {**body, **changes}}


def test_create_and_end_in_one_request_are_one_row_with_the_final_state(
    api: httpx.Client, shared_service: ServiceProcess
) -> None:
    body = run_body()
    items = [_create(body), _update(body, status="success", items_succeeded=3), _update(body, status="running")]
    reply = api.post("/api/v1/runs/batch-update", json=items)
    assert reply.status_code == 200
    assert [item["status"] for item in reply.json()["results"]] == ["created", "updated", "updated"]
    [row] = service_rows(shared_service, "event_id = ?", (body["event_id"],))
    assert (row["status"], row["items_succeeded"]) == ("success", 3)


def test_updates_of_stored_runs_apply_and_unknown_runs_are_not_found(
    api: httpx.Client, shared_service: ServiceProcess
) -> None:
    stored, unknown = run_body(), run_body()
    api.post("/api/v1/runs", json=stored)
    items = [_update(stored, status="failure", error_summary="boom"), _update(unknown, status="success")]
    result = api.post("/api/v1/runs/batch-update", json=items).json()
    assert [item["status"] for item in result["results"]] == ["updated", "not_found"]
    assert (result["updated"], result["not_found"]) == (1, 1)
    [row] = service_rows(shared_service, "event_id = ?", (stored["event_id"],))
    assert (row["status"], row["error_summary"]) == ("failure", "boom")
    assert not service_rows(shared_service, "event_id = ?", (unknown["event_id"],))


def test_a_duplicate_create_leaves_the_row_and_applies_the_updates_after_it(
    api: httpx.Client, shared_service: ServiceProcess
) -> None:
    body = run_body()
    api.post("/api/v1/runs", json={**body, "status": "success"})
    items = [_create(body), _update(body, status="running", items_discovered=5)]
    result = api.post("/api/v1/runs/batch-update", json=items).json()
    assert [item["status"] for item in result["results"]] == ["duplicate", "updated"]
    [row] = service_rows(shared_service, "event_id = ?", (body["event_id"],))
    assert (row["status"], row["items_discovered"]) == ("success", 5)  # terminal stays terminal


def test_bad_items_are_errors_by_index_and_the_rest_is_stored(api: httpx.Client, shared_service: ServiceProcess) -> None:
    good = run_body()
    items = [
        "not an object",
        {"operation": "delete", "record": run_body()},
        _create({**run_body(), "items_failed": -1}),
        {"operation": "update", "fields": ["status"], "record": {"event_id": "x"}},
        _update(run_body(), bogus=1),
        _create(good),
    ]
    result = api.post("/api/v1/runs/batch-update", json=items).json()
    assert [item["status"] for item in result["results"]] == ["error"] * 5 + ["created"]
    assert "items_failed" in result["results"][2]["reason"]
    assert "fields" in result["results"][3]["reason"]
    assert service_rows(shared_service, "event_id = ?", (good["event_id"],))


def test_a_body_that_is_not_an_array_is_refused(api: httpx.Client) -> None:
    assert api.post("/api/v1/runs/batch-update", json={"operation": "create"}).status_code == 422
    assert api.post("/api/v1/runs/batch-update", json=[]).json()["results"] == []


def test_the_columns_form_is_the_same_batch_with_names_given_once(api: httpx.Client, shared_service: ServiceProcess) -> None:
    body = run_body()
    columns = [*body, "status", "items_succeeded"]
    values = [*body.values(), "running", 0]
    ended = [*body.values(), "success", 4]
    items = [["create", [], values], ["update", ["status", "items_succeeded"], ended], ["update", [], [1]], "bad"]
    result = api.post("/api/v1/runs/batch-update", json={"columns": columns, "items": items}).json()
    assert [item["status"] for item in result["results"]] == ["created", "updated", "error", "error"]
    [row] = service_rows(shared_service, "event_id = ?", (body["event_id"],))
    assert (row["status"], row["items_succeeded"]) == ("success", 4)
    assert api.post("/api/v1/runs/batch-update", json={"columns": "x", "items": []}).status_code == 422
