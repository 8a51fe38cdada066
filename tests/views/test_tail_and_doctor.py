"""`telemetry tail` and `telemetry doctor` as real processes: tail follows the NDJSON backup
(and the next day's file) or the service, and Ctrl-C ends it with exit 0 and no traceback;
doctor passes a sound setup and names the fix for each broken part, exiting 1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.support.service import ServiceFactory, free_port
from tests.support.waiting import wait_for
from tests.views.helpers import ended_run, post_runs


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEMETRY_", "METRICS_"))}
    return {**env, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **extra}


Spawn = Callable[[list[str], Mapping[str, str]], "subprocess.Popen[str]"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    started: list[subprocess.Popen[str]] = []

    def start(args: list[str], env: Mapping[str, str]) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "telemetry", *args], env=dict(env), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _read_lines(stream: IO[str], count: int) -> list[str]:
    return [stream.readline() for _ in range(count)]


def _record_line(kind: str, agent: str, run_id: str, status: str) -> str:
    record = {"run_id": run_id, "agent_name": agent, "status": status, "start_time": "2026-12-05T08:00:00+00:00"}
    return json.dumps({"kind": kind, "record": record}) + "\n"


def test_tail_follows_the_backup_into_the_next_day_and_stops_cleanly_on_ctrl_c(tmp_path: Path, spawn: Spawn) -> None:
    ndjson = tmp_path / "ndjson"
    ndjson.mkdir()
    (ndjson / "events_20261204.ndjson").write_text(_record_line("run_start", "old", "r-old", "running"))
    today = ndjson / "events_20261205.ndjson"
    today.write_text(_record_line("run_start", "past", "r-past", "running") + '{"torn": ')
    process = spawn(["tail", "--ndjson-dir", str(ndjson), "--interval", "0.1"], _env())
    assert "r-past" in process.stdout.readline()
    with open(today, "a") as handle:
        handle.write('1}\n' + _record_line("run_end", "[bold]agent[/bold]", "r-new", "success"))
    assert _read_lines(process.stdout, 2)[1].split()[2:5] == ["run_end", "[bold]agent[/bold]", "r-new"]
    (ndjson / "events_20261206.ndjson").write_text(_record_line("run_start", "next", "r-next-day", "running"))
    assert "r-next-day" in process.stdout.readline()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0
    assert process.stderr.read() == ""


def test_tail_follows_the_service_and_stops_cleanly_on_ctrl_c(service_factory: ServiceFactory, spawn: Spawn) -> None:
    service = service_factory(auth_token="t")
    first, second = ended_run("first", "success", 10, hours_ago=2), ended_run("second", "failure", 10, hours_ago=1)
    with service.client() as client:
        post_runs(client, [first])
        env = _env(TELEMETRY_API_URL=service.url, TELEMETRY_API_TOKEN="t")
        process = spawn(["tail", "--service", "--interval", "0.2"], env)
        assert first["run_id"] in process.stdout.readline()
        post_runs(client, [second])
        assert second["run_id"] in process.stdout.readline()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0
    assert process.stderr.read() == ""


def _doctor(spawn: Spawn, env: Mapping[str, str]) -> tuple[int, str]:
    process = spawn(["doctor"], env)
    out, err = process.communicate(timeout=60)
    assert "Traceback" not in err
    return process.returncode, out


def test_doctor_passes_a_sound_setup(tmp_path: Path, service_factory: ServiceFactory, spawn: Spawn) -> None:
    service = service_factory(auth_token="t")
    code, out = _doctor(spawn, _env(TELEMETRY_API_URL=service.url, TELEMETRY_API_TOKEN="t", TELEMETRY_BASE_DIR=str(tmp_path)))
    assert code == 0, out
    assert "token accepted" in out and "within 5 s" in out and "✗" not in out


def test_doctor_names_each_problem_and_its_fix(tmp_path: Path, spawn: Spawn) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    buffer_dir = tmp_path / "buffer"
    (buffer_dir / "rejected").mkdir(parents=True)
    for name in ("1_a.json", "2_b.json", "rejected/3_c.json", "rejected/3_c.json.reason.txt"):
        (buffer_dir / name).write_text("{}")
    env = _env(
        TELEMETRY_API_URL=f"http://127.0.0.1:{free_port()}", TELEMETRY_BASE_DIR=str(tmp_path),
        TELEMETRY_NDJSON_DIR=str(blocker / "ndjson"), TELEMETRY_BUFFER_DIR=str(buffer_dir),
        TELEMETRY_HTTP_READ_TIMEOUT="soon",
    )  # fmt: skip
    code, out = _doctor(spawn, env)
    assert code == 1
    assert "✗ configuration" in out and "read_timeout" in out.lower()
    assert "✗ service" in out and "fix: start it with `telemetry serve`" in out
    assert "✗ ndjson_dir" in out and "TELEMETRY_NDJSON_DIR" in out
    assert "! buffer" in out and "2 run update(s) wait" in out and "telemetry sync" in out
    assert "! buffer/rejected" in out and "1 entr" in out


def test_doctor_says_the_token_is_refused(service_factory: ServiceFactory, tmp_path: Path, spawn: Spawn) -> None:
    service = service_factory(auth_token="right")
    code, out = _doctor(spawn, _env(TELEMETRY_API_URL=service.url, TELEMETRY_API_TOKEN="wrong", TELEMETRY_BASE_DIR=str(tmp_path)))
    assert code == 1
    assert "✗ auth" in out and "refused the token" in out and "set TELEMETRY_API_TOKEN" in out


def _answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def test_doctor_tells_a_foreign_server_from_the_service(tmp_path: Path, spawn: Spawn) -> None:
    port = free_port()
    (tmp_path / "health").write_text("<html>not telemetry</html>")
    foreign = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{url}/health"), "the foreign server to answer", timeout=20)
        code, out = _doctor(spawn, _env(TELEMETRY_API_URL=url, TELEMETRY_BASE_DIR=str(tmp_path)))
        assert code == 1
        assert "✗ service" in out and "not as a telemetry service does" in out
    finally:
        foreign.kill()
        foreign.wait()


def test_tail_shows_the_last_lines_of_a_large_file_from_its_end(tmp_path: Path, spawn: Spawn) -> None:
    ndjson = tmp_path / "ndjson"
    ndjson.mkdir()
    lines = [_record_line("run_end", "bulk", f"r-{i:06d}", "success") for i in range(20_000)]  # ~3 MB
    (ndjson / "events_20261205.ndjson").write_text("".join(lines))
    process = spawn(["tail", "--ndjson-dir", str(ndjson), "-n", "3", "--interval", "0.1"], _env())
    shown = _read_lines(process.stdout, 3)
    assert [line.split()[4] for line in shown] == ["r-019997", "r-019998", "r-019999"]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0


def test_doctor_counts_what_waits_in_the_outbox(tmp_path: Path, spawn: Spawn) -> None:
    """Background delivery (the default) keeps what the service has not taken in the
    outbox, not in buffer files: doctor counts those entries too."""
    url = f"http://127.0.0.1:{free_port()}"
    agent = subprocess.run(
        [sys.executable, "-c", "from telemetry import TelemetryClient as C; c = C(); c.end_run(c.start_run('agent', 'job'))"],
        env=_env(TELEMETRY_API_URL=url, TELEMETRY_BASE_DIR=str(tmp_path), TELEMETRY_EXIT_BUDGET="0.5"), timeout=60,
    )  # fmt: skip
    assert agent.returncode == 0
    code, out = _doctor(spawn, _env(TELEMETRY_API_URL=url, TELEMETRY_BASE_DIR=str(tmp_path)))
    assert code == 1  # the service is down
    assert "! outbox" in out and "2 run start(s)/end(s) wait" in out and "telemetry sync" in out
    assert "nothing waits" not in out
