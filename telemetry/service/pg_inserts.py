"""How creates become INSERTs in the PostgreSQL store: the rows with the same non-null
columns go into one INSERT, a multi-row `VALUES` for a few rows, `SELECT FROM unnest(<one
array per column>)` for many (see `VALUES_ROWS`).

- `ON CONFLICT (event_id) DO NOTHING`: a known event_id is never overwritten, whichever
  replica or transaction wrote it first (a concurrent insert of the same id waits for the
  other transaction, then skips).
- `RETURNING event_id` names the rows inserted; of two rows with the same new event_id
  in one request, the first (in request order) is the one inserted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import attrs
import psycopg

from telemetry.service.pg_schema import column_type, storable
from telemetry.service.sqlite_schema import JSON_COLUMNS, TABLE, encode
from telemetry.service.store import InsertStatus

_STAMPS = ("created_at", "updated_at")
# Rows per INSERT: well under PostgreSQL's 65,535 parameters of one statement (VALUES form).
CHUNK_ROWS = 1000
# Up to this many rows, one parameter per value (`VALUES`); more, one array per column
# (`unnest`). psycopg dumps a value in C but walks an array in Python, and each value costs
# it a Python step too: for a few rows values are cheaper, for a batch arrays (measured:
# bench/README.md, PostgreSQL).
VALUES_ROWS = 16
_RETURNING = "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"


@lru_cache(maxsize=256)
def values_sql(columns: tuple[str, ...], rows: int) -> str:
    """The INSERT of `rows` rows giving `columns` (the others take NULL or their default),
    each row's values and then its two stamps as parameters."""
    one_row = f"({', '.join(['%s'] * (len(columns) + len(_STAMPS)))})"
    return f"INSERT INTO {TABLE} ({', '.join((*columns, *_STAMPS))}) VALUES {', '.join([one_row] * rows)} {_RETURNING}"


@lru_cache(maxsize=256)
def unnest_sql(columns: tuple[str, ...]) -> str:
    """The INSERT of any number of rows giving `columns`: the two stamps, then one array
    parameter per column."""
    arrays = ", ".join(f"%s::{'text' if column_type(name) == 'json' else column_type(name)}[]" for name in columns)
    picked = ", ".join(f"{name}::json" if name in JSON_COLUMNS else name for name in columns)
    return (
        f"INSERT INTO {TABLE} ({', '.join((*columns, *_STAMPS))}) "
        f"SELECT {picked}, %s, %s FROM unnest({arrays}) WITH ORDINALITY AS given ({', '.join(columns)}, ordinal) "
        f"ORDER BY ordinal {_RETURNING}"
    )


@attrs.frozen
class InsertGroup:
    """Rows (by position in the request) with the same non-null columns: one INSERT."""

    columns: tuple[str, ...]
    positions: tuple[int, ...]
    event_ids: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]


def plan_inserts(rows: Sequence[Mapping[str, Any]]) -> list[InsertGroup]:
    """The statements inserting validated creates (keys are the validator's field names),
    up to `CHUNK_ROWS` rows each."""
    by_columns: dict[tuple[str, ...], list[int]] = {}
    for position, row in enumerate(rows):
        columns = tuple(name for name, value in row.items() if value is not None)
        by_columns.setdefault(columns, []).append(position)
    groups = []
    for columns, positions in by_columns.items():
        for start in range(0, len(positions), CHUNK_ROWS):
            part = positions[start : start + CHUNK_ROWS]
            values = tuple(tuple(storable(encode(name, rows[position][name])) for name in columns) for position in part)
            event_ids = tuple(row[columns.index("event_id")] for row in values)
            groups.append(InsertGroup(columns, tuple(part), event_ids, values))
    return groups


async def run_inserts(connection: psycopg.AsyncConnection[Any], groups: Sequence[InsertGroup], now: str) -> list[InsertStatus]:
    """Run a plan in the caller's transaction; one status per row, in request order."""
    statuses: list[InsertStatus] = ["duplicate"] * sum(len(group.positions) for group in groups)
    for group in groups:
        if len(group.values) <= VALUES_ROWS:
            params: list[Any] = [value for row in group.values for value in (*row, now, now)]
            cursor = await connection.execute(values_sql(group.columns, len(group.values)), params)
        else:
            params = [now, now, *map(list, zip(*group.values))]
            cursor = await connection.execute(unnest_sql(group.columns), params)
        inserted = {row[0] for row in await cursor.fetchall()}
        for position, event_id in zip(group.positions, group.event_ids):
            if event_id in inserted:
                inserted.discard(event_id)  # a later row with the same id was the duplicate
                statuses[position] = "created"
    return statuses
