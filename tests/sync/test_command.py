"""`telemetry sync` as a real process: the summary it prints, its exit code (0 drained,
1 entries remain), and `--loop` waiting out a service outage with backoff."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from telemetry.effects.records import BufferEntry
from telemetry.shell.buffer import BufferDirectory
from tests.support.outbox_appender import killed_appender
from tests.support.service import ServiceProcess, free_port
from tests.sync.helpers import simple_record, write_entry


def _sync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "telemetry", "sync", *args], capture_output=True, text=True, timeout=120
    )


def _summary(stdout: str) -> dict[str, int]:
    return {name: int(count) for name, count in re.findall(r"(\w+)\s*\S\s*(\d+)\s*\S", stdout)}


def test_sync_drains_the_buffer_prints_the_summary_and_exits_0(shared_service: ServiceProcess, tmp_path: Path) -> None:
    for sequence in range(3):
        write_entry(tmp_path, sequence, BufferEntry("create", simple_record()))
    (tmp_path / "99999999999999999999_broken.json").write_bytes(b"{not json")
    result = _sync("--buffer-dir", str(tmp_path), "--api-url", shared_service.url)
    assert result.returncode == 0, result.stderr
    assert _summary(result.stdout) == {
        "delivered": 3, "duplicates": 0, "quarantined": 1, "rejected": 0, "remaining": 0,
    }  # fmt: skip
    assert "corrupt entry" in result.stderr


def test_sync_with_the_service_down_keeps_the_entries_and_exits_1(tmp_path: Path) -> None:
    write_entry(tmp_path, 0, BufferEntry("create", simple_record()))
    result = _sync("--buffer-dir", str(tmp_path), "--api-url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert _summary(result.stdout)["remaining"] == 1
    assert "service unavailable" in result.stderr
    assert len(BufferDirectory(tmp_path).pending()) == 1


def test_sync_loop_waits_for_the_service_and_then_drains(tmp_path: Path) -> None:
    write_entry(tmp_path / "buffer", 0, BufferEntry("create", simple_record()))
    service = ServiceProcess(tmp_path / "telemetry.sqlite")
    command = [sys.executable, "-m", "telemetry", "sync", "--loop", "--max-seconds", "100"]
    process = subprocess.Popen(
        [*command, "--buffer-dir", str(tmp_path / "buffer"), "--api-url", service.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # let it meet the outage first
    service.start()
    try:
        stdout, stderr = process.communicate(timeout=120)
    finally:
        service.stop()
    assert process.returncode == 0, stderr
    assert _summary(stdout)["delivered"] == 1 and _summary(stdout)["remaining"] == 0
    assert "service unavailable" in stderr


def test_sync_loop_gives_up_after_max_seconds_with_exit_1(tmp_path: Path) -> None:
    write_entry(tmp_path, 0, BufferEntry("create", simple_record()))
    url = f"http://127.0.0.1:{free_port()}"
    result = _sync("--loop", "--max-seconds", "1", "--buffer-dir", str(tmp_path), "--api-url", url)
    assert result.returncode == 1 and _summary(result.stdout)["remaining"] == 1


def _refused_in_one_line(*args: str, env: dict[str, str] | None = None) -> str:
    """`telemetry sync` exits 2 at once with one line on stderr and no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "telemetry", "sync", *args],
        capture_output=True, text=True, timeout=60, env=None if env is None else {**os.environ, **env},
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    return done.stderr


def test_sync_refuses_a_buffer_dir_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-buffer"
    assert str(missing) in _refused_in_one_line("--buffer-dir", str(missing), "--api-url", "http://127.0.0.1:9")
    assert not missing.exists()


def test_sync_loop_refuses_a_malformed_url_instead_of_retrying_forever(tmp_path: Path) -> None:
    write_entry(tmp_path, 0, BufferEntry("create", simple_record()))
    assert "'not-a-url'" in _refused_in_one_line("--loop", "--buffer-dir", str(tmp_path), "--api-url", "not-a-url")
    stderr = _refused_in_one_line("--buffer-dir", str(tmp_path), env={"TELEMETRY_API_URL": "localhost:8765"})
    assert "TELEMETRY_API_URL 'localhost:8765'" in stderr
    assert len(BufferDirectory(tmp_path).pending()) == 1


def test_sync_drains_both_the_buffer_files_and_a_dead_process_outbox(shared_service: ServiceProcess, tmp_path: Path) -> None:
    write_entry(tmp_path, 0, BufferEntry("create", simple_record()))
    last = killed_appender(tmp_path, f"sync-cli-{os.getpid()}-{time.time_ns()}", 50)
    result = _sync("--buffer-dir", str(tmp_path), "--api-url", shared_service.url)
    assert result.returncode == 0, result.stderr
    summary = _summary(result.stdout)
    assert summary["delivered"] + summary["duplicates"] >= 1 + 2 * (last + 1) and summary["remaining"] == 0
    assert BufferDirectory(tmp_path).pending() == [] and list((tmp_path / "outbox").glob("*.seg")) == []


def test_sync_with_the_service_down_keeps_a_dead_process_outbox_and_exits_1(tmp_path: Path) -> None:
    killed_appender(tmp_path, f"sync-down-{os.getpid()}", 5)
    result = _sync("--buffer-dir", str(tmp_path), "--api-url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert _summary(result.stdout)["remaining"] >= 1 and "service unavailable (outbox)" in result.stderr
    assert list((tmp_path / "outbox").glob("*.seg"))
