"""The `agent_runs` table of the SQLite store: its DDL (one column per field of
`telemetry.effects.records.RunRecord`, JSON fields as TEXT JSON), its indexes, and the
conversion of rows to and from the values the routes use. Plain `sqlite3` queries by
users see exactly these columns."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from telemetry.core.fields import JSON_FIELDS
from telemetry.effects.records import COUNT_FIELDS, RECORD_FIELDS
from telemetry.wire.format import dumps

TABLE = "agent_runs"
COLUMNS = RECORD_FIELDS
JSON_COLUMNS = frozenset(JSON_FIELDS)
INDEXED_COLUMNS = ("agent_name", "status", "job_type", "run_id", "start_time")
_NOT_NULL = frozenset({"run_id", "agent_name", "job_type", "start_time", "status"})
COLUMN_LIST = ", ".join(COLUMNS)
def _column_ddl(name: str) -> str:
    if name == "event_id":
        return "event_id TEXT NOT NULL UNIQUE"
    if name in COUNT_FIELDS:
        return f"{name} INTEGER NOT NULL DEFAULT 0"
    if name == "duration_ms":
        return "duration_ms INTEGER"
    return f"{name} TEXT NOT NULL" if name in _NOT_NULL else f"{name} TEXT"


def ensure_schema(connection: sqlite3.Connection) -> None:
    """Create the table and indexes if missing; add columns a newer record has, so a file
    written by an older version keeps working."""
    columns = ",\n  ".join(["id INTEGER PRIMARY KEY", *(_column_ddl(name) for name in COLUMNS)])
    connection.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (\n  {columns}\n)")
    present = {row[1] for row in connection.execute(f"PRAGMA table_info({TABLE})")}
    for name in COLUMNS:
        if name not in present:
            # ADD COLUMN cannot add NOT NULL without a default; old rows simply hold NULL.
            connection.execute(f"ALTER TABLE {TABLE} ADD COLUMN {_column_ddl(name).replace(' NOT NULL', '')}")
    for name in INDEXED_COLUMNS:
        connection.execute(f"CREATE INDEX IF NOT EXISTS idx_{TABLE}_{name} ON {TABLE} ({name})")


def encode(name: str, value: Any) -> Any:
    """A value as stored in column `name` (JSON fields as text; None stays NULL)."""
    if name in JSON_COLUMNS and value is not None:
        return dumps(value).decode()
    return value


def decode_row(values: Sequence[Any]) -> dict[str, Any]:
    """A `SELECT COLUMN_LIST` row as the JSON object the API returns."""
    row = dict(zip(COLUMNS, values))
    for name in JSON_COLUMNS:
        text = row[name]
        if text is not None:
            try:
                row[name] = orjson.loads(text)
            except orjson.JSONDecodeError:
                pass  # a value a user wrote by hand with sqlite3: returned as the text it is
    return row
