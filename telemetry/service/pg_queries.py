"""The read queries of the PostgreSQL store, each a function of a pooled (autocommit)
connection; the rules of the per-agent statistics are sqlite_stats.py's, the answers the
SQLite store's, field for field."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

from telemetry.wire.sqlite_schema import COLUMN_LIST, TABLE, decode_row
from telemetry.service.store import BUCKET_WIDTH, METADATA_FIELDS, AgentStatsQuery, Bucket, Row, RunQuery, now_timestamp
from telemetry.service.store_sql import STATS_NAMES, TIMELINE_NAMES, run_filters, stats_ctes, with_success_rate

Connection = psycopg.AsyncConnection[Any]
MAX_DISTINCT_VALUES = 10_000


async def _rows(connection: Connection, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
    cursor = await connection.execute(sql, params)
    return await cursor.fetchall()


async def get_run(connection: Connection, event_id: str) -> Row | None:
    rows = await _rows(connection, f"SELECT {COLUMN_LIST} FROM {TABLE} WHERE event_id = %s", (event_id,))
    return decode_row(rows[0]) if rows else None


async def list_runs(connection: Connection, query: RunQuery) -> list[Row]:
    """Rows matching every given filter, newest start_time first (ties: latest stored first)."""
    where, params = run_filters(query, "%s")
    sql = f"SELECT {COLUMN_LIST} FROM {TABLE} {where} ORDER BY start_time DESC, id DESC LIMIT %s OFFSET %s"
    return [decode_row(row) for row in await _rows(connection, sql, (*params, query.limit, query.offset))]


async def distinct_values(connection: Connection, field: str) -> list[Any]:
    if field not in METADATA_FIELDS:
        raise ValueError(f"{field!r} is not a metadata field")
    sql = f"SELECT DISTINCT {field} FROM {TABLE} WHERE {field} IS NOT NULL ORDER BY {field} LIMIT %s"
    return [row[0] for row in await _rows(connection, sql, (MAX_DISTINCT_VALUES,))]


async def _counts(connection: Connection, column: str) -> dict[str, int]:
    sql = f"SELECT {column}, COUNT(*) FROM {TABLE} GROUP BY {column} ORDER BY {column}"
    return {str(name): count for name, count in await _rows(connection, sql)}


async def metrics(connection: Connection, now: datetime) -> dict[str, Any]:
    """Counts over one consistent snapshot of the table."""
    async with connection.transaction():
        await connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        day_ago = now_timestamp(now - timedelta(hours=24))
        sql = f"SELECT COUNT(*), COUNT(*) FILTER (WHERE start_time >= %s), MAX(start_time) FROM {TABLE}"
        [(total, recent, latest)] = await _rows(connection, sql, (day_ago,))
        return {
            "total_runs": total,
            "agents": await _counts(connection, "agent_name"),
            "recent_24h": recent,
            "by_status": await _counts(connection, "status"),
            "by_job_type": await _counts(connection, "job_type"),
            "latest_start_time": latest,
            "timestamp": now_timestamp(now),
        }


async def agent_stats(connection: Connection, query: AgentStatsQuery) -> list[Row]:
    """One row per agent with runs since `query.since` (all time if None), most runs first."""
    since_clause, params = ("WHERE start_time >= %s", [query.since]) if query.since is not None else ("", [])
    sql = stats_ctes(since_clause) + f"""
        SELECT picked.agent_name, COUNT(*) AS runs,
               COUNT(*) FILTER (WHERE status = 'success') AS successes,
               COUNT(*) FILTER (WHERE status NOT IN ('success', 'running')) AS failures,
               COUNT(*) FILTER (WHERE status = 'running') AS running,
               COUNT(*) FILTER (WHERE start_time >= %s) AS runs_24h,
               MAX(start_time) AS last_start_time,
               MIN(percentiles.p50_ms), MIN(percentiles.p95_ms)
        FROM picked LEFT JOIN percentiles ON percentiles.agent_name = picked.agent_name
        GROUP BY picked.agent_name ORDER BY runs DESC, picked.agent_name LIMIT %s
    """
    rows = await _rows(connection, sql, (*params, query.day_ago, query.limit))
    return [with_success_rate(dict(zip(STATS_NAMES, row))) for row in rows]


async def timeline(connection: Connection, since: str, bucket: Bucket) -> list[Row]:
    """Per agent and time bucket since `since`: runs, successes, ended runs and the mean
    duration, oldest bucket first."""
    sql = f"""
        SELECT agent_name, substr(start_time, 1, {BUCKET_WIDTH[bucket]}) AS bucket, COUNT(*) AS runs,
               COUNT(*) FILTER (WHERE status = 'success') AS successes,
               COUNT(*) FILTER (WHERE status != 'running') AS ended,
               AVG(duration_ms)::float8 AS mean_duration_ms
        FROM {TABLE} WHERE start_time >= %s
        GROUP BY agent_name, bucket ORDER BY bucket, agent_name
    """
    return [dict(zip(TIMELINE_NAMES, row)) for row in await _rows(connection, sql, (since,))]
