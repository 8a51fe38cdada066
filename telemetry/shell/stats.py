"""Statistics for `get_stats` and the spec's `RunIDMetrics`: the service's `GET /metrics`
first, the SQLite file read directly (read-only) when the service is down, and the run-id
counters merged in either case."""

from __future__ import annotations

import json
import sqlite3
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telemetry.core.counters import RunIdCounters, run_id_metrics, run_id_snapshot
from telemetry.shell.edge import now
from telemetry.shell.self_metrics import LOGGER, SelfMetrics
from telemetry.shell.service_link import ServiceLink

STATS_UNAVAILABLE = "Statistics unavailable"


class RunIDMetrics:
    """The run-id counters of a client (custom, generated, rejected, duplicates), read from
    its immutable core state, so a snapshot is consistent without a lock of its own."""

    def __init__(self, counters: Callable[[], RunIdCounters]) -> None:
        self._counters = counters

    def get_snapshot(self) -> dict[str, Any]:
        return run_id_snapshot(self._counters(), now().isoformat())

    def to_json(self) -> str:
        return json.dumps(self.get_snapshot(), indent=2)

    def log_metrics(self) -> None:
        LOGGER.info("Run ID Metrics:\n%s", self.to_json())


def read_stats(link: ServiceLink, db_path: Path, counters: RunIdCounters, metrics: SelfMetrics) -> dict[str, Any]:
    """Run statistics with the run-id metrics merged in; `{"error": ...}` when neither the
    service nor the database file can be read."""
    stats = _service_stats(link)
    if stats is None:
        stats = _sqlite_stats(db_path, metrics)
    if stats is None:
        stats = {"error": STATS_UNAVAILABLE}
    return {**stats, "run_id_metrics": run_id_metrics(counters), "timestamp": now().isoformat()}


def _service_stats(link: ServiceLink) -> dict[str, Any] | None:
    if not link.admit():
        return None
    outcome = link.api.metrics()
    link.settle(outcome)
    return {**outcome, "source": "service"} if isinstance(outcome, dict) else None


def _sqlite_stats(db_path: Path, metrics: SelfMetrics) -> dict[str, Any] | None:
    """The service's own metrics query, run on the database file opened read-only."""
    if not db_path.is_file():
        return None
    # Imported here: only this fallback needs the SQLite metrics query.
    from telemetry.wire.sqlite_metrics import metrics as query_metrics

    uri = f"file:{urllib.parse.quote(str(db_path.resolve()))}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=1.0, isolation_level=None)
        try:
            return {**query_metrics(connection, now()), "source": "sqlite"}
        finally:
            connection.close()
    except sqlite3.Error as error:
        metrics.swallowed(f"stats.sqlite.{type(error).__name__}", error, "could not read statistics from the database file")
        return None
