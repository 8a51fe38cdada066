"""Contract of the request guard: optional bearer-token auth (401 + WWW-Authenticate,
/health and the API docs open, the token never in the log) and the request size limit (413 on
Content-Length and on a chunked body that grows past it)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.service.helpers import fresh, run_body, service_rows
from tests.support.service import ServiceFactory, ServiceProcess

# Auth and size limits answer before any store is asked: the same whatever the store.
pytestmark = pytest.mark.sqlite_only
TOKEN = "s3cret-" + "x" * 24
LIMIT = 4096


@pytest.fixture(scope="module")
def guarded(module_service_factory: ServiceFactory) -> ServiceProcess:
    return module_service_factory(auth_token=TOKEN, args=["--max-body-bytes", str(LIMIT)])


def _bearer(token: str, scheme: str = "Bearer") -> dict[str, str]:
    return {"authorization": f"{scheme} {token}"}


@pytest.mark.parametrize(
    "headers",
    [{}, _bearer("wrong"), _bearer(TOKEN[:-1]), _bearer(TOKEN + "x"), {"authorization": TOKEN}, _bearer(TOKEN, "Basic")],
    ids=["none", "wrong", "prefix", "longer", "no-scheme", "basic"],
)
def test_a_request_without_the_token_is_401_and_changes_nothing(guarded: ServiceProcess, headers: dict[str, str]) -> None:
    body = run_body()
    reply = httpx.post(f"{guarded.url}/api/v1/runs", json=body, headers=headers)
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"].startswith("Bearer")
    for path in ("/api/v1/runs", "/metrics", "/version", f"/api/v1/runs/{body['event_id']}"):
        assert httpx.get(f"{guarded.url}{path}", headers=headers).status_code == 401
    assert not service_rows(guarded, "event_id = ?", (body["event_id"],))


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_token_opens_every_route(guarded: ServiceProcess, scheme: str) -> None:
    body = run_body()
    reply = httpx.post(f"{guarded.url}/api/v1/runs", json=body, headers=_bearer(TOKEN, scheme))
    assert reply.status_code == 201
    assert httpx.get(f"{guarded.url}/metrics", headers=_bearer(TOKEN, scheme)).status_code == 200


def test_health_and_api_description_need_no_token(guarded: ServiceProcess) -> None:
    assert httpx.get(f"{guarded.url}/health").json()["status"] == "ok"
    assert httpx.get(f"{guarded.url}/openapi.json").status_code == 200
    for page in ("/docs", "/redoc"):
        reply = httpx.get(f"{guarded.url}{page}")
        assert reply.status_code == 200 and "/openapi.json" in reply.text, page


def test_the_token_never_reaches_the_log(guarded: ServiceProcess) -> None:
    httpx.post(f"{guarded.url}/api/v1/runs", json=run_body(), headers=_bearer(TOKEN))
    httpx.post(f"{guarded.url}/api/v1/runs", json=run_body(), headers=_bearer(TOKEN + "nope"))
    log = guarded.stderr_text()
    assert "auth on" in log and TOKEN not in log


def test_without_a_configured_token_no_header_is_needed(api: httpx.Client) -> None:
    assert api.post("/api/v1/runs", json=run_body()).status_code == 201


def _padded(size: int) -> bytes:
    """A create body of exactly `size` bytes."""
    body = run_body(input_summary="")
    content = orjson.dumps(body)
    return orjson.dumps({**body, "input_summary": "p" * (size - len(content))})


def test_a_body_at_the_limit_is_accepted(guarded: ServiceProcess) -> None:
    content = _padded(LIMIT)
    assert len(content) == LIMIT
    reply = httpx.post(f"{guarded.url}/api/v1/runs", content=content, headers=_bearer(TOKEN))
    assert reply.status_code == 201


def test_a_body_over_the_limit_is_413_by_content_length(guarded: ServiceProcess) -> None:
    content = _padded(LIMIT + 1)
    reply = httpx.post(f"{guarded.url}/api/v1/runs", content=content, headers=_bearer(TOKEN))
    assert reply.status_code == 413
    assert str(LIMIT) in reply.json()["detail"]
    assert not service_rows(guarded, "event_id = ?", (orjson.loads(content)["event_id"],))


def test_a_chunked_body_growing_past_the_limit_is_413(guarded: ServiceProcess) -> None:
    items = [run_body() for _ in range(40)]
    content = orjson.dumps(items)
    assert len(content) > LIMIT

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(content), 512):
            yield content[start : start + 512]

    reply = httpx.post(f"{guarded.url}/api/v1/runs/batch", content=chunks(), headers=_bearer(TOKEN))
    assert reply.status_code == 413
    assert not service_rows(guarded, "event_id = ?", (items[0]["event_id"],))


def test_the_default_limit_is_one_mebibyte(api: httpx.Client) -> None:
    body = run_body(agent_name=fresh("big"))
    small = orjson.dumps({**body, "input_summary": "p" * 1_000_000})
    assert api.post("/api/v1/runs", content=small).status_code == 201
    large = orjson.dumps({**run_body(), "input_summary": "p" * (1 << 20)})
    assert api.post("/api/v1/runs", content=large).status_code == 413
