"""`GET /metrics/prometheus`: the figures of the JSON `/metrics` in the Prometheus text
exposition format, written by prometheus_client from one snapshot of the store."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _labelled(name: str, documentation: str, label: str, counts: Mapping[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in counts.items():
        family.add_metric([value], count)
    return family


def _families(metrics: Mapping[str, Any]) -> Iterator[Metric]:
    yield GaugeMetricFamily("telemetry_runs", "Runs stored", value=metrics["total_runs"])
    yield GaugeMetricFamily("telemetry_runs_recent_24h", "Runs started in the last 24 hours", value=metrics["recent_24h"])
    yield _labelled("telemetry_runs_by_agent", "Runs stored per agent", "agent_name", metrics["agents"])
    yield _labelled("telemetry_runs_by_status", "Runs stored per status", "status", metrics["by_status"])
    yield _labelled("telemetry_runs_by_job_type", "Runs stored per job type", "job_type", metrics["by_job_type"])
    latest = metrics.get("latest_start_time")
    if latest is not None:
        yield GaugeMetricFamily(
            "telemetry_latest_start_time_seconds", "Start time of the newest run (Unix time)",
            value=datetime.fromisoformat(latest).timestamp(),
        )  # fmt: skip
    writer = metrics.get("writer")
    if writer is not None:
        yield CounterMetricFamily("telemetry_store_transactions", "Write transactions committed", value=writer["transactions"])
        yield CounterMetricFamily("telemetry_store_writes", "Writes committed", value=writer["writes"])
        yield GaugeMetricFamily("telemetry_store_queued_writes", "Writes waiting for the writer", value=writer["queued"])
        errors = CounterMetricFamily("telemetry_store_write_errors", "Failed writes by kind", labels=["kind"])
        for kind, count in writer["errors"].items():
            errors.add_metric([kind], count)
        yield errors


class _Snapshot(Collector):
    def __init__(self, metrics: Mapping[str, Any]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return _families(self._metrics)


def exposition(metrics: Mapping[str, Any]) -> bytes:
    """The text format of a `/metrics` reply (`Store.metrics`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(metrics))
    return generate_latest(registry)
