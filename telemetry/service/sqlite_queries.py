"""The read queries of the SQLite store: each a function of a (read-only) connection, so
they run on whichever reader thread the store picks."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from telemetry.service.sqlite_schema import COLUMN_LIST, TABLE, decode_row
from telemetry.service.store import METADATA_FIELDS, Row, RunQuery, now_timestamp
from telemetry.service.store_sql import run_filters

MAX_DISTINCT_VALUES = 10_000


def get_run(connection: sqlite3.Connection, event_id: str) -> Row | None:
    found = connection.execute(f"SELECT {COLUMN_LIST} FROM {TABLE} WHERE event_id = ?", (event_id,)).fetchone()
    return None if found is None else decode_row(found)


def list_runs(connection: sqlite3.Connection, query: RunQuery) -> list[Row]:
    """Rows matching every given filter, newest start_time first (ties: latest stored first)."""
    where, params = run_filters(query, "?")
    sql = f"SELECT {COLUMN_LIST} FROM {TABLE} {where} ORDER BY start_time DESC, id DESC LIMIT ? OFFSET ?"
    return [decode_row(row) for row in connection.execute(sql, (*params, query.limit, query.offset))]


def distinct_values(connection: sqlite3.Connection, field: str) -> list[Any]:
    if field not in METADATA_FIELDS:
        raise ValueError(f"{field!r} is not a metadata field")
    sql = f"SELECT DISTINCT {field} FROM {TABLE} WHERE {field} IS NOT NULL ORDER BY {field} LIMIT ?"
    return [row[0] for row in connection.execute(sql, (MAX_DISTINCT_VALUES,))]


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


def ping(connection: sqlite3.Connection) -> None:
    """A read of the table through a reader: proves the file is readable."""
    connection.execute(f"SELECT 1 FROM {TABLE} LIMIT 1").fetchall()
