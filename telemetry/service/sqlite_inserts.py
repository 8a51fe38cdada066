"""How creates become INSERTs, tuned for the one writer thread, which is the service's
bottleneck and shares the GIL with the event loop:

- Only non-null columns are named: the sqlite3 module binds None through its adapter
  lookup, which costs more than all the other values of a row together.
- Rows with the same columns go into one multi-row INSERT of up to `CHUNK_ROWS` rows: the
  sqlite3 module releases and re-takes the GIL around every statement step, and each
  re-take may wait for the event loop, so one step per chunk instead of one per row.
- The plan (SQL and flat parameters) is built on the caller's thread; the writer only runs it.
- `ON CONFLICT(event_id) DO NOTHING`: a known event_id is never overwritten."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any

import attrs

from telemetry.service.sqlite_schema import COLUMNS, JSON_COLUMNS, TABLE
from telemetry.service.store import InsertStatus
from telemetry.shell.wire import dumps

CHUNK_ROWS = 50
# Distinct INSERT texts the statement cache should hold: a few column sets (clients send
# the same shapes) times the chunk sizes seen.
STATEMENT_CACHE = 512
_STAMPS = ("created_at", "updated_at")
_CLIENT_COLUMNS = tuple(name for name in COLUMNS if name not in _STAMPS)
_CLIENT_VALUES = itemgetter(*_CLIENT_COLUMNS)


@lru_cache(maxsize=STATEMENT_CACHE)
def insert_sql(columns: tuple[str, ...], rows: int) -> str:
    """The INSERT of `rows` rows giving `columns` (the others take NULL or their default)."""
    one_row = f"({', '.join('?' for _ in columns)})"
    return f"INSERT INTO {TABLE} ({', '.join(columns)}) VALUES {', '.join([one_row] * rows)} ON CONFLICT(event_id) DO NOTHING"


@attrs.frozen
class InsertChunk:
    """Rows (by position in the request) with the same columns: one multi-row INSERT."""

    columns: tuple[str, ...]
    positions: tuple[int, ...]
    params: tuple[Any, ...]

    def row_params(self, index: int) -> tuple[Any, ...]:
        width = len(self.columns)
        return self.params[index * width : (index + 1) * width]


def _row_values(row: Mapping[str, Any], now: str) -> tuple[tuple[str, ...], list[Any]]:
    names: list[str] = []
    values: list[Any] = []
    for name, value in zip(_CLIENT_COLUMNS, _CLIENT_VALUES(row)):
        if value is not None:
            names.append(name)
            values.append(dumps(value).decode() if name in JSON_COLUMNS else value)
    return (*names, *_STAMPS), [*values, now, now]


def plan_inserts(rows: Sequence[Mapping[str, Any]], now: str) -> list[InsertChunk]:
    """The chunks inserting validated creates (every client field present), stamped `now`."""
    by_columns: dict[tuple[str, ...], list[tuple[int, list[Any]]]] = {}
    for position, row in enumerate(rows):
        columns, values = _row_values(row, now)
        by_columns.setdefault(columns, []).append((position, values))
    chunks = []
    for columns, members in by_columns.items():
        for start in range(0, len(members), CHUNK_ROWS):
            part = members[start : start + CHUNK_ROWS]
            flat = tuple(value for _, values in part for value in values)
            chunks.append(InsertChunk(columns, tuple(position for position, _ in part), flat))
    return chunks


def run_inserts(connection: sqlite3.Connection, chunks: Sequence[InsertChunk]) -> list[InsertStatus]:
    """Run a plan in the writer's transaction; one status per row, in request order. Fast
    path: if every row changed the table, all were created; otherwise (a known event_id
    among them) undo that and insert row by row to tell created from duplicate."""
    count = sum(len(chunk.positions) for chunk in chunks)
    connection.execute("SAVEPOINT insert_rows")
    before = connection.total_changes
    for chunk in chunks:
        connection.execute(insert_sql(chunk.columns, len(chunk.positions)), chunk.params)
    if connection.total_changes - before == count:
        connection.execute("RELEASE insert_rows")
        return ["created"] * count
    connection.execute("ROLLBACK TO insert_rows")
    statuses: list[InsertStatus] = ["duplicate"] * count
    for chunk in chunks:
        single = insert_sql(chunk.columns, 1)
        for index, position in enumerate(chunk.positions):
            if connection.execute(single, chunk.row_params(index)).rowcount == 1:
                statuses[position] = "created"
    connection.execute("RELEASE insert_rows")
    return statuses
