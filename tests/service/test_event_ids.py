"""What an `event_id` may hold. design.md §5 does not say; the service decides: anything
but `/`, control characters, `.` and `..`, because the id is a path segment of
/api/v1/runs/{event_id} and a run stored under an id no URL can name (clients remove dot
segments) is lost to every route. Refused ids are a 422 naming `event_id` (a per-item error in a batch); every
accepted id is reachable by GET, PATCH and associate-commit."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.service.helpers import error_fields, fresh, run_body, service_rows
from tests.support.service import ServiceProcess

REFUSED = ["a/b", "/", "trailing/", "line\nbreak", "nul\x00byte", "tab\tbed", "del\x7f", "c1\x85control", ".", ".."]
ACCEPTED = ["with space", "ünï-cödé", "50%", "q?x#y", "back\\slash", "dots.in.it", "...", ".hidden"]


def _path(event_id: str, suffix: str = "") -> str:
    return f"/api/v1/runs/{quote(event_id, safe='')}{suffix}"


@pytest.mark.parametrize("event_id", REFUSED, ids=repr)
def test_an_event_id_with_a_slash_or_control_character_is_422(
    api: httpx.Client, shared_service: ServiceProcess, event_id: str
) -> None:
    reply = api.post("/api/v1/runs", json=run_body(event_id=event_id))
    assert reply.status_code == 422
    assert error_fields(reply.json()) == {"event_id"}
    assert "'/' or control characters, nor be '.' or '..'" in reply.json()["detail"][0]["msg"]
    assert not service_rows(shared_service, "event_id = ?", (event_id,))


def test_a_batch_refuses_only_the_items_with_such_an_event_id(api: httpx.Client, shared_service: ServiceProcess) -> None:
    good = [run_body(), run_body()]
    bad = run_body(event_id=f"{fresh('batch')}/child")
    result = api.post("/api/v1/runs/batch", json=[good[0], bad, good[1]]).json()
    assert (result["inserted"], result["duplicates"]) == (2, 0)
    [error] = result["errors"]
    assert (error["index"], error["event_id"]) == (1, bad["event_id"])
    assert error["reason"].startswith("event_id: ") and "'/'" in error["reason"]
    assert not service_rows(shared_service, "event_id = ?", (bad["event_id"],))
    assert len(service_rows(shared_service, "event_id IN (?, ?)", (good[0]["event_id"], good[1]["event_id"]))) == 2


@pytest.mark.parametrize("shape", ACCEPTED, ids=repr)
def test_every_accepted_event_id_is_reachable_by_every_route(api: httpx.Client, shape: str) -> None:
    event_id = shape if shape == "..." else f"{shape}-{fresh()}"
    created = api.post("/api/v1/runs", json=run_body(event_id=event_id, git_repo="https://github.com/o/r"))
    assert created.status_code == 201 and created.json()["event_id"] == event_id
    assert api.get(_path(event_id)).json()["event_id"] == event_id
    assert api.patch(_path(event_id), json={"status": "success"}).json()["updated_fields"] == ["status"]
    commit = {"commit_hash": "abcdef1", "commit_source": "ci"}
    assert api.post(_path(event_id, "/associate-commit"), json=commit).json()["event_id"] == event_id
    assert api.get(_path(event_id, "/commit-url")).json()["commit_url"].endswith("/commit/abcdef1")
