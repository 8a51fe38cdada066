"""The simulated service answers as the real one does: the same calls of the client's
`ServiceApi` against a real service (over loopback) and against the in-memory model give
the same outcomes and, server timestamps aside, the same rows."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

from telemetry.effects.records import CommitDetails, RunRecord
from telemetry.shell.service_api import Delivered, NotFound, Outcome, Refused, ServiceApi, Unavailable
from telemetry.simulation.clock import SimulatedClock
from telemetry.simulation.conditions import Conditions
from telemetry.simulation.service import SimulatedService
from tests.support.receiver import HungPort, Receiver, Reply, closed_port_url
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


def first_answers(api: Any) -> list[Any]:
    """A write, a read and the health probe: what a fault does to each."""
    return [api.create(RECORD), api.find_runs("parity-run"), api.health()]


def model_under(conditions: Conditions) -> SimulatedService:
    return SimulatedService(SimulatedClock(), lambda: conditions, read_timeout_s=0.3)


def real_answers(url: str, token: str | None = None) -> list[Any]:
    api = ServiceApi(url, token, connect_timeout=0.3, read_timeout=0.3)
    try:
        return first_answers(api)
    finally:
        api.close()


def test_down_slow_and_erroring_services_answer_as_real_faulty_ones() -> None:
    """`down` is a closed port, `slow` a server that never answers, `erroring` one that
    answers 503: the client sees the same outcomes, reasons included."""
    with HungPort() as hung, Receiver(Reply(503, {"detail": "store unavailable"})) as erroring:
        faulty = {
            "down": real_answers(closed_port_url()),
            "slow": real_answers(hung.url),
            "erroring": real_answers(erroring.url),
        }
    for mode, real in faulty.items():
        model = first_answers(model_under(Conditions(mode, 503, "store unavailable")))  # type: ignore[arg-type]
        assert [as_read(answer) for answer in model] == [as_read(answer) for answer in real], mode
    assert as_read(faulty["erroring"][0]) == ("Unavailable", "HTTP 503", {"detail": "store unavailable"})


def as_read(answer: Any) -> Any:
    """An outcome with the JSON of an HTTP reason parsed (the test receiver spaces its JSON
    out, the service does not)."""
    if not isinstance(answer, Unavailable) or not answer.reason.startswith("HTTP "):
        return answer
    status, _, body = answer.reason.partition(": ")
    return type(answer).__name__, status, json.loads(body)


def test_the_slow_service_costs_the_read_timeout_of_simulated_time() -> None:
    clock = SimulatedClock()
    service = SimulatedService(clock, lambda: Conditions("slow"), read_timeout_s=0.3)
    first_answers(service)
    assert clock.monotonic() == pytest.approx(0.9) and [r.answer for r in service.requests] == ["timed out"] * 3


def test_an_unauthorized_service_refuses_all_but_health_as_a_real_one_with_another_token(
    service_factory: Any,
) -> None:
    service = service_factory(auth_token="s3cret")
    real = real_answers(service.url, "wrong")
    model = first_answers(model_under(Conditions("unauthorized", 401)))
    assert model[:2] == real[:2] and isinstance(real[0], Refused) and real[0].status_code == 401
    assert model[2] == {"status": "ok"} and real[2]["status"] == "ok"  # /health is open
