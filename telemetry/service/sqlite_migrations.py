"""The schema migrations of the SQLite store (rules in migrations.py); the version lives
in `PRAGMA user_version`."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from telemetry.service.migrations import check_known
from telemetry.wire.sqlite_schema import ensure_schema

# Version 1: the table as the first release made it; ensure_schema also adds the columns
# a file from before versioning may lack.
SQLITE_MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (ensure_schema,)
SQLITE_SCHEMA_VERSION = len(SQLITE_MIGRATIONS)


def migrate_sqlite(connection: sqlite3.Connection) -> int:
    """Apply the pending migrations (in the caller's transaction); the version now."""
    current = int(connection.execute("PRAGMA user_version").fetchone()[0])
    check_known(current, SQLITE_SCHEMA_VERSION)
    for step in SQLITE_MIGRATIONS[current:]:
        step(connection)
    connection.execute(f"PRAGMA user_version = {SQLITE_SCHEMA_VERSION}")
    return SQLITE_SCHEMA_VERSION
