"""The simulated telemetry service: runs held in memory, answered with the real service's
rules (its validation of bodies, `duplicate` for a known event_id, 404 for an unknown run,
the convergence rule that a terminal status never goes back to `running`, commit
association, lookup by run_id newest first) and classified into the client's outcomes by
the client's own `classify`, through the scripted `Conditions` of the moment.

Answers are built as in-memory `httpx.Response`s: no socket is ever opened."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import httpx
import orjson
from fastapi.exceptions import RequestValidationError

from telemetry.effects.records import CommitDetails, RunRecord
from telemetry.service.fast_validation import validated_create, validated_patch
from telemetry.service.http import invalid_detail, not_found_detail, validated
from telemetry.service.store import Row, converged_changes, now_timestamp
from telemetry.service.validation import validated_commit
from telemetry.shell.service_api import Outcome, Unavailable, classify
from telemetry.simulation.clock import SimulatedClock
from telemetry.simulation.conditions import Conditions
from telemetry.wire.format import dumps, patch_body, record_to_wire

_REFUSED = "ConnectError: [Errno 111] Connection refused"
_TIMED_OUT = "ReadTimeout: timed out"
_UNAUTHORIZED = "missing or invalid bearer token"
_LOOKUP_LIMIT = 10  # what the client's `find_runs` asks for
T = TypeVar("T")


@attrs.frozen
class ServiceRequest:
    """One request that reached (or tried to reach) the service: when (simulated seconds),
    what, and what came back (an HTTP status, or `refused` / `timed out`)."""

    at_s: float
    method: str
    path: str
    answer: str


class SimulatedService:
    """The service's side of the simulation, with the methods of the client's `ServiceApi`."""

    def __init__(self, clock: SimulatedClock, conditions: Callable[[], Conditions], read_timeout_s: float) -> None:
        self._clock = clock
        self._conditions = conditions
        self._read_timeout_s = read_timeout_s
        self._rows: dict[str, Row] = {}
        self.requests: list[ServiceRequest] = []

    def rows(self) -> tuple[Row, ...]:
        """Every stored row, in the order they were created."""
        return tuple(dict(row) for row in self._rows.values())

    def create(self, record: RunRecord) -> Outcome:
        return self._write("POST", "/api/v1/runs", lambda: self._insert(_wire(record_to_wire(record))))

    def patch(self, record: RunRecord, fields: tuple[str, ...]) -> Outcome:
        body = _wire(patch_body(record, fields))
        return self._write("PATCH", f"/api/v1/runs/{record.event_id}", lambda: self._update(record.event_id, body))

    def associate_commit(self, event_id: str, commit: CommitDetails) -> Outcome:
        body = _wire(attrs.asdict(commit))
        return self._write("POST", f"/api/v1/runs/{event_id}/associate-commit", lambda: self._associate(event_id, body))

    def find_runs(self, run_id: str) -> list[dict[str, Any]] | Outcome:
        """Stored rows with this run id, newest start_time first (ties: latest stored first)."""
        found = [row for row in self._rows.values() if row["run_id"] == run_id]
        newest = sorted(reversed(found), key=lambda row: str(row["start_time"]), reverse=True)
        return self._read("/api/v1/runs", [dict(row) for row in newest[:_LOOKUP_LIMIT]])

    def health(self) -> dict[str, Any] | Outcome:
        return self._read("/health", {"status": "ok"}, open_path=True)

    def probe(self) -> tuple[dict[str, Any] | Outcome, float]:
        """`GET /health` from a background thread: the answer, and the simulated seconds it
        takes to come (the caller does not wait for it)."""
        if self._conditions().service == "slow":
            self.requests.append(ServiceRequest(self._clock.monotonic() + self._read_timeout_s, "GET", "/health", "timed out"))
            return Unavailable(_TIMED_OUT), self._read_timeout_s
        return self.health(), 0.0

    def _write(self, method: str, path: str, answer: Callable[[], tuple[int, Any]]) -> Outcome:
        conditions = self._conditions()
        if conditions.service == "refusing":
            return self._answered(method, path, conditions.status, {"detail": conditions.reason or "refused"})
        unreached = self._unreached(method, path, conditions, open_path=False)
        if unreached is not None:
            return unreached
        return self._answered(method, path, *answer())

    def _read(self, path: str, content: T, open_path: bool = False) -> T | Outcome:
        unreached = self._unreached("GET", path, self._conditions(), open_path)
        if unreached is not None:
            return unreached
        self.requests.append(ServiceRequest(self._clock.monotonic(), "GET", path, "200"))
        return content

    def _unreached(self, method: str, path: str, conditions: Conditions, open_path: bool) -> Outcome | None:
        """The outcome of a request the service does not serve now, or None if it does."""
        match conditions.service:
            case "down":
                self.requests.append(ServiceRequest(self._clock.monotonic(), method, path, "refused"))
                return Unavailable(_REFUSED)
            case "slow":
                self._clock.advance(self._read_timeout_s)  # the caller waits out its read timeout
                self.requests.append(ServiceRequest(self._clock.monotonic(), method, path, "timed out"))
                return Unavailable(_TIMED_OUT)
            case "erroring":
                return self._answered(method, path, conditions.status, {"detail": conditions.reason or "unavailable"})
            case "unauthorized" if not open_path:
                return self._answered(method, path, conditions.status, {"detail": _UNAUTHORIZED})
        return None

    def _answered(self, method: str, path: str, status: int, content: Any) -> Outcome:
        self.requests.append(ServiceRequest(self._clock.monotonic(), method, path, str(status)))
        return classify(httpx.Response(status, json=content))

    def _insert(self, body: Any) -> tuple[int, Any]:
        try:
            row = validated(validated_create, body)
        except RequestValidationError as error:
            return 422, invalid_detail(error)
        event_id = row["event_id"]
        if event_id in self._rows:
            return 201, {"status": "duplicate", "event_id": event_id, "run_id": row["run_id"]}
        stamp = now_timestamp(self._clock.now())
        self._rows[event_id] = {**row, "created_at": stamp, "updated_at": stamp}
        return 201, {"status": "created", "event_id": event_id, "run_id": row["run_id"]}

    def _update(self, event_id: str, body: Any) -> tuple[int, Any]:
        try:
            changes = validated(validated_patch, body)
        except RequestValidationError as error:
            return 422, invalid_detail(error)
        row = self._rows.get(event_id)
        if row is None:
            return 404, {"detail": not_found_detail(event_id)}
        applied = converged_changes(row["status"], changes)
        row.update(applied, updated_at=now_timestamp(self._clock.now()))
        return 200, {"status": "updated", "event_id": event_id, "updated_fields": list(applied)}

    def _associate(self, event_id: str, body: Any) -> tuple[int, Any]:
        try:
            commit = validated(validated_commit, body).model_dump()
        except RequestValidationError as error:
            return 422, invalid_detail(error)
        row = self._rows.get(event_id)
        if row is None:
            return 404, {"detail": not_found_detail(event_id)}
        row.update({f"git_{name}": commit.get(name) for name in ("commit_hash", "commit_source", "commit_author", "commit_timestamp")})
        row["updated_at"] = now_timestamp(self._clock.now())
        return 200, {"status": "success", "event_id": event_id, "run_id": row["run_id"], "commit_hash": row["git_commit_hash"]}


def _wire(body: Any) -> Any:
    """`body` as the service would read it off the wire: encoded, then parsed."""
    return orjson.loads(dumps(body))
