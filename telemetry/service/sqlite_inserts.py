"""How creates become INSERTs, tuned for the one writer thread, which is the service's
bottleneck and shares the GIL with the event loop:

- Only non-null columns are named: the sqlite3 module binds None through its adapter
  lookup, which costs more than all the other values of a row together.
- Rows with the same columns go into one multi-row INSERT of up to `CHUNK_ROWS` rows, and a
  job runs nothing else (no savepoint): the sqlite3 module releases the GIL around every
  statement and must take it back from the busy event loop after each (figures in
  bench/README.md).
- The plan (SQL and flat parameters) is built on the caller's thread; the writer only runs it.
- `ON CONFLICT(event_id) DO NOTHING`: a known event_id is never overwritten. A chunk that
  inserted fewer rows than it holds had duplicates; which ones is read back afterwards."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import attrs

from telemetry.wire.sqlite_schema import JSON_COLUMNS, TABLE
from telemetry.service.store import InsertStatus
from telemetry.core.fields import SERVER_FIELDS
from telemetry.wire.format import dumps

CHUNK_ROWS = 500
# SQLite's default SQLITE_MAX_VARIABLE_NUMBER (since 3.32): bound parameters per statement.
MAX_VARIABLES = 32_766
# Distinct INSERT texts the statement cache should hold: a few column sets (clients send
# the same shapes) times the chunk sizes seen.
STATEMENT_CACHE = 512


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
    # The keys are the validator's field names, never a request's: safe to name as columns.
    names: list[str] = []
    values: list[Any] = []
    for name, value in row.items():
        if value is not None:
            names.append(name)
            values.append(dumps(value).decode() if name in JSON_COLUMNS else value)
    return (*names, *SERVER_FIELDS), [*values, now, now]


def plan_inserts(rows: Sequence[Mapping[str, Any]], now: str) -> list[InsertChunk]:
    """The chunks inserting validated creates (client fields only, by column name), stamped `now`."""
    by_columns: dict[tuple[str, ...], list[tuple[int, list[Any]]]] = {}
    for position, row in enumerate(rows):
        columns, values = _row_values(row, now)
        by_columns.setdefault(columns, []).append((position, values))
    chunks = []
    for columns, members in by_columns.items():
        size = min(CHUNK_ROWS, MAX_VARIABLES // len(columns))
        for start in range(0, len(members), size):
            part = members[start : start + size]
            flat = tuple(value for _, values in part for value in values)
            chunks.append(InsertChunk(columns, tuple(position for position, _ in part), flat))
    return chunks


def run_inserts(connection: sqlite3.Connection, chunks: Sequence[InsertChunk]) -> list[InsertStatus]:
    """Run a plan in the writer's transaction; one status per row, in request order."""
    statuses: list[InsertStatus] = ["created"] * sum(len(chunk.positions) for chunk in chunks)
    for chunk in chunks:
        before = connection.total_changes
        connection.execute(insert_sql(chunk.columns, len(chunk.positions)), chunk.params)
        inserted = connection.total_changes - before
        if inserted != len(chunk.positions):
            _mark_duplicates(connection, chunk, inserted, statuses)
    return statuses


def _mark_duplicates(connection: sqlite3.Connection, chunk: InsertChunk, inserted: int, statuses: list[InsertStatus]) -> None:
    """Mark the rows of `chunk` that its INSERT skipped. The rows it did insert are the table's
    `inserted` newest: a new row's id is one above the largest id (SQLite picks another only
    once an id reaches 2**63-1), and this writer is the only one inside the transaction.
    Of two rows with the same new event_id, the first was inserted."""
    newest = f"SELECT event_id FROM {TABLE} ORDER BY id DESC LIMIT ?"
    new = {event_id for (event_id,) in connection.execute(newest, (inserted,))}
    column = chunk.columns.index("event_id")
    for index, position in enumerate(chunk.positions):
        event_id = chunk.row_params(index)[column]
        if event_id in new:
            new.discard(event_id)
        else:
            statuses[position] = "duplicate"
