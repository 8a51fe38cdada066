"""The schema migrations of the PostgreSQL store (rules in migrations.py): the version
lives in the table `schema_version` (one row per applied version), and the whole
migration runs under a transaction-scoped advisory lock, so replicas starting at once
take turns."""

from __future__ import annotations

from typing import Any

import psycopg

from telemetry.service.migrations import check_known
from telemetry.service.pg_schema import create_table_ddl

POSTGRES_MIGRATIONS: tuple[tuple[str, ...], ...] = (tuple(create_table_ddl()),)  # version 1
POSTGRES_SCHEMA_VERSION = len(POSTGRES_MIGRATIONS)
# Any fixed 64-bit number: the key of the advisory lock the migrating replica holds.
MIGRATION_LOCK_KEY = 0x7E1E_3E72_0001
_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version "
    "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
)
_CURRENT = "SELECT COALESCE(MAX(version), 0) FROM schema_version"


async def _current(connection: psycopg.AsyncConnection[Any]) -> int:
    cursor = await connection.execute(_CURRENT)
    row = await cursor.fetchone()
    return 0 if row is None else int(row[0])


def recorded_version(connection: psycopg.Connection[Any]) -> int:
    """The version a database's schema is at (0 before the first migration)."""
    found = connection.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if found is None or not found[0]:
        return 0
    row = connection.execute(_CURRENT).fetchone()
    return 0 if row is None else int(row[0])


async def migrate_postgres(connection: psycopg.AsyncConnection[Any]) -> int:
    """Apply the pending migrations in one transaction under the migration lock; the
    version now."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        await connection.execute(_VERSION_TABLE)
        current = await _current(connection)
        check_known(current, POSTGRES_SCHEMA_VERSION)
        for version, statements in enumerate(POSTGRES_MIGRATIONS[current:], start=current + 1):
            for statement in statements:
                await connection.execute(statement)
            await connection.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
    return POSTGRES_SCHEMA_VERSION
