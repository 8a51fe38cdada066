"""`telemetry serve` configuration: defaults from the environment of the team contract
(port, base dir -> base/telemetry.sqlite), and clear refusals for a database it cannot use."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from contextlib import closing

import httpx
import psycopg
import pytest

from telemetry.service.config import SERVICE_ENV
from tests.service.helpers import file_rows, run_body
from tests.support.postgres import TestDatabase
from tests.support.service import free_port


def _environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_ENV and k != "TELEMETRY_BASE_DIR"}
    return {**env, **values}


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError("service did not become healthy")


def test_serve_takes_port_and_base_dir_from_the_environment_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = _environment(TELEMETRY_API_PORT=str(port), TELEMETRY_BASE_DIR=str(tmp_path / "base"))
    process = subprocess.Popen([sys.executable, "-m", "telemetry", "serve"], env=env, cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", process)
        body = run_body()
        assert httpx.post(f"http://127.0.0.1:{port}/api/v1/runs", json=body).status_code == 201
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: the same clean shutdown as SIGTERM
        assert process.wait(30) == 0
    assert file_rows(tmp_path / "base" / "telemetry.sqlite", "event_id = ?", (body["event_id"],))


def _serve_fails(tmp_path: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "telemetry", "serve", "--port", str(free_port()), *args],
        env=_environment(), cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    return done.stderr


def test_serve_refuses_a_database_file_it_cannot_open(tmp_path: Path) -> None:
    not_a_database = tmp_path / "garbage.sqlite"
    not_a_database.write_bytes(b"this is not a SQLite file" * 100)
    assert "not a database" in _serve_fails(tmp_path, "--db", str(not_a_database))


def _refused_in_one_line(tmp_path: Path, *args: str, port: int | None = None) -> str:
    """`telemetry serve` with `args` exits 2 before startup with one line on stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "telemetry", "serve", "--port", str(port or free_port()), *args],
        env=_environment(), cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr and "startup" not in done.stderr, done.stderr
    return done.stderr


@pytest.mark.parametrize("url", ["mysql://x", "notaurl", "http://localhost/db"])
def test_serve_refuses_a_database_url_that_is_neither_sqlite_nor_postgresql(tmp_path: Path, url: str) -> None:
    assert url in _refused_in_one_line(tmp_path, "--database-url", url)
    assert not (tmp_path / ".telemetry").exists()  # not started on the default SQLite file


def test_serve_refuses_a_db_path_whose_directory_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    stderr = _refused_in_one_line(tmp_path, "--db", str(tmp_path / "a-file" / "sub" / "t.sqlite"))
    assert "cannot create the directory" in stderr


def test_serve_refuses_a_database_file_it_cannot_open_in_one_line(tmp_path: Path) -> None:
    not_a_database = tmp_path / "garbage.sqlite"
    not_a_database.write_bytes(b"this is not a SQLite file" * 100)
    assert "not a database" in _refused_in_one_line(tmp_path, "--db", str(not_a_database))


def test_serve_refuses_a_postgresql_server_it_cannot_reach_in_one_line(tmp_path: Path) -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    stderr = _refused_in_one_line(tmp_path, "--database-url", "postgresql://telemetry:secret@127.0.0.1:1/telemetry")
    assert "cannot connect to PostgreSQL at postgresql://telemetry@127.0.0.1:1/telemetry" in stderr
    assert "secret" not in stderr


def test_serve_refuses_a_sqlite_file_migrated_by_a_newer_build_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite"
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA user_version = 99")
    assert "schema is at version 99" in _refused_in_one_line(tmp_path, "--db", str(path))


def test_serve_refuses_a_postgresql_schema_migrated_by_a_newer_build_in_one_line(
    tmp_path: Path, postgres_database: TestDatabase
) -> None:
    url = postgres_database.schema_url("newer")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE schema_version (version integer PRIMARY KEY)")
        connection.execute("INSERT INTO schema_version VALUES (1), (2), (99)")
    assert "schema is at version 99" in _refused_in_one_line(tmp_path, "--database-url", url)


def test_serve_refuses_a_port_in_use_before_startup(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        stderr = _refused_in_one_line(tmp_path, "--db", str(tmp_path / "t.sqlite"), port=port)
    assert f"port {port}" in stderr and "in use" in stderr
