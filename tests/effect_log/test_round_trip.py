"""An effect log recorded by real clients against service A (runs started, ended, failed,
with metrics and commits, some while A was down so their effects fell back), replayed with
`telemetry replay` into an empty service B: every row of B equals A's field for field
(server timestamps aside), and a second replay leaves B as it was. And the outcome each
line records, as the client met it: done, fell_back, refused, failed."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from telemetry import TelemetryClient
from telemetry.shell.buffer import BufferDirectory
from telemetry.shell.effect_log.lines import LoggedEffect, decode_line
from telemetry.shell.service_api import ServiceApi
from telemetry.shell.sync.worker import SyncWorker
from tests.shell.helpers import fast_config
from tests.support.service import ServiceFactory, ServiceProcess

_SERVER_FIELDS = ("created_at", "updated_at")


def _rows(service: ServiceProcess) -> list[dict[str, Any]]:
    rows = httpx.get(f"{service.url}/api/v1/runs", params={"limit": 1000}, timeout=10).json()
    return sorted(({k: v for k, v in row.items() if k not in _SERVER_FIELDS} for row in rows), key=lambda row: row["event_id"])


def _logs(path: Path) -> list[Path]:
    """The log and its rotated backups, oldest first."""
    backups = sorted(path.parent.glob(path.name + ".*"), key=lambda backup: -int(backup.suffix[1:]))
    return [*backups, path]


def _logged(path: Path) -> list[LoggedEffect]:
    return [decode_line(line) for log in _logs(path) for line in log.read_text().splitlines()]


def _replay(logs: list[Path], url: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "telemetry", "replay", *map(str, logs), "--to", url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _client(url: str, base: Path, delivery: str, **extra: Any) -> TelemetryClient:
    return TelemetryClient(fast_config(url, base_dir=base, delivery=delivery, **extra))


def _agent_work(client: TelemetryClient, label: str) -> list[str]:
    """Runs of every kind: ended with items, failed in a tracked block, with metrics, events
    and commits (on an active run and on an ended one)."""
    ended = client.start_run("replay-agent", "crawl", product=label, input_summary="pages")
    client.log_event(ended, "page", {"n": 1})
    client.set_metrics(ended, items_discovered=5, metrics_json={"pages": 5})
    client.associate_commit(ended, "a1b2c3d", "manual", "dev@example.com")
    client.end_run(ended, status="success", items_succeeded=4, items_failed=1, output_summary="done")
    with pytest.raises(ValueError), client.track_run("replay-agent", "parse", product=label) as run:
        run.set_metrics(items_skipped=2)
        raise ValueError("bad page")
    committed = client.start_run("replay-agent", "commit", run_id=f"custom-{label}")
    client.end_run(committed, status="partial", context_json={"why": label})
    client.associate_commit(committed, "0123456789abcdef", "ci", None, "2026-12-05T12:00:00Z")
    return [ended, run.run_id, committed]


@pytest.mark.parametrize("delivery", ["sync", "background"])
def test_a_log_replayed_into_an_empty_service_reproduces_every_row_and_twice_the_same(
    service_factory: ServiceFactory, tmp_path: Path, delivery: str
) -> None:
    service_a, service_b = service_factory(), service_factory()
    log = tmp_path / "effects" / "agent.ndjson"
    client = _client(service_a.url, tmp_path / "agent", delivery, effect_log=log, effect_log_max_bytes=32 << 10, effect_log_backups=50)
    _agent_work(client, "up")
    service_a.stop()
    _agent_work(client, "down")
    started_while_down = client.start_run("replay-agent", "outage")
    service_a.start()
    time.sleep(0.5)  # past the breaker's cooldown: the next delivery reaches A
    client.end_run(started_while_down, status="timeout")
    _agent_work(client, "back")
    assert client.flush(30.0)
    client.close()
    SyncWorker(BufferDirectory(tmp_path / "agent" / "buffer"), ServiceApi(service_a.url)).run_once()
    # A second process commits to a run it never held: found on the service by run id.
    other = _client(service_a.url, tmp_path / "other", delivery, effect_log=tmp_path / "effects" / "other.ndjson")
    assert other.associate_commit("custom-up", "fedcba9", "llm")[0]
    other.close()

    logs = [*_logs(log), tmp_path / "effects" / "other.ndjson"]
    assert len(logs) > 3  # the log rotated at its size bound
    assert delivery == "background" or "fell_back" in {line.outcome for line in _logged(log)}
    first = _replay(logs, service_b.url)
    assert first.returncode == 0, first.stderr
    rows = _rows(service_a)
    assert len(rows) == 10 and _rows(service_b) == rows
    second = _replay(logs, service_b.url)
    assert second.returncode == 0, second.stderr
    assert "duplicates 10" in second.stdout and _rows(service_b) == rows


def test_each_line_records_the_outcome_the_client_met(service_factory: ServiceFactory, tmp_path: Path) -> None:
    service = service_factory()
    log = tmp_path / "effects.ndjson"
    client = _client(service.url, tmp_path / "agent", "sync", effect_log=log)
    delivered = client.start_run("outcomes", "job")
    unknown_commit = client.associate_commit("never-started", "abcdef1", "manual")
    service.stop()
    buffered = client.start_run("outcomes", "job")
    (tmp_path / "agent" / "buffer").rename(tmp_path / "moved-buffer")
    (tmp_path / "agent" / "buffer").write_text("a file where the buffer directory should be")
    lost = client.start_run("outcomes", "job")
    client.close()
    assert not unknown_commit[0]
    outcomes = [(type(line.effect).__name__, line.outcome) for line in _logged(log) if type(line.effect).__name__ in ("PostRun", "FindRunAndPostCommit")]
    assert outcomes == [("PostRun", "done"), ("FindRunAndPostCommit", "refused"), ("PostRun", "fell_back"), ("PostRun", "failed")]
    records = [line.effect.record.run_id for line in _logged(log) if type(line.effect).__name__ == "PostRun"]  # type: ignore[union-attr]
    assert records == [delivered, buffered, lost]


def test_a_client_whose_effect_log_cannot_be_written_carries_on_and_says_so_once(
    service_factory: ServiceFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = service_factory()
    (tmp_path / "occupied").write_text("a file where the log's folder should be")
    with caplog.at_level(logging.WARNING, logger="telemetry"):
        client = _client(service.url, tmp_path / "agent", "sync", effect_log=tmp_path / "occupied" / "effects.ndjson")
        run_ids = [client.start_run("unlogged", "job") for _ in range(3)]
        for run_id in run_ids:
            client.log_event(run_id, "step", {"n": 1})
            client.end_run(run_id, status="success")
        client.close()
    assert sorted(row["run_id"] for row in _rows(service)) == sorted(run_ids)
    assert all(row["status"] == "success" for row in _rows(service))
    metrics = client.self_metrics()
    assert metrics["effect_log.lines_lost"] >= 3 * 4 and metrics.get("effect_log.lines_written", 0) == 0
    warnings = [record.getMessage() for record in caplog.records if "effect log" in record.getMessage()]
    assert len(warnings) == 1 and "occupied/effects.ndjson" in warnings[0]
