"""The service's HTTP API as seen by the client and the sync worker: httpx requests sent
through one keep-alive httpx transport, short timeouts, and
every answer classified into an outcome the caller can act on without knowing HTTP.

- `Delivered`: the service holds the data (created, duplicate or updated).
- `NotFound`: the run the request names is unknown (404).
- `Refused`: the service will never accept this request (a 4xx other than 408/429).
- `Unavailable`: try again later (connection error, timeout, 408, 429, 5xx)."""

from __future__ import annotations

import datetime
import email.utils
from typing import Any, Literal, Union

import attrs
import httpx
import orjson

from telemetry.effects.records import CommitDetails, RunRecord
from telemetry.wire.format import dumps, patch_body, record_to_wire

_RETRYABLE_STATUS = frozenset({408, 429})


@attrs.frozen
class Delivered:
    status: Literal["created", "duplicate", "updated", "success"]


@attrs.frozen
class NotFound:
    reason: str


@attrs.frozen
class Refused:
    status_code: int
    reason: str


@attrs.frozen
class Unavailable:
    reason: str
    retry_after: float | None = None


Outcome = Union[Delivered, NotFound, Refused, Unavailable]


@attrs.frozen
class BatchResult:
    """Per-item statuses of a batch create, in request order: created, duplicate or error."""

    statuses: tuple[str, ...]
    reasons: tuple[str | None, ...]


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the answer asks to wait: `Retry-After` as delta-seconds or as an HTTP-date
    (a date in the past means now); None when absent or unreadable."""
    text = response.headers.get("retry-after")
    if text is None:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, as RFC 9110 requires of HTTP-dates
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


def _reason(response: httpx.Response) -> str:
    text = response.text[:500]
    return f"HTTP {response.status_code}: {text}"


def classify(response: httpx.Response) -> Outcome:
    """The outcome an HTTP answer means for a write."""
    code = response.status_code
    if 200 <= code < 300:
        try:
            status = orjson.loads(response.content).get("status", "success")
        except (orjson.JSONDecodeError, AttributeError):
            status = "success"
        return Delivered(status if status in ("created", "duplicate", "updated") else "success")
    if code == 404:
        return NotFound(_reason(response))
    if code in _RETRYABLE_STATUS or code >= 500:
        return Unavailable(_reason(response), _retry_after(response))
    return Refused(code, _reason(response))


def read_batch(response: httpx.Response) -> BatchResult | Outcome:
    """The per-item results of a batch create's answer, or the outcome of the request."""
    if response.status_code != 200:
        return classify(response)
    try:
        results = sorted(orjson.loads(response.content)["results"], key=lambda item: item["index"])
        return BatchResult(tuple(item["status"] for item in results), tuple(item.get("reason") for item in results))
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        return Unavailable(f"unreadable batch reply: {error}")


def read_json(response: httpx.Response) -> Any:
    """The JSON body of a read's answer, or the outcome of the request."""
    if response.status_code != 200:
        return classify(response)
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as error:
        return Unavailable(f"unreadable reply: {error}")


class ApiRequests:
    """The service's requests as `httpx.Request`s (headers, timeouts, bodies), whatever
    sends them: `ServiceApi` through a blocking transport, an async one through an
    `httpx.AsyncHTTPTransport`."""

    def __init__(self, base_url: str, token: str | None, connect_timeout: float, read_timeout: float) -> None:
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self._headers = httpx.Headers(headers)
        self._timeouts = {"timeout": httpx.Timeout(read_timeout, connect=connect_timeout).as_dict()}
        self._runs_url = self._url("/api/v1/runs")
        self._batch_url = self._url("/api/v1/runs/batch")
        self._batch_update_url = self._url("/api/v1/runs/batch-update")
        self._metrics_url = self._url("/metrics")
        self._health_url = self._url("/health")

    def _url(self, path: str) -> httpx.URL:
        return httpx.URL(self.base_url + path)

    def _request(self, method: str, url: httpx.URL, body: Any = None) -> httpx.Request:
        content = None if body is None else dumps(body)
        return httpx.Request(method, url, content=content, headers=self._headers, extensions=self._timeouts)

    def create_wire(self, body: dict[str, Any]) -> httpx.Request:
        return self._request("POST", self._runs_url, body)

    def patch_wire(self, event_id: str, body: dict[str, Any]) -> httpx.Request:
        return self._request("PATCH", self._url(f"/api/v1/runs/{event_id}"), body)

    def associate_commit(self, event_id: str, commit: CommitDetails) -> httpx.Request:
        body = {
            "commit_hash": commit.commit_hash,
            "commit_source": commit.commit_source,
            "commit_author": commit.commit_author,
            "commit_timestamp": commit.commit_timestamp,
        }
        return self._request("POST", self._url(f"/api/v1/runs/{event_id}/associate-commit"), body)

    def create_batch_wire(self, bodies: list[dict[str, Any]]) -> httpx.Request:
        return self._request("POST", self._batch_url, bodies)

    def batch_update_wire(self, body: Any) -> httpx.Request:
        return self._request("POST", self._batch_update_url, body)

    def find_runs(self, run_id: str) -> httpx.Request:
        return self._request("GET", self._runs_url.copy_merge_params({"run_id": run_id, "limit": 10}))

    def metrics(self) -> httpx.Request:
        return self._request("GET", self._metrics_url)

    def health(self) -> httpx.Request:
        return self._request("GET", self._health_url)


class ServiceApi:
    """Typed calls to the telemetry service; never raises for HTTP or network trouble."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        connect_timeout: float = 0.5,
        read_timeout: float = 2.0,
    ) -> None:
        self.requests = ApiRequests(base_url, token, connect_timeout, read_timeout)
        self.base_url = self.requests.base_url
        # Requests go straight to the transport: `httpx.Client`'s header, cookie and URL
        # merging, auth and redirect machinery serve nothing this fixed, cookie-less API uses.
        self._transport = httpx.HTTPTransport(limits=httpx.Limits(max_keepalive_connections=8, max_connections=16))

    def close(self) -> None:
        self._transport.close()

    def _send(self, request: httpx.Request) -> httpx.Response | Unavailable:
        try:
            response = self._transport.handle_request(request)
            try:
                response.read()
            finally:
                response.close()
            return response
        except httpx.HTTPError as error:
            return Unavailable(f"{type(error).__name__}: {error}")

    def _write(self, request: httpx.Request) -> Outcome:
        response = self._send(request)
        return response if isinstance(response, Unavailable) else classify(response)

    def _read(self, request: httpx.Request) -> Any:
        response = self._send(request)
        return response if isinstance(response, Unavailable) else read_json(response)

    def create(self, record: RunRecord) -> Outcome:
        return self.create_wire(record_to_wire(record))

    def create_wire(self, body: dict[str, Any]) -> Outcome:
        """A create of a body already in wire form (sync forwards buffer files as they are)."""
        return self._write(self.requests.create_wire(body))

    def patch_wire(self, event_id: str, body: dict[str, Any]) -> Outcome:
        return self._write(self.requests.patch_wire(event_id, body))

    def patch(self, record: RunRecord, fields: tuple[str, ...]) -> Outcome:
        return self.patch_wire(record.event_id, patch_body(record, fields))

    def associate_commit(self, event_id: str, commit: CommitDetails) -> Outcome:
        return self._write(self.requests.associate_commit(event_id, commit))

    def create_batch_wire(self, bodies: list[dict[str, Any]]) -> BatchResult | Outcome:
        """Create many runs (their create bodies) in one request; per-item results, or the
        outcome of the request."""
        response = self._send(self.requests.create_batch_wire(bodies))
        return response if isinstance(response, Unavailable) else read_batch(response)

    def batch_update_wire(self, body: Any) -> httpx.Response | Unavailable:
        """`POST /api/v1/runs/batch-update` (creates and updates, answered per item): the
        service's answer as it came, for the outbox's courier to read."""
        return self._send(self.requests.batch_update_wire(body))

    def find_runs(self, run_id: str) -> list[dict[str, Any]] | Outcome:
        """Stored rows with this run id, newest first."""
        return self._read(self.requests.find_runs(run_id))  # type: ignore[no-any-return]

    def metrics(self) -> dict[str, Any] | Outcome:
        return self._read(self.requests.metrics())  # type: ignore[no-any-return]

    def health(self) -> dict[str, Any] | Outcome:
        return self._read(self.requests.health())  # type: ignore[no-any-return]
