"""SQL text and row shaping both stores share, written once with the store's parameter
mark (`?` for SQLite, `%s` for psycopg): the filters of `GET /api/v1/runs`, the UPDATEs of
a PATCH, a commit and the sweep, and the per-agent statistics' shared pieces."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from telemetry.wire.sqlite_schema import TABLE, encode
from telemetry.service.store import SWEPT_STATUS, Row, RunQuery, now_timestamp, sweep_summary

EQUALITY_FILTERS = ("agent_name", "status", "job_type", "run_id")


def run_filters(query: RunQuery, mark: str) -> tuple[str, list[Any]]:
    """The WHERE clause (empty without filters) and its parameters for `query`."""
    conditions: list[str] = []
    params: list[Any] = []
    for name in EQUALITY_FILTERS:
        value = getattr(query, name)
        if value is not None:
            conditions.append(f"{name} = {mark}")
            params.append(value)
    if query.start_time_from is not None:
        conditions.append(f"start_time >= {mark}")
        params.append(query.start_time_from)
    if query.start_time_to is not None:
        conditions.append(f"start_time <= {mark}")
        params.append(query.start_time_to)
    return (f"WHERE {' AND '.join(conditions)}" if conditions else ""), params


def sweep_statement(lease_seconds: int, now: datetime, mark: str) -> tuple[str, tuple[Any, ...]]:
    """The one UPDATE that ends every run whose lease expired, and its parameters. Being one
    statement, two sweeps at once never end a run twice: the second finds it not running."""
    sql = (
        f"UPDATE {TABLE} SET status = {mark}, error_summary = {mark}, end_time = {mark}, updated_at = {mark} "
        f"WHERE status = 'running' AND COALESCE(heartbeat_at, start_time) < {mark}"
    )
    stamp = now_timestamp(now)
    cutoff = now_timestamp(now - timedelta(seconds=lease_seconds))
    return sql, (SWEPT_STATUS, sweep_summary(lease_seconds), stamp, stamp, cutoff)


def update_statement(changes: Mapping[str, Any], stamp: str, mark: str) -> tuple[str, list[Any]]:
    """The UPDATE of a run's converged PATCH `changes` (updated_at = `stamp`); the event_id
    is its last parameter, to append. Column names come from the validated PATCH field
    list, never from the request."""
    assigned = {**changes, "updated_at": stamp}
    settings = ", ".join(f"{name} = {mark}" for name in assigned)
    values = [encode(name, value) for name, value in assigned.items()]
    return f"UPDATE {TABLE} SET {settings} WHERE event_id = {mark}", values


def associate_statement(event_id: str, commit: Mapping[str, Any], now: datetime, mark: str) -> tuple[str, tuple[Any, ...]]:
    """The UPDATE recording a commit on a run, returning the run's id and stored hash."""
    sql = (
        f"UPDATE {TABLE} SET git_commit_hash = {mark}, git_commit_source = {mark}, git_commit_author = {mark}, "
        f"git_commit_timestamp = {mark}, updated_at = {mark} WHERE event_id = {mark} RETURNING run_id, git_commit_hash"
    )
    params = (
        commit["commit_hash"], commit["commit_source"], commit.get("commit_author"),
        commit.get("commit_timestamp"), now_timestamp(now), event_id,
    )  # fmt: skip
    return sql, params


STATS_NAMES = ("agent_name", "runs", "successes", "failures", "running", "runs_24h", "last_start_time", "p50_ms", "p95_ms")
TIMELINE_NAMES = ("agent_name", "bucket", "runs", "successes", "ended", "mean_duration_ms")
# Nearest rank over `ranked` (ROW_NUMBER as rank, COUNT as n): the ceil(p/100 * n)-th.
_PERCENTILE = "MIN(CASE WHEN rank = (n * {p} + 99) / 100 THEN duration_ms END)"


def stats_ctes(since_clause: str) -> str:
    """The WITH clause of the per-agent statistics: `picked` (the runs `since_clause`
    selects), `ranked` (their durations ranked per agent) and `percentiles` (p50_ms and
    p95_ms per agent)."""
    return f"""
        WITH picked AS (SELECT agent_name, status, duration_ms, start_time FROM {TABLE} {since_clause}),
        ranked AS (
            SELECT agent_name, duration_ms,
                   ROW_NUMBER() OVER (PARTITION BY agent_name ORDER BY duration_ms) AS rank,
                   COUNT(*) OVER (PARTITION BY agent_name) AS n
            FROM picked WHERE duration_ms IS NOT NULL
        ),
        percentiles AS (
            SELECT agent_name, {_PERCENTILE.format(p=50)} AS p50_ms, {_PERCENTILE.format(p=95)} AS p95_ms
            FROM ranked GROUP BY agent_name
        )"""


def with_success_rate(row: dict[str, Any]) -> Row:
    ended = row["successes"] + row["failures"]
    return {**row, "success_rate": None if ended == 0 else row["successes"] / ended}
