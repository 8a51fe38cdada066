"""The embedded SQLite store: writes go through the one group-committing writer (WAL,
`synchronous=FULL` by default), reads use read-only connections, one per reader thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from telemetry.service.config import DEFAULT_BUSY_TIMEOUT_MS, Synchronous
from telemetry.service import sqlite_queries as queries
from telemetry.service import sqlite_stats
from telemetry.service.sqlite_inserts import STATEMENT_CACHE, plan_inserts, run_inserts
from telemetry.service.sqlite_migrations import migrate_sqlite
from telemetry.wire.sqlite_schema import TABLE
from telemetry.service.sqlite_writer import GroupWriter
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
from telemetry.service.store_sql import associate_statement, sweep_statement, update_statement

T = TypeVar("T")
# A larger page cache keeps the random-order index pages (event_id, run_id) in memory.
CACHE_KIB = 65_536
# WAL pages between automatic checkpoints (SQLite's default: 1,000). A checkpoint copies
# each page once however often it changed since the last one; random event_id/run_id
# inserts rewrite the same index pages commit after commit, so checkpointing 10x less
# often raised the writer's batch rate 25% (11-12k -> 15-16k rows/s, groups of 400 rows,
# synchronous=FULL, 2-core VM). The WAL file grows to ~40 MiB (4 KiB pages) before reset.
WAL_AUTOCHECKPOINT_PAGES = 10_000
_SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")  # PRAGMA synchronous's numbers


class SqliteStore:
    """The `Store` over one SQLite file."""

    kind = "sqlite"

    def __init__(
        self,
        path: Path,
        synchronous: Synchronous = "FULL",
        max_group_size: int = 512,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> None:
        self.path = path
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._writer = GroupWriter(self._connect_writer, max_group_size)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._durability: dict[str, str] = {}
        self._schema_version = 0

    def _connect_writer(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, cached_statements=STATEMENT_CACHE + 32
        )
        connection.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {self._synchronous}")
        connection.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        connection.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
        # What /health reports is what SQLite says this connection does, not what was asked:
        # a file that cannot take WAL stays in its old mode without an error.
        self._durability = {
            "journal_mode": str(connection.execute("PRAGMA journal_mode").fetchone()[0]),
            "synchronous": _SYNCHRONOUS_LEVELS[connection.execute("PRAGMA synchronous").fetchone()[0]],
        }
        return connection

    def open_sync(self) -> None:
        """Start the writer and create the schema; raises if the file is unusable."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer.start()
        self._schema_version = self._writer.run_sync(migrate_sqlite)

    def close_sync(self) -> None:
        self._writer.stop()
        with self._readers_lock:
            for connection in self._readers:
                connection.close()
            self._readers.clear()

    async def open(self) -> None:
        await asyncio.to_thread(self.open_sync)

    async def close(self) -> None:
        await asyncio.to_thread(self.close_sync)

    def _reader(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            connection = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            connection.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            self._local.connection = connection
            with self._readers_lock:
                self._readers.append(connection)
        return connection

    async def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            try:
                return query(self._reader())
            except sqlite3.Error as error:
                raise StoreUnavailable(f"SQLite read failed: {type(error).__name__}") from error

        return await asyncio.to_thread(run)

    # Writes -------------------------------------------------------------------------

    async def insert(self, rows: Sequence[Row]) -> list[InsertStatus]:
        # The plan is built here, on the caller's thread: the writer only runs it.
        now = now_timestamp(datetime.now(timezone.utc))
        chunks = plan_inserts(rows, now)
        return await self._writer.run(lambda connection: run_inserts(connection, chunks))

    async def update(self, event_id: str, changes: Mapping[str, Any], now: datetime) -> list[str] | None:
        stamp = now_timestamp(now)

        def job(connection: sqlite3.Connection) -> list[str] | None:
            found = connection.execute(f"SELECT status FROM {TABLE} WHERE event_id = ?", (event_id,)).fetchone()
            if found is None:
                return None
            applied = converged_changes(found[0], changes)
            sql, values = update_statement(applied, stamp, "?")
            connection.execute(sql, (*values, event_id))
            return list(applied)

        return await self._writer.run(job)

    async def associate_commit(self, event_id: str, commit: Mapping[str, Any], now: datetime) -> Association | None:
        sql, params = associate_statement(event_id, commit, now, "?")

        def job(connection: sqlite3.Connection) -> Association | None:
            found = connection.execute(sql, params).fetchone()
            return None if found is None else Association(found[0], found[1])

        return await self._writer.run(job)

    async def sweep(self, lease_seconds: int, now: datetime) -> int:
        return await self._writer.run(self._sweep_job(lease_seconds, now))

    def sweep_sync(self, lease_seconds: int, now: datetime) -> int:
        """`sweep` for callers without an event loop (`telemetry sweep --db`)."""
        return self._writer.run_sync(self._sweep_job(lease_seconds, now))

    @staticmethod
    def _sweep_job(lease_seconds: int, now: datetime) -> Callable[[sqlite3.Connection], int]:
        sql, params = sweep_statement(lease_seconds, now, "?")

        def job(connection: sqlite3.Connection) -> int:
            return connection.execute(sql, params).rowcount

        return job

    # Reads --------------------------------------------------------------------------

    async def get(self, event_id: str) -> Row | None:
        return await self._read(lambda connection: queries.get_run(connection, event_id))

    async def list_runs(self, query: RunQuery) -> list[Row]:
        return await self._read(lambda connection: queries.list_runs(connection, query))

    async def distinct_values(self, field: str) -> list[Any]:
        return await self._read(lambda connection: queries.distinct_values(connection, field))

    async def metrics(self, now: datetime) -> dict[str, Any]:
        counts = await self._read(lambda connection: queries.metrics(connection, now))
        writer = {
            "transactions": self._writer.groups,
            "writes": self._writer.jobs,
            "queued": self._writer.queued(),
            "errors": dict(self._writer.errors),
        }
        return {**counts, "store": self.kind, "writer": writer}

    async def agent_stats(self, query: AgentStatsQuery) -> list[Row]:
        return await self._read(lambda connection: sqlite_stats.agent_stats(connection, query))

    async def timeline(self, since: str, bucket: Bucket) -> list[Row]:
        return await self._read(lambda connection: sqlite_stats.timeline(connection, since, bucket))

    async def health(self) -> dict[str, Any]:
        if not self._writer.is_alive():
            raise StoreUnavailable("the SQLite writer is not running")
        await self._read(queries.ping)
        return {"store": self.kind, "schema_version": self._schema_version, **self._durability}
