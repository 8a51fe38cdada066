"""How creates become INSERTs in the PostgreSQL store: the rows of a request with the same
non-null columns go into one `INSERT ... SELECT FROM unnest(<one array per column>)`, a
statement whose text depends only on the column set (prepared once per connection) and
whose parameters are one array per column, however many rows.

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


@lru_cache(maxsize=256)
def insert_sql(columns: tuple[str, ...]) -> str:
    """The INSERT of rows giving `columns` (the others take NULL or their default), the
    rows as one array parameter per column, then the two stamps."""
    arrays = ", ".join(f"%s::{'text' if column_type(name) == 'json' else column_type(name)}[]" for name in columns)
    picked = ", ".join(f"{name}::json" if name in JSON_COLUMNS else name for name in columns)
    return (
        f"INSERT INTO {TABLE} ({', '.join((*columns, *_STAMPS))}) "
        f"SELECT {picked}, %s, %s FROM unnest({arrays}) WITH ORDINALITY AS given ({', '.join(columns)}, ordinal) "
        "ORDER BY ordinal ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
    )


@attrs.frozen
class InsertGroup:
    """Rows (by position in the request) with the same non-null columns: one INSERT."""

    columns: tuple[str, ...]
    positions: tuple[int, ...]
    event_ids: list[str]
    arrays: tuple[list[Any], ...]


def plan_inserts(rows: Sequence[Mapping[str, Any]]) -> list[InsertGroup]:
    """The statements inserting validated creates (keys are the validator's field names)."""
    by_columns: dict[tuple[str, ...], list[int]] = {}
    for position, row in enumerate(rows):
        columns = tuple(name for name, value in row.items() if value is not None)
        by_columns.setdefault(columns, []).append(position)
    groups = []
    for columns, positions in by_columns.items():
        arrays = tuple([storable(encode(name, rows[position][name])) for position in positions] for name in columns)
        event_ids = arrays[columns.index("event_id")]
        groups.append(InsertGroup(columns, tuple(positions), event_ids, arrays))
    return groups


async def run_inserts(connection: psycopg.AsyncConnection[Any], groups: Sequence[InsertGroup], now: str) -> list[InsertStatus]:
    """Run a plan in the caller's transaction; one status per row, in request order."""
    statuses: list[InsertStatus] = ["duplicate"] * sum(len(group.positions) for group in groups)
    for group in groups:
        cursor = await connection.execute(insert_sql(group.columns), (now, now, *group.arrays))
        inserted = {row[0] for row in await cursor.fetchall()}
        for position, event_id in zip(group.positions, group.event_ids):
            if event_id in inserted:
                inserted.discard(event_id)  # a later row with the same id was the duplicate
                statuses[position] = "created"
    return statuses
