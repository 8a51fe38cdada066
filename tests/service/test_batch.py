"""Contract of `POST /api/v1/runs/batch`: per-item results in request order, counts, and
one bad item never rejecting the rest."""

from __future__ import annotations

import httpx

from tests.service.helpers import fresh, run_body, service_rows
from tests.support.service import ServiceProcess


def test_batch_stores_good_items_and_reports_bad_ones_by_index(api: httpx.Client, shared_service: ServiceProcess) -> None:
    known = run_body()
    api.post("/api/v1/runs", json=known)
    good = run_body(status="completed")
    items = [good, {**run_body(), "items_failed": -3}, known, "not an object", {**run_body(), "start_time": "noon"}]
    reply = api.post("/api/v1/runs/batch", json=items)
    assert reply.status_code == 200
    result = reply.json()
    assert (result["inserted"], result["duplicates"]) == (1, 1)
    assert [item["status"] for item in result["results"]] == ["created", "error", "duplicate", "error", "error"]
    assert [item["index"] for item in result["results"]] == [0, 1, 2, 3, 4]
    assert [error["index"] for error in result["errors"]] == [1, 3, 4]
    assert "items_failed" in result["errors"][0]["reason"] and "start_time" in result["errors"][2]["reason"]
    assert result["errors"][0]["event_id"] == items[1]["event_id"]  # type: ignore[index]
    assert result["errors"][1]["event_id"] is None
    assert service_rows(shared_service, "event_id = ?", (good["event_id"],))[0]["status"] == "success"
    assert not service_rows(shared_service, "event_id = ?", (items[1]["event_id"],))  # type: ignore[index]


def test_a_repeated_event_id_within_one_batch_is_one_row(api: httpx.Client, shared_service: ServiceProcess) -> None:
    body = run_body()
    result = api.post("/api/v1/runs/batch", json=[body, {**body, "status": "failure"}]).json()
    assert [item["status"] for item in result["results"]] == ["created", "duplicate"]
    [row] = service_rows(shared_service, "event_id = ?", (body["event_id"],))
    assert row["status"] == "running"


def test_an_empty_batch_is_fine(api: httpx.Client) -> None:
    assert api.post("/api/v1/runs/batch", json=[]).json() == {"inserted": 0, "duplicates": 0, "errors": [], "results": []}


def test_a_batch_that_is_not_an_array_is_422(api: httpx.Client) -> None:
    reply = api.post("/api/v1/runs/batch", json=run_body())
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body"]


def test_an_all_bad_batch_still_answers_200_with_every_reason(api: httpx.Client) -> None:
    result = api.post("/api/v1/runs/batch", json=[{}, {"event_id": "x"}]).json()
    assert result["inserted"] == 0 and len(result["errors"]) == 2
    assert "agent_name" in result["errors"][1]["reason"]


def test_statuses_name_exactly_the_known_and_repeated_ids_in_a_large_mixed_batch(
    api: httpx.Client, shared_service: ServiceProcess
) -> None:
    known = [run_body() for _ in range(40)]
    assert api.post("/api/v1/runs/batch", json=known).json()["inserted"] == 40
    host = fresh("host")
    # Two column sets, one of them longer than an INSERT chunk.
    bodies = [run_body(host=host) if index % 3 else run_body() for index in range(1200)]
    items, expected, seen = [], [], set()
    for index, body in enumerate(bodies):
        pick = known[index % 40] if index % 7 == 0 else bodies[index // 2] if index % 11 == 0 else body
        items.append(pick)
        expected.append("duplicate" if pick["event_id"] in seen or pick in known else "created")
        seen.add(pick["event_id"])
    result = api.post("/api/v1/runs/batch", json=items).json()
    assert [item["status"] for item in result["results"]] == expected
    assert result["inserted"] == expected.count("created") and result["duplicates"] == expected.count("duplicate")
    stored = service_rows(shared_service, "host = ?", (host,))
    assert len(stored) == len({body["event_id"] for body in items if body.get("host") == host})
