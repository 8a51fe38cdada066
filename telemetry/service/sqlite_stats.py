"""The per-agent statistics queries of the SQLite store (what `telemetry stats` and the
dashboard's charts read): each a function of a read-only connection.

Rules, the same in every store:
- Percentiles are nearest-rank (PostgreSQL's `percentile_disc`): the p-th percentile of n
  durations is the ceil(p/100 * n)-th smallest; runs without a duration are left out.
- Success rate counts `success` among runs that ended (running runs are left out).
- Time buckets are the UTC hour (`YYYY-MM-DDTHH`) or day (`YYYY-MM-DD`) of `start_time`."""

from __future__ import annotations

import sqlite3

from telemetry.wire.sqlite_schema import TABLE
from telemetry.service.store import BUCKET_WIDTH, AgentStatsQuery, Bucket, Row
from telemetry.service.store_sql import STATS_NAMES, TIMELINE_NAMES, stats_ctes, with_success_rate


def agent_stats(connection: sqlite3.Connection, query: AgentStatsQuery) -> list[Row]:
    """One row per agent with runs since `query.since` (all time if None), most runs first."""
    since_clause, params = ("WHERE start_time >= ?", [query.since]) if query.since is not None else ("", [])
    sql = stats_ctes(since_clause) + f"""
        SELECT picked.agent_name, COUNT(*) AS runs,
               SUM(status = 'success') AS successes,
               SUM(status NOT IN ('success', 'running')) AS failures,
               SUM(status = 'running') AS running,
               SUM(start_time >= ?) AS runs_24h,
               MAX(start_time) AS last_start_time,
               percentiles.p50_ms, percentiles.p95_ms
        FROM picked LEFT JOIN percentiles ON percentiles.agent_name = picked.agent_name
        GROUP BY picked.agent_name ORDER BY runs DESC, picked.agent_name LIMIT ?
    """
    rows = connection.execute(sql, (*params, query.day_ago, query.limit))
    return [with_success_rate(dict(zip(STATS_NAMES, row))) for row in rows]


def timeline(connection: sqlite3.Connection, since: str, bucket: Bucket) -> list[Row]:
    """Per agent and time bucket since `since`: runs, successes, ended runs and the mean
    duration, oldest bucket first."""
    width = BUCKET_WIDTH[bucket]
    sql = f"""
        SELECT agent_name, substr(start_time, 1, {width}) AS bucket, COUNT(*) AS runs,
               SUM(status = 'success') AS successes, SUM(status != 'running') AS ended,
               AVG(duration_ms) AS mean_duration_ms
        FROM {TABLE} WHERE start_time >= ?
        GROUP BY agent_name, bucket ORDER BY bucket, agent_name
    """
    return [dict(zip(TIMELINE_NAMES, row)) for row in connection.execute(sql, (since,))]
