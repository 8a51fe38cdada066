"""Helpers of the service contract tests: create bodies with fresh ids, and rows read
straight from the store (plain `sqlite3` on the file, or psycopg on the service's
PostgreSQL schema: what a user's own queries see)."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests.support.postgres import stored_rows
from tests.support.service import ServiceProcess

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


def stamp(moment: datetime) -> str:
    """A timestamp in the form the client sends and the service stores."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def fresh(prefix: str = "x") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def run_body(**fields: Any) -> dict[str, Any]:
    """A valid create body with fresh event_id/run_id/agent_name, updated with `fields`."""
    body: dict[str, Any] = {
        "event_id": fresh("event"),
        "run_id": fresh("run"),
        "agent_name": fresh("agent"),
        "job_type": "contract-test",
        "start_time": stamp(T0),
    }
    body.update(fields)
    return body


def minutes_ago(minutes: float) -> str:
    return stamp(datetime.now(timezone.utc) - timedelta(minutes=minutes))


def file_rows(db_path: Path, where: str = "1", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of `agent_runs`, read with a plain read-only sqlite3 connection."""
    connection = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute(f"SELECT * FROM agent_runs WHERE {where}", params)]
    finally:
        connection.close()


def service_rows(service: ServiceProcess, where: str = "1 = 1", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of `agent_runs` of `service`'s store, read directly (`?` marks parameters)."""
    if service.database_url is not None:
        return stored_rows(service.database_url, where, params)
    return file_rows(service.db_path, where, params)


def error_fields(reply: dict[str, Any]) -> set[str]:
    """The field names a 422 reply blames (last element of each error location)."""
    return {str(item["loc"][-1]) for item in reply["detail"]}
