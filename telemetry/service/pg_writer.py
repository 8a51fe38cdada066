"""The writers of the PostgreSQL store: a few asyncio tasks take write jobs from one queue
and commit them in groups (many requests, one transaction), each group on a connection of
the pool. The creates of a group become one plan of INSERTs, however many requests sent them. A job's result is delivered only after its group committed, so an acknowledged
write is durable. Several writers keep several groups in flight, one per connection:
PostgreSQL flushes their commits together.

A job is an async function of the connection. If a group fails, it is rolled back and its
jobs are retried one transaction each, so one failure never costs the others; a job alone
that loses a deadlock or a serialization conflict to another replica is tried again. If no
connection can be had at all (the database is down), the whole group fails at once."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

import psycopg
from psycopg import errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from telemetry.service.pg_inserts import plan_inserts, run_inserts
from telemetry.service.sqlite_writer import settle
from telemetry.service.store import InsertStatus, Row, StoreUnavailable, now_timestamp

T = TypeVar("T")
Connection = psycopg.AsyncConnection[Any]
Job = Callable[[Connection], Awaitable[Any]]
Outcome = tuple[Any, BaseException | None]
_log = logging.getLogger("telemetry.service")
# Conflicts with concurrent transactions (other writers, other replicas): retried, alone.
_RETRYABLE = (errors.DeadlockDetected, errors.SerializationFailure)
CONFLICT_RETRIES = 5


class _Pending:
    """A queued write: a job, or the validated rows of a create request (`rows`), which the
    group inserts together with the other creates."""

    __slots__ = ("job", "rows", "future")

    def __init__(self, job: Job | None, rows: Sequence[Row] | None, future: asyncio.Future[Any]) -> None:
        self.job = job
        self.rows = rows
        self.future = future


class PgGroupWriter:
    """`run` queues a job and waits until its group committed."""

    def __init__(self, pool: AsyncConnectionPool[Any], writers: int, max_group_size: int) -> None:
        self._pool = pool
        self._writers = writers
        self._max_group_size = max_group_size
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._accepting = False
        self.groups = 0
        self.jobs = 0
        self.errors: Counter[str] = Counter()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._serve(), name=f"telemetry-pg-writer-{n}") for n in range(self._writers)]
        self._accepting = True

    def is_alive(self) -> bool:
        return self._accepting and all(not task.done() for task in self._tasks)

    def queued(self) -> int:
        return self._queue.qsize()

    def figures(self) -> dict[str, Any]:
        """What `/metrics` reports of the writers (the SQLite writer's figures, by name)."""
        return {"transactions": self.groups, "writes": self.jobs, "queued": self.queued(), "errors": dict(self.errors)}

    async def stop(self) -> None:
        """Refuse new jobs, let the queued ones commit, then end the writers."""
        self._accepting = False
        for _ in self._tasks:
            self._queue.put_nowait(None)
        await asyncio.gather(*self._tasks)

    async def run(self, job: Callable[[Connection], Awaitable[T]]) -> T:
        """Run `job` in a group's transaction; its result once the group committed."""
        return await self._queued(job, None)  # type: ignore[no-any-return]

    async def insert(self, rows: Sequence[Row]) -> list[InsertStatus]:
        """Insert validated creates (with the group's other creates); one status per row."""
        return await self._queued(None, rows)  # type: ignore[no-any-return]

    async def _queued(self, job: Job | None, rows: Sequence[Row] | None) -> Any:
        if not self._accepting:
            raise StoreUnavailable("the store is shutting down")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(job, rows, future))
        return await future

    async def _serve(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            group = [first]
            # Whatever else is queued joins the group; a stop marker goes back for later.
            while len(group) < self._max_group_size and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    self._queue.put_nowait(None)
                    break
                group.append(item)
            outcomes = await self._commit(group)
            settle([(pending.future, value, error) for pending, (value, error) in zip(group, outcomes)])

    async def _commit(self, group: list[_Pending]) -> list[Outcome]:
        try:
            values = await self._transaction(group)
        except (PoolTimeout, psycopg.OperationalError) as error:
            if not isinstance(error, _RETRYABLE):
                return [(None, self._failure(error))] * len(group)
            return await self._one_by_one(group)
        except Exception as error:
            if len(group) == 1:
                return [(None, self._failure(error))]
            return await self._one_by_one(group)
        self.groups += 1
        self.jobs += len(group)
        return [(value, None) for value in values]

    async def _one_by_one(self, group: list[_Pending]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for pending in group:
            for attempt in range(CONFLICT_RETRIES):
                try:
                    [value] = await self._transaction([pending])
                except _RETRYABLE as error:
                    if attempt + 1 < CONFLICT_RETRIES:
                        continue
                    outcomes.append((None, self._failure(error)))
                except Exception as error:
                    outcomes.append((None, self._failure(error)))
                else:
                    self.groups += 1
                    self.jobs += 1
                    outcomes.append((value, None))
                break
        return outcomes

    async def _transaction(self, group: list[_Pending]) -> list[Any]:
        """Run a group: its creates first, merged into one plan, then its jobs. A group that
        is one statement (creates of one shape) runs without BEGIN/COMMIT: alone, the
        statement is its own transaction, and two round trips fewer."""
        creates = [pending for pending in group if pending.rows is not None]
        rows = [row for pending in creates for row in pending.rows or ()]
        plan = plan_inserts(rows)
        now = now_timestamp(datetime.now(timezone.utc))
        async with self._pool.connection() as connection:
            if len(plan) == 1 and len(creates) == len(group):
                statuses = await run_inserts(connection, plan, len(rows), now)
                return _split(statuses, creates)
            async with connection.transaction():
                statuses = await run_inserts(connection, plan, len(rows), now)
                done = dict(zip(map(id, creates), _split(statuses, creates)))
                return [done[id(pending)] if pending.job is None else await pending.job(connection) for pending in group]

    def _failure(self, error: Exception) -> BaseException:
        kind = type(error).__name__
        self.errors[kind] += 1
        if self.errors[kind] == 1:
            _log.error("PostgreSQL write failed (%s: %s); further %s errors are only counted", kind, error, kind)
        if isinstance(error, (psycopg.Error, PoolTimeout)):
            return StoreUnavailable(f"PostgreSQL write failed: {kind}")
        return error


def _split(statuses: list[InsertStatus], creates: list[_Pending]) -> list[list[InsertStatus]]:
    """The statuses of a merged plan, back by request."""
    parts, start = [], 0
    for pending in creates:
        count = len(pending.rows or ())
        parts.append(statuses[start : start + count])
        start += count
    return parts
