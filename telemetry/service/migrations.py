"""Versioned schema migrations, the rules both stores follow (sqlite_migrations.py and
pg_migrations.py hold the steps):

- A migration takes the schema from version N-1 to N; the pending steps run in order,
  all in one transaction with the new version recorded, when the store opens.
- Several processes opening one database at once take turns (SQLite: the writer's
  `BEGIN IMMEDIATE`; PostgreSQL: `pg_advisory_xact_lock`): the first migrates, the others
  then find nothing pending.
- A database whose schema is newer than this build knows is refused, not written to."""

from __future__ import annotations


class SchemaTooNew(Exception):
    """The database was migrated by a newer build than this one."""


def check_known(current: int, known: int) -> None:
    """Refuse a schema version this build does not know."""
    if current > known:
        raise SchemaTooNew(f"the database schema is at version {current}; this build knows up to {known}: upgrade telemetry")
