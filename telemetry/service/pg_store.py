"""The PostgreSQL store, for several service replicas on one database: writes go through
the group-committing writers (pg_writer.py), reads take a pooled autocommit connection.
The schema is migrated when the store opens (pg_migrations.py), safely with replicas
starting at once; JSON columns are read as their text and decoded as the SQLite store
decodes them, so both stores answer alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

import attrs
import psycopg
from psycopg.types.string import TextLoader
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from telemetry.service import pg_queries as queries
from telemetry.service.config import ConfigError
from telemetry.service.migrations import SchemaTooNew, check_known
from telemetry.service.pg_migrations import POSTGRES_SCHEMA_VERSION, migrate_postgres, recorded_version
from telemetry.service.pg_schema import storable
from telemetry.service.pg_writer import Connection, PgGroupWriter
from telemetry.wire.sqlite_schema import TABLE
from telemetry.service.store import (
    AgentStatsQuery,
    Association,
    Bucket,
    InsertStatus,
    Row,
    RunQuery,
    StoreUnavailable,
    converged_changes,
    now_timestamp,
)
from telemetry.service.store_sql import EQUALITY_FILTERS, associate_statement, sweep_statement, update_statement

T = TypeVar("T")
DEFAULT_POOL_SIZE = 10
# How long a request waits for a pooled connection (the database down or every connection
# busy) before it is answered 503.
POOL_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5


async def _configure(connection: Connection) -> None:
    # json columns arrive as their text: decoded like SQLite's (telemetry.wire.sqlite_schema).
    connection.adapters.register_loader("json", TextLoader)


def _unstorable(event_id: str) -> bool:
    """An event_id no run can have: creates refuse control characters in it, and a NUL
    cannot even be sent to PostgreSQL."""
    return "\x00" in event_id


def writers_for(pool_size: int) -> int:
    """Writer tasks for a pool: half the connections, the others serve reads."""
    return max(1, pool_size // 2)


def check_database(url: str) -> None:
    """Refuse, in one line, a database the service cannot connect to or whose schema is
    newer than this build (run before startup)."""
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S) as connection:
            check_known(recorded_version(connection), POSTGRES_SCHEMA_VERSION)
    except psycopg.Error as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"cannot connect to PostgreSQL at {shown_url(url)}: {reason}") from None
    except SchemaTooNew as error:
        raise ConfigError(f"cannot use PostgreSQL at {shown_url(url)}: {error}") from None


def shown_url(url: str) -> str:
    """`url` without its password, for messages and logs."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    return f"postgresql://{info.get('user', '')}@{info.get('host', '')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


class PostgresStore:
    """The `Store` over one PostgreSQL database, shared with other replicas."""

    kind = "postgresql"

    def __init__(self, url: str, pool_size: int = DEFAULT_POOL_SIZE, max_group_size: int = 512) -> None:
        self.url = url
        self._pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url, min_size=min(2, pool_size), max_size=pool_size, open=False, timeout=POOL_TIMEOUT_S,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S}, configure=_configure,
        )  # fmt: skip
        self._writer = PgGroupWriter(self._pool, writers_for(pool_size), max_group_size)
        self._schema_version = 0

    async def open(self) -> None:
        await self._pool.open(wait=True, timeout=POOL_TIMEOUT_S)
        async with self._pool.connection() as connection:
            self._schema_version = await migrate_postgres(connection)
        self._writer.start()

    async def close(self) -> None:
        await self._writer.stop()
        await self._pool.close()

    async def _read(self, query: Callable[[Connection], Awaitable[T]]) -> T:
        try:
            async with self._pool.connection() as connection:
                return await query(connection)
        except (psycopg.Error, PoolTimeout) as error:
            raise StoreUnavailable(f"PostgreSQL read failed: {type(error).__name__}") from error

    # Writes -------------------------------------------------------------------------

    async def insert(self, rows: Sequence[Row]) -> list[InsertStatus]:
        return await self._writer.insert(rows)

    async def update(self, event_id: str, changes: Mapping[str, Any], now: datetime) -> list[str] | None:
        if _unstorable(event_id):
            return None
        stamp = now_timestamp(now)

        async def job(connection: Connection) -> list[str] | None:
            # FOR UPDATE: a concurrent PATCH (another replica) waits, then sees this one's status.
            cursor = await connection.execute(f"SELECT status FROM {TABLE} WHERE event_id = %s FOR UPDATE", (event_id,))
            found = await cursor.fetchone()
            if found is None:
                return None
            applied = converged_changes(found[0], changes)
            sql, values = update_statement(applied, stamp, "%s")
            await connection.execute(sql, (*map(storable, values), event_id))
            return list(applied)

        return await self._writer.run(job)

    async def associate_commit(self, event_id: str, commit: Mapping[str, Any], now: datetime) -> Association | None:
        if _unstorable(event_id):
            return None
        sql, params = associate_statement(event_id, commit, now, "%s")
        params = tuple(map(storable, params))

        async def job(connection: Connection) -> Association | None:
            found = await (await connection.execute(sql, params)).fetchone()
            return None if found is None else Association(found[0], found[1])

        return await self._writer.run(job)

    async def sweep(self, lease_seconds: int, now: datetime) -> int:
        sql, params = sweep_statement(lease_seconds, now, "%s")

        async def job(connection: Connection) -> int:
            # One statement: a replica sweeping at the same time waits on the rows this one
            # ends, re-checks them and finds them no longer running, so none counts twice.
            return (await connection.execute(sql, params)).rowcount

        return await self._writer.run(job)

    # Reads --------------------------------------------------------------------------

    async def get(self, event_id: str) -> Row | None:
        if _unstorable(event_id):
            return None
        return await self._read(lambda connection: queries.get_run(connection, event_id))

    async def list_runs(self, query: RunQuery) -> list[Row]:
        # A filter value is looked for as it would have been stored.
        wanted = attrs.evolve(query, **{name: storable(getattr(query, name)) for name in EQUALITY_FILTERS})
        return await self._read(lambda connection: queries.list_runs(connection, wanted))

    async def distinct_values(self, field: str) -> list[Any]:
        return await self._read(lambda connection: queries.distinct_values(connection, field))

    async def metrics(self, now: datetime) -> dict[str, Any]:
        counts = await self._read(lambda connection: queries.metrics(connection, now))
        return {**counts, "store": self.kind, "writer": self._writer.figures()}

    async def agent_stats(self, query: AgentStatsQuery) -> list[Row]:
        return await self._read(lambda connection: queries.agent_stats(connection, query))

    async def timeline(self, since: str, bucket: Bucket) -> list[Row]:
        return await self._read(lambda connection: queries.timeline(connection, since, bucket))

    async def health(self) -> dict[str, Any]:
        if not self._writer.is_alive():
            raise StoreUnavailable("the PostgreSQL writers are not running")
        await self._read(lambda connection: connection.execute(f"SELECT 1 FROM {TABLE} LIMIT 1"))
        stats = self._pool.get_stats()
        return {
            "store": self.kind,
            "schema_version": self._schema_version,
            "pool_size": stats.get("pool_max", 0),
        }
