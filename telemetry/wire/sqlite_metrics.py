"""The metrics query over the `agent_runs` table, a function of a (read-only) SQLite
connection: the service's `GET /metrics` and the client's read-only stats fallback (the
service down, the file still there) both run it."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from telemetry.wire.format import now_timestamp
from telemetry.wire.sqlite_schema import TABLE


def _counts(connection: sqlite3.Connection, column: str) -> dict[str, int]:
    sql = f"SELECT {column}, COUNT(*) FROM {TABLE} GROUP BY {column} ORDER BY {column}"
    return {str(name): count for name, count in connection.execute(sql)}


def metrics(connection: sqlite3.Connection, now: datetime) -> dict[str, Any]:
    """Counts over one consistent snapshot of the table."""
    connection.execute("BEGIN")
    try:
        total = connection.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0]
        recent = connection.execute(
            f"SELECT COUNT(*) FROM {TABLE} WHERE start_time >= ?", (now_timestamp(now - timedelta(hours=24)),)
        ).fetchone()[0]
        latest = connection.execute(f"SELECT MAX(start_time) FROM {TABLE}").fetchone()[0]
        return {
            "total_runs": total,
            "agents": _counts(connection, "agent_name"),
            "recent_24h": recent,
            "by_status": _counts(connection, "status"),
            "by_job_type": _counts(connection, "job_type"),
            "latest_start_time": latest,
            "timestamp": now_timestamp(now),
        }
    finally:
        connection.execute("COMMIT")
