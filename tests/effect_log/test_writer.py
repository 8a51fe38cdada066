"""The effect log's writer: lines that read back as the effects performed, rotation at the
size bound, and the failures that must cost the agent nothing (an unwritable path, a value
JSON cannot hold), counted and logged once."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from telemetry import TelemetryConfig
from telemetry.effects.records import BufferEntry, RunEvent, RunRecord
from telemetry.effects.vocabulary import AppendBuffer, AppendNdjson, Effect, IncrementMetric, Log, PatchRun, PostRun
from telemetry.shell.effect_log import EffectLog
from telemetry.shell.effect_log.lines import UnreadableLine, decode_line
from telemetry.shell.self_metrics import SelfMetrics

AT = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


def _record(number: int) -> RunRecord:
    return RunRecord(
        event_id=f"event-{number}", run_id=f"run-{number}", agent_name="agent", job_type="job", start_time=AT.isoformat(),
        metrics_json={"type": "not a tag", "n": number}, context_json=[1, {"a": None}],
    )  # fmt: skip


def _read(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _closed(log: EffectLog) -> None:
    log.drain(time.monotonic() + 10)


def test_every_performed_effect_reads_back_with_its_outcome_and_time(tmp_path: Path) -> None:
    record = _record(1)
    performed: list[tuple[Effect, str]] = [
        (PostRun(record, fallback=AppendBuffer(BufferEntry("create", record))), "fell_back"),
        (PatchRun(record, ("status", "end_time")), "done"),
        (AppendNdjson("event", RunEvent("run-1", "step", {"type": "x", "nested": [1, 2]}, AT)), "done"),
        (IncrementMetric("runs.started"), "refused"),
        (Log("warning", "something"), "failed"),
    ]
    log = EffectLog(tmp_path / "new" / "folder" / "effects.ndjson", 1 << 20, 2, SelfMetrics())
    before = datetime.now(timezone.utc)
    for effect, outcome in performed:
        log.performed(effect, outcome)  # type: ignore[arg-type]
    _closed(log)
    lines = [decode_line(line) for line in _read(tmp_path / "new" / "folder" / "effects.ndjson")]
    assert [(line.effect, line.outcome) for line in lines] == performed
    assert all(before <= line.at <= datetime.now(timezone.utc) for line in lines)


def test_the_log_rotates_at_its_size_bound_and_keeps_the_newest_lines_in_order(tmp_path: Path) -> None:
    path, max_bytes, backups = tmp_path / "effects.ndjson", 4_000, 3
    metrics = SelfMetrics()
    log = EffectLog(path, max_bytes, backups, metrics)
    for number in range(400):
        log.performed(Log("info", f"message {number:04d}"), "done")
    _closed(log)
    files = [Path(f"{path}.{index}") for index in range(backups, 0, -1)] + [path]  # oldest first
    assert sorted(tmp_path.iterdir()) == sorted(files)
    assert all(file.stat().st_size <= max_bytes for file in files)
    kept = [decode_line(line).effect.message for file in files for line in _read(file)]  # type: ignore[union-attr]
    assert kept == [f"message {number:04d}" for number in range(400 - len(kept), 400)]
    longest = max(len(line) + 1 for file in files for line in _read(file))
    assert all(file.stat().st_size > max_bytes - longest for file in files[:-1])  # each filled before it rotated
    assert metrics.count("effect_log.lines_written") == 400


def test_an_unwritable_path_is_counted_and_logged_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    metrics = SelfMetrics()
    log = EffectLog(tmp_path / "a-file" / "effects.ndjson", 1 << 20, 2, metrics)
    with caplog.at_level(logging.WARNING, logger="telemetry"):
        for number in range(5):
            log.performed(Log("info", f"m{number}"), "done")
            log.flush()
        _closed(log)
    assert metrics.count("effect_log.lines_lost") == 5 and metrics.count("effect_log.lines_written") == 0
    warnings = [record.getMessage() for record in caplog.records if "effect log" in record.getMessage()]
    assert len(warnings) == 1 and "a-file/effects.ndjson" in warnings[0] and "NotADirectoryError" in warnings[0]


def test_a_value_json_cannot_hold_is_written_as_json_or_text_and_a_cycle_is_dropped_alone(tmp_path: Path) -> None:
    cycle: list[object] = []
    cycle.append(cycle)
    metrics = SelfMetrics()
    log = EffectLog(tmp_path / "effects.ndjson", 1 << 20, 2, metrics)
    log.performed(AppendNdjson("event", RunEvent("run", "step", {"tags": {"a"}}, AT)), "done")
    log.performed(AppendNdjson("event", RunEvent("run", "step", {"cycle": cycle}, AT)), "done")
    log.performed(Log("info", "after"), "done")
    _closed(log)
    lines = [decode_line(line) for line in _read(tmp_path / "effects.ndjson")]
    assert lines[0].effect.body.payload == {"tags": ["a"]}  # type: ignore[union-attr]
    assert lines[1].effect == Log("info", "after") and len(lines) == 2
    assert metrics.count("effect_log.lines_lost") == 1 and metrics.count("errors.effect_log.encode") == 1


@pytest.mark.parametrize(
    "line", ["", "{not json", "[]", '{"at": "2026-12-05T12:00:00+00:00", "outcome": "done", "effect": {"type": "Nope"}}',
             '{"at": "2026-12-05T12:00:00+00:00", "outcome": "maybe", "effect": {"type": "Log", "level": "info", "message": "m"}}',
             '{"at": "yesterday", "outcome": "done", "effect": {"type": "Log", "level": "info", "message": "m"}}',
             '{"at": "2026-12-05T12:00:00+00:00", "outcome": "done", "effect": {"type": "RunEvent"}}'],
)  # fmt: skip
def test_a_line_that_is_not_an_effect_log_line_is_unreadable(line: str) -> None:
    with pytest.raises(UnreadableLine):
        decode_line(line)


def test_the_effect_log_settings_come_from_the_environment_and_bad_ones_keep_their_default() -> None:
    config = TelemetryConfig.from_env(
        {"TELEMETRY_EFFECT_LOG": "/logs/effects.ndjson", "TELEMETRY_EFFECT_LOG_MAX_BYTES": "65536", "TELEMETRY_EFFECT_LOG_BACKUPS": "2"}
    )
    assert (config.effect_log, config.effect_log_max_bytes, config.effect_log_backups) == (Path("/logs/effects.ndjson"), 65536, 2)
    assert config.validate() == [] and TelemetryConfig().effect_log is None
    bad = TelemetryConfig.from_env({"TELEMETRY_EFFECT_LOG_MAX_BYTES": "lots", "TELEMETRY_EFFECT_LOG_BACKUPS": "0"})
    problems = " | ".join(bad.validate())
    assert "TELEMETRY_EFFECT_LOG_MAX_BYTES='lots' is not readable; default kept" in problems
    assert "effect_log_backups must be an integer > 0, got 0" in problems
    assert bad.with_defaults_for_problems().effect_log_backups == 5 and bad.effect_log_max_bytes == 16 << 20
    assert "effect_log is not a usable path or None" in " ".join(TelemetryConfig(effect_log="a\0b").validate())


def test_a_forked_child_writes_its_own_lines_and_never_the_parents_again(tmp_path: Path) -> None:
    path = tmp_path / "effects.ndjson"
    log = EffectLog(path, 1 << 20, 2, SelfMetrics())
    log.performed(Log("info", "parent before fork"), "done")  # queued, maybe not written yet
    pid = os.fork()
    if pid == 0:  # the child: what the client's lifecycle does at fork, then its own line
        try:
            log.after_fork()
            log.performed(Log("info", "child"), "done")
            _closed(log)
        finally:
            os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    log.performed(Log("info", "parent after fork"), "done")
    _closed(log)
    messages = sorted(decode_line(line).effect.message for line in _read(path))  # type: ignore[union-attr]
    assert messages == ["child", "parent after fork", "parent before fork"]


def test_with_no_thread_to_be_had_the_caller_writes_each_line_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")  # what CPython raises when the OS refuses one

    monkeypatch.setattr(threading.Thread, "start", no_thread)
    metrics = SelfMetrics()
    log = EffectLog(tmp_path / "effects.ndjson", 1 << 20, 2, metrics)
    for number in range(3):
        log.performed(Log("info", f"m{number}"), "done")
        assert len(_read(tmp_path / "effects.ndjson")) == number + 1  # written before the call returned
    assert metrics.count("errors.effect_log.thread_start") == 3
