"""The read queries of the SQLite store: each a function of a (read-only) connection, so
they run on whichever reader thread the store picks (`metrics` lives in
`telemetry.wire.sqlite_metrics`: the client's read-only stats fallback runs it too)."""

from __future__ import annotations

import sqlite3
from typing import Any

from telemetry.wire.sqlite_schema import COLUMN_LIST, TABLE, decode_row
from telemetry.service.store import METADATA_FIELDS, Row, RunQuery
from telemetry.service.store_sql import run_filters
from telemetry.wire.sqlite_metrics import metrics

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


def ping(connection: sqlite3.Connection) -> None:
    """A read of the table through a reader: proves the file is readable."""
    connection.execute(f"SELECT 1 FROM {TABLE} LIMIT 1").fetchall()


__all__ = ["distinct_values", "get_run", "list_runs", "metrics", "ping"]
