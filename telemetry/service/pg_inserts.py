"""How creates become INSERTs in the PostgreSQL store: the rows with the same non-null
columns go into one INSERT: a multi-row `VALUES` for a few rows, `SELECT FROM
json_to_recordset(<the rows as one JSON array>)` for many (see `VALUES_ROWS`).

- `ON CONFLICT (event_id) DO NOTHING`: a known event_id is never overwritten, whichever
  replica or transaction wrote it first (a concurrent insert of the same id waits for the
  other transaction, then skips).
- `RETURNING event_id` names the rows inserted; of two rows with the same new event_id
  in one request, the first (in request order) is the one sent, the other a duplicate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import attrs
import orjson
import psycopg

from telemetry.service.pg_schema import column_type, storable
from telemetry.wire.sqlite_schema import JSON_COLUMNS, TABLE, encode
from telemetry.service.store import InsertStatus

_STAMPS = ("created_at", "updated_at")
# Rows per INSERT: well under PostgreSQL's 65,535 parameters of one statement (VALUES form).
CHUNK_ROWS = 1000
# Up to this many rows, one parameter per value (`VALUES`); more, all rows as one JSON
# parameter (`json_to_recordset`). psycopg spends a Python step on every parameter, and
# walks array parameters in Python: for a batch, one orjson call is far cheaper (measured
# in bench/README.md, PostgreSQL).
VALUES_ROWS = 16
_RETURNING = "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"


@lru_cache(maxsize=256)
def values_sql(columns: tuple[str, ...], rows: int) -> str:
    """The INSERT of `rows` rows giving `columns` (the others take NULL or their default),
    each row's values and then its two stamps as parameters."""
    one_row = f"({', '.join(['%s'] * (len(columns) + len(_STAMPS)))})"
    return f"INSERT INTO {TABLE} ({', '.join((*columns, *_STAMPS))}) VALUES {', '.join([one_row] * rows)} {_RETURNING}"


@lru_cache(maxsize=256)
def recordset_sql(columns: tuple[str, ...]) -> str:
    """The INSERT of any number of rows giving `columns`: the two stamps, then the rows as
    one JSON array of objects (JSON fields inside as their text, cast back to json)."""
    definition = ", ".join(f"{name} {'text' if column_type(name) == 'json' else column_type(name)}" for name in columns)
    picked = ", ".join(f"{name}::json" if name in JSON_COLUMNS else name for name in columns)
    return (
        f"INSERT INTO {TABLE} ({', '.join((*columns, *_STAMPS))}) "
        f"SELECT {picked}, %s, %s FROM json_to_recordset(%s::json) AS given ({definition}) {_RETURNING}"
    )


@attrs.frozen
class InsertGroup:
    """Rows (by position in the request) with the same non-null columns: one INSERT. Each
    record maps the columns, in order, to their stored values."""

    columns: tuple[str, ...]
    positions: tuple[int, ...]
    records: tuple[dict[str, Any], ...]


def plan_inserts(rows: Sequence[Mapping[str, Any]]) -> list[InsertGroup]:
    """The statements inserting validated creates (keys are the validator's field names),
    up to `CHUNK_ROWS` rows each. A row repeating an earlier row's event_id is left out:
    the earlier one is the create, the later a duplicate."""
    by_columns: dict[tuple[str, ...], list[int]] = {}
    seen: set[str] = set()
    for position, row in enumerate(rows):
        if row["event_id"] in seen:
            continue
        seen.add(row["event_id"])
        columns = tuple(name for name, value in row.items() if value is not None)
        by_columns.setdefault(columns, []).append(position)
    groups = []
    for columns, positions in by_columns.items():
        for start in range(0, len(positions), CHUNK_ROWS):
            part = positions[start : start + CHUNK_ROWS]
            records = tuple({name: storable(encode(name, rows[position][name])) for name in columns} for position in part)
            groups.append(InsertGroup(columns, tuple(part), records))
    return groups


async def run_inserts(
    connection: psycopg.AsyncConnection[Any], groups: Sequence[InsertGroup], rows: int, now: str
) -> list[InsertStatus]:
    """Run the plan of `rows` rows in the caller's transaction; one status per row, in
    request order (a row the plan left out is a duplicate)."""
    statuses: list[InsertStatus] = ["duplicate"] * rows
    for group in groups:
        if len(group.records) <= VALUES_ROWS:
            params: list[Any] = [value for record in group.records for value in (*record.values(), now, now)]
            cursor = await connection.execute(values_sql(group.columns, len(group.records)), params)
        else:
            params = [now, now, orjson.dumps(group.records).decode()]
            cursor = await connection.execute(recordset_sql(group.columns), params)
        inserted = {row[0] for row in await cursor.fetchall()}
        for position, record in zip(group.positions, group.records):
            if record["event_id"] in inserted:
                statuses[position] = "created"
    return statuses
