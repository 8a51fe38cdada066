"""The `agent_runs` table of the PostgreSQL store: its DDL and the column types chosen so
that a run read back is field for field what the SQLite store answers. Timestamps stay
the stored UTC text (comparable as text, like SQLite's); text columns use the "C"
collation, so ordering and ranges are bytewise as in SQLite whatever the database's
locale; JSON fields use `json` (kept as sent, key order included), not `jsonb`.

PostgreSQL text cannot hold NUL: a NUL character of a text value is stored (and looked
for) as U+FFFD, the one place where the stores differ (JSON keeps it, as `\u0000`)."""

from __future__ import annotations

from typing import Any

from telemetry.effects.records import COUNT_FIELDS
from telemetry.wire.sqlite_schema import COLUMNS, INDEXED_COLUMNS, JSON_COLUMNS, TABLE

INTEGER_COLUMNS = frozenset({*COUNT_FIELDS, "duration_ms"})
_NOT_NULL = frozenset({"run_id", "agent_name", "job_type", "start_time", "status"})


NUL_STAND_IN = "\ufffd"


def storable(value: Any) -> Any:
    """`value` as a text column can hold it (NUL replaced); other values unchanged."""
    if type(value) is str and "\x00" in value:
        return value.replace("\x00", NUL_STAND_IN)
    return value


def column_type(name: str) -> str:
    """The PostgreSQL type of column `name` (what an array parameter of it is cast to)."""
    if name in INTEGER_COLUMNS:
        return "bigint"
    return "json" if name in JSON_COLUMNS else "text"


def _column_ddl(name: str) -> str:
    if name == "event_id":
        return 'event_id text COLLATE "C" NOT NULL UNIQUE'
    if name in COUNT_FIELDS:
        return f"{name} bigint NOT NULL DEFAULT 0"
    kind = column_type(name)
    collate = ' COLLATE "C"' if kind == "text" else ""
    return f"{name} {kind}{collate}{' NOT NULL' if name in _NOT_NULL else ''}"


def create_table_ddl() -> list[str]:
    """The statements of schema version 1: the table and its indexes."""
    columns = ",\n  ".join(["id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY", *map(_column_ddl, COLUMNS)])
    indexes = [f"CREATE INDEX IF NOT EXISTS idx_{TABLE}_{name} ON {TABLE} ({name})" for name in INDEXED_COLUMNS]
    return [f"CREATE TABLE IF NOT EXISTS {TABLE} (\n  {columns}\n)", *indexes]
