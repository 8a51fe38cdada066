"""Helpers of the tests of the viewing side (API reads, CLI views, dashboard): runs with
known fields posted to a real service."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from tests.service.helpers import fresh, run_body, stamp

MARKUP = "<img src=x onerror=alert(1)>"


def ended_run(agent: str, status: str, duration_ms: int, hours_ago: float = 1.0, **fields: Any) -> dict[str, Any]:
    """A create body for a run of `agent` that started `hours_ago` and ended with `status`."""
    start = datetime.now(timezone.utc) - timedelta(hours=hours_ago)
    return run_body(
        agent_name=agent,
        run_id=fresh(f"run-{agent[:6]}"),
        start_time=stamp(start),
        end_time=stamp(start + timedelta(milliseconds=duration_ms)),
        status=status,
        duration_ms=duration_ms,
        **fields,
    )


def post_runs(client: httpx.Client, bodies: list[dict[str, Any]]) -> None:
    reply = client.post("/api/v1/runs/batch", json=bodies)
    assert reply.status_code == 200, reply.text
    assert reply.json()["inserted"] == len(bodies), reply.text
