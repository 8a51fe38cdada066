"""What the HTTP routes need from a store, as a Protocol (SQLite today, PostgreSQL later
without touching the routes), plus the rules every store applies the same way:

- A create never overwrites: a known event_id is reported `duplicate` and left alone.
- CONVERGENCE: a PATCH never moves a terminal run back to `running` (that status is
  dropped from the PATCH, the other fields apply); terminal -> terminal is allowed.
- Sweep: a `running` run whose last sign of life (heartbeat_at, else start_time) is older
  than the lease becomes `timeout`, with `sweep_summary(lease)` and end_time = now.
- A 2xx is sent only after the store made the write durable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

import attrs

from telemetry.effects.records import TERMINAL_STATUSES
# Re-exported: the routes and stores take the stored timestamp format from here.
from telemetry.wire.format import now_timestamp as now_timestamp

InsertStatus = Literal["created", "duplicate"]
Row = dict[str, Any]
SWEPT_STATUS = "timeout"
MAX_LEASE_SECONDS = 10 * 365 * 24 * 3600
# Fields whose distinct values `GET /api/v1/metadata/{field}` lists: the categorical ones.
METADATA_FIELDS = (
    "agent_name", "job_type", "status", "trigger_type", "product", "product_family",
    "platform", "subdomain", "website", "website_section", "environment", "host",
    "agent_owner", "git_repo", "git_branch",
)  # fmt: skip


class StoreUnavailable(Exception):
    """The store cannot serve the request now (disk full, database locked or gone); the
    request may be retried later."""


@attrs.frozen
class RunQuery:
    """Filters of `GET /api/v1/runs`; timestamps already in stored (UTC) form."""

    agent_name: str | None = None
    status: str | None = None
    job_type: str | None = None
    run_id: str | None = None
    start_time_from: str | None = None
    start_time_to: str | None = None
    limit: int = 100
    offset: int = 0


# A time bucket of the dashboard's charts, named by the first characters of the stored UTC
# start_time: `YYYY-MM-DDTHH` (hour) or `YYYY-MM-DD` (day).
Bucket = Literal["hour", "day"]
BUCKET_WIDTH: dict[Bucket, int] = {"hour": 13, "day": 10}
MAX_AGENTS = 1000


@attrs.frozen
class AgentStatsQuery:
    """Per-agent statistics over runs started at or after `since` (all if None);
    `day_ago` (stored form) is where the `runs_24h` count starts."""

    day_ago: str
    since: str | None = None
    limit: int = MAX_AGENTS


@attrs.frozen
class Association:
    """A commit recorded on a run: the run's id and the stored hash."""

    run_id: str
    commit_hash: str


def converged_changes(current_status: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a PATCH to apply to a run whose status is `current_status`."""
    if changes.get("status") == "running" and current_status in TERMINAL_STATUSES:
        return {name: value for name, value in changes.items() if name != "status"}
    return dict(changes)


def sweep_summary(lease_seconds: int) -> str:
    return f"abandoned: no heartbeat for {lease_seconds} s (lease expired)"


class Store(Protocol):
    """Run storage. Writes resolve only once durable; every method may raise
    `StoreUnavailable`."""

    kind: str

    async def open(self) -> None: ...

    async def close(self) -> None:
        """Finish every accepted write, then release the store."""

    async def insert(self, rows: Sequence[Row]) -> list[InsertStatus]:
        """Insert validated rows (created_at/updated_at set here), one status per row."""

    async def update(self, event_id: str, changes: Mapping[str, Any], now: datetime) -> list[str] | None:
        """Apply a validated PATCH (convergence rule included); the fields set, or None
        if the run is unknown."""

    async def associate_commit(
        self, event_id: str, commit: Mapping[str, Any], now: datetime
    ) -> Association | None: ...

    async def sweep(self, lease_seconds: int, now: datetime) -> int: ...

    async def get(self, event_id: str) -> Row | None: ...

    async def list_runs(self, query: RunQuery) -> list[Row]: ...

    async def distinct_values(self, field: str) -> list[Any]: ...

    async def metrics(self, now: datetime) -> dict[str, Any]: ...

    async def agent_stats(self, query: AgentStatsQuery) -> list[Row]:
        """Per agent: `agent_name`, `runs`, `successes`, `failures` (ended, not success),
        `running`, `runs_24h`, `last_start_time`, `p50_ms`, `p95_ms` (nearest rank, like
        PostgreSQL's percentile_disc; None without durations), `success_rate` (successes
        over ended runs; None if none ended); most runs first."""

    async def timeline(self, since: str, bucket: Bucket) -> list[Row]:
        """Per agent and bucket of start_time since `since`: `agent_name`, `bucket` (the
        start_time prefix), `runs`, `successes`, `ended`, `mean_duration_ms`; oldest first."""

    async def health(self) -> dict[str, Any]: ...
