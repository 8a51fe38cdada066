"""The simulated service answers as the real one does: the same calls of the client's
`ServiceApi` against a real service (over loopback) and against the in-memory model give
the same outcomes and, server timestamps aside, the same rows."""

from __future__ import annotations

from typing import Any

import attrs

from telemetry.effects.records import CommitDetails, RunRecord
from telemetry.shell.service_api import Delivered, NotFound, Outcome, Refused, ServiceApi
from telemetry.simulation.clock import SimulatedClock
from telemetry.simulation.conditions import Conditions
from telemetry.simulation.service import SimulatedService
from tests.support.service import ServiceProcess

RECORD = RunRecord("0193a4c2-1f00-7000-8000-000000000001", "parity-run", "agent", "job", "2026-01-01T10:00:00+02:00")
ENDED = attrs.evolve(RECORD, status="success", end_time="2026-01-01T10:00:05+02:00", duration_ms=5000, items_succeeded=3)
COMMIT = CommitDetails("abcdef1234", "ci", "Ann <ann@example.org>", None)
SERVER_FIELDS = {"created_at", "updated_at"}


def conversation(api: Any) -> list[Any]:
    """Every kind of answer the client's delivery meets, in one sequence."""
    stranger = attrs.evolve(RECORD, event_id="0193a4c2-1f00-7000-8000-0000000000ff", run_id="stranger")
    older = attrs.evolve(RECORD, event_id="0193a4c2-1f00-7000-8000-000000000002", start_time="2026-01-01T07:00:00+00:00")
    return [
        api.create(RECORD),
        api.create(RECORD),  # a repeated event id: duplicate, nothing changes
        api.patch(stranger, ("status",)),  # unknown run: 404
        api.patch(ENDED, ("status", "end_time", "duration_ms", "items_succeeded")),
        api.patch(RECORD, ("status",)),  # `running` never replaces a terminal status
        api.associate_commit(RECORD.event_id, COMMIT),
        api.associate_commit(stranger.event_id, COMMIT),
        api.create(attrs.evolve(stranger, start_time="yesterday")),  # invalid: 422
        api.create(older),  # the same run id, started earlier
        api.find_runs("parity-run"),
        api.find_runs("nobody"),
    ]


def comparable(answer: Any) -> Any:
    """An answer without what differs by nature: server timestamps, row ids, the wording of
    a validation error (pydantic's, through FastAPI's encoder)."""
    if isinstance(answer, list):
        return [{k: v for k, v in row.items() if k not in SERVER_FIELDS | {"id"}} for row in answer]
    if isinstance(answer, Refused):
        return (answer.status_code, "start_time" in answer.reason)
    return answer


def test_the_model_answers_every_call_as_the_real_service_does(service: ServiceProcess) -> None:
    real_api = ServiceApi(service.url)
    try:
        real = conversation(real_api)
    finally:
        real_api.close()
    model = conversation(SimulatedService(SimulatedClock(), Conditions, read_timeout_s=1.0))
    assert [comparable(answer) for answer in model] == [comparable(answer) for answer in real]
    expected: list[type[Outcome]] = [Delivered, Delivered, NotFound, Delivered, Delivered, Delivered, NotFound, Refused, Delivered]
    assert [type(answer) for answer in real[:9]] == expected
    assert [answer.status for answer in real[:2]] == ["created", "duplicate"]
    rows = real[9]
    assert [row["start_time"] for row in rows] == ["2026-01-01T08:00:00.000000+00:00", "2026-01-01T07:00:00.000000+00:00"]
    assert (rows[0]["status"], rows[0]["git_commit_hash"], rows[0]["items_succeeded"]) == ("success", "abcdef1234", 3)
    assert real[10] == []
