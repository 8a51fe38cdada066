"""`telemetry replay` as a real process on real log files: what `--dry-run` prints, a replay
that is the same twice, and every bad input answered with one clear line and a non-zero
exit, never a traceback (a missing or unreadable log, a bad URL, an unreachable service,
unreadable lines, which are reported while the rest replays)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import attrs
import httpx
import pytest

from telemetry.effects.records import BufferEntry, CommitDetails, RunRecord
from telemetry.effects.vocabulary import AppendBuffer, FindRunAndPostCommit, Log, PatchRun, PostRun
from telemetry.shell.effect_log import EffectLog
from telemetry.shell.self_metrics import SelfMetrics
from tests.support.service import ServiceFactory, ServiceProcess, free_port

AT = "2026-12-05T12:00:00+00:00"


def _replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "telemetry", "replay", *args], capture_output=True, text=True, timeout=120)


def _write_log(path: Path, run_id: str) -> RunRecord:
    """A log of one run: its create (fell back), a log line, its end, and a commit."""
    record = RunRecord(event_id=f"{run_id}-event", run_id=run_id, agent_name="replayer", job_type="job", start_time=AT)
    ended = attrs.evolve(record, status="success", end_time=AT, items_succeeded=3)
    log = EffectLog(path, 1 << 20, 2, SelfMetrics())
    log.performed(PostRun(record, AppendBuffer(BufferEntry("create", record))), "fell_back")
    log.performed(Log("info", "not a delivery"), "done")
    log.performed(PatchRun(ended, ("status", "end_time", "items_succeeded")), "done")
    log.performed(FindRunAndPostCommit(run_id, CommitDetails("abcdef1", "manual")), "done")
    log.drain(time.monotonic() + 10)
    return ended


def _row(service: ServiceProcess, run_id: str) -> dict[str, object]:
    rows = httpx.get(f"{service.url}/api/v1/runs", params={"run_id": run_id}, timeout=10).json()
    assert len(rows) == 1
    return {name: value for name, value in rows[0].items() if name not in ("created_at", "updated_at")}


def test_dry_run_prints_what_would_be_sent_and_sends_nothing(shared_service: ServiceProcess, tmp_path: Path) -> None:
    _write_log(tmp_path / "effects.ndjson", "dry-run-run")
    result = _replay(str(tmp_path / "effects.ndjson"), "--to", shared_service.url, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "create run dry-run-run (event dry-run-run-event)",
        "update run dry-run-run (event dry-run-run-event): status, end_time, items_succeeded",
        "associate commit abcdef1 with the newest run dry-run-run",
        "replay: would send 3, duplicates 0, refused 0, unavailable 0; skipped 1 other effects; unreadable lines 0",
    ]
    assert httpx.get(f"{shared_service.url}/api/v1/runs", params={"run_id": "dry-run-run"}, timeout=10).json() == []


def test_a_replay_sends_every_delivery_and_a_second_one_changes_nothing(shared_service: ServiceProcess, tmp_path: Path) -> None:
    ended = _write_log(tmp_path / "effects.ndjson", "replayed-twice")
    first = _replay(str(tmp_path / "effects.ndjson"), "--to", shared_service.url)
    assert first.returncode == 0, first.stderr
    assert "replay: sent 3, duplicates 0, refused 0, unavailable 0; skipped 1 other effects" in first.stdout
    row = _row(shared_service, "replayed-twice")
    assert (row["status"], row["items_succeeded"], row["git_commit_hash"]) == ("success", ended.items_succeeded, "abcdef1")
    second = _replay(str(tmp_path / "effects.ndjson"), "--to", shared_service.url)
    assert second.returncode == 0 and "sent 2, duplicates 1" in second.stdout
    assert _row(shared_service, "replayed-twice") == row


def test_unreadable_lines_are_counted_and_reported_and_the_rest_replays(shared_service: ServiceProcess, tmp_path: Path) -> None:
    log = tmp_path / "effects.ndjson"
    _write_log(log, "torn-log")
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join([lines[0], b'{"at": "torn\n', b"\xff\xfe not utf-8\n", *lines[1:]]))
    result = _replay(str(log), "--to", shared_service.url)
    assert result.returncode == 1
    assert "sent 3, duplicates 0, refused 0, unavailable 0; skipped 1 other effects; unreadable lines 2" in result.stdout
    assert f"unreadable line: {log}:2: " in result.stderr and f"unreadable line: {log}:3: not UTF-8" in result.stderr
    assert "Traceback" not in result.stderr
    assert _row(shared_service, "torn-log")["status"] == "success"


def test_several_logs_replay_in_the_order_given(shared_service: ServiceProcess, tmp_path: Path) -> None:
    _write_log(tmp_path / "effects.ndjson.1", "first-log")
    _write_log(tmp_path / "effects.ndjson", "second-log")
    result = _replay(str(tmp_path / "effects.ndjson.1"), str(tmp_path / "effects.ndjson"), "--to", shared_service.url, "--dry-run")
    creates = [line for line in result.stdout.splitlines() if line.startswith("create")]
    assert creates == ["create run first-log (event first-log-event)", "create run second-log (event second-log-event)"]


def test_a_missing_or_unreadable_log_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for path, why in ((tmp_path / "missing.ndjson", "No such file or directory"), (tmp_path, "Is a directory")):
        result = _replay(str(path), "--to", "http://127.0.0.1:8765")
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [f"Error: cannot read the log {path}: {why}"]


def test_a_bad_url_is_one_line_and_exit_2(tmp_path: Path) -> None:
    _write_log(tmp_path / "effects.ndjson", "bad-url")
    for url in ("ftp://somewhere", "http://", "not a url"):
        result = _replay(str(tmp_path / "effects.ndjson"), "--to", url)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: --to ") and "Traceback" not in result.stderr


def test_an_unreachable_service_stops_the_replay_with_one_error_line_and_exit_1(tmp_path: Path) -> None:
    _write_log(tmp_path / "effects.ndjson", "nobody-home")
    result = _replay(str(tmp_path / "effects.ndjson"), "--to", f"http://127.0.0.1:{free_port()}", "--timeout", "1")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"stopped at {tmp_path / 'effects.ndjson'}:1" in errors[0] and "ConnectError" in errors[0]
    assert "sent 0, duplicates 0, refused 0, unavailable 1" in result.stdout and "Traceback" not in result.stderr


def test_a_service_with_auth_takes_the_replay_with_token_and_stops_it_without(
    service_factory: ServiceFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = service_factory(auth_token="replay-secret")
    _write_log(tmp_path / "effects.ndjson", "with-auth")
    monkeypatch.delenv("TELEMETRY_API_TOKEN", raising=False)
    refused = _replay(str(tmp_path / "effects.ndjson"), "--to", service.url)
    assert refused.returncode == 1 and "not authorized, check --token: HTTP 401" in refused.stderr and "unavailable 1" in refused.stdout
    taken = _replay(str(tmp_path / "effects.ndjson"), "--to", service.url, "--token", "replay-secret")
    assert taken.returncode == 0, taken.stderr
    assert "sent 3" in taken.stdout
