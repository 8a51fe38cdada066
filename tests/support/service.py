"""A real telemetry service for tests: `python -m telemetry serve` as a subprocess on a free
loopback port with its own SQLite file, or its own schema of the session's PostgreSQL
database (stderr kept in a file beside the SQLite file's place), and the pytest fixtures
`service`, `service_factory` (function scope) and `module_service_factory`. Their store is
the `store_backend` fixture's: SQLite unless a test folder parametrizes it."""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.postgres import TestDatabase

START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
_PR_SET_PDEATHSIG = 1
_LIVE: set[ServiceProcess] = set()
# Tests start many services at once on one PostgreSQL server (max_connections 100).
TEST_POOL_SIZE = 4


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Loaded here, not in the child: between fork and exec only async-signal-safe work is safe.
_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the test process dies, so a crashed
    or killed pytest leaves no service behind."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ServiceError(RuntimeError):
    """The service did not start or stop as expected; the message holds its stderr tail."""


class ServiceProcess:
    """One service process: a fixed SQLite file and port, startable again after a stop
    or a kill (`restart`), so tests can check what survives."""

    def __init__(
        self,
        db_path: Path,
        *,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        auth_token: str | None = None,
        database_url: str | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.database_url = database_url
        self.port = port or free_port()
        self.auth_token = auth_token
        self.stderr_path = self.db_path.with_name(self.db_path.name + f".{self.port}.stderr.log")
        self._extra_env = dict(env or {})
        self._args = tuple(args)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def store_kind(self) -> str:
        return "sqlite" if self.database_url is None else "postgresql"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def headers(self) -> dict[str, str]:
        """The headers a client needs (the bearer token if auth is on)."""
        return {"authorization": f"Bearer {self.auth_token}"} if self.auth_token else {}

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _environment(self) -> dict[str, str]:
        # Imported here, not at the top: this module is a pytest plugin, loaded before
        # typeguard's import hook, which could not instrument a package imported that early.
        from telemetry.service.config import SERVICE_ENV

        # A developer's shell settings never reach the service: every test states its own.
        env = {k: v for k, v in os.environ.items() if k not in SERVICE_ENV}
        env["PYTHONUNBUFFERED"] = "1"
        # Tests that sweep do it themselves, when they choose; an automatic sweep in the
        # middle of one would change what it counts. Tests of the automatic sweep set it.
        env["TELEMETRY_SWEEP_LEASE_SECONDS"] = "0"
        if self.auth_token:
            env["TELEMETRY_API_TOKEN"] = self.auth_token  # the client's variable too (alias: ..._AUTH_TOKEN)
        env.update(self._extra_env)
        return env

    def _command(self) -> list[str]:
        return [
            sys.executable, "-m", "telemetry", "serve",
            "--host", "127.0.0.1", "--port", str(self.port), "--db", str(self.db_path),
            *(("--database-url", self.database_url, "--pool-size", str(TEST_POOL_SIZE)) if self.database_url else ()),
            *self._args,
        ]  # fmt: skip

    def start(self) -> ServiceProcess:
        """Start the process and wait until `/health` answers 200."""
        if self.is_running():
            raise ServiceError(f"service on port {self.port} is already running")
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.stderr_path, "ab") as stderr:
            self._process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                env=self._environment(),
                # PDEATHSIG fires when the *thread* that forked exits: a service started by a
                # helper thread (the chaos test's killer) would get SIGTERM when that thread
                # ends. Those are still stopped by the registry of live services.
                preexec_fn=_die_with_parent if threading.current_thread() is threading.main_thread() else None,
            )
        _LIVE.add(self)
        self._wait_until_healthy()
        return self

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise ServiceError(
                    f"service exited with {self._process.returncode} while starting:\n"
                    + self.stderr_text()[-4000:]
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise ServiceError(f"service not healthy after {START_TIMEOUT} s:\n{self.stderr_text()[-4000:]}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM and wait for a clean exit (SIGKILL if it takes longer than `timeout`);
        the exit code, or None if it was not running."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                _LIVE.discard(self)
                raise ServiceError(f"service ignored SIGTERM for {timeout} s:\n{self.stderr_text()[-4000:]}")
        _LIVE.discard(self)
        return process.returncode

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        _LIVE.discard(self)

    def restart(self) -> ServiceProcess:
        """Stop (if running) and start again on the same port and database."""
        self.stop()
        return self.start()

    def client(self, **kwargs: Any) -> httpx.Client:
        """An `httpx.Client` for this service (token included when auth is on)."""
        kwargs.setdefault("timeout", 10.0)
        return httpx.Client(base_url=self.url, headers=self.headers, **kwargs)


def _kill_leftovers() -> None:
    for service in list(_LIVE):
        service.kill()


atexit.register(_kill_leftovers)

ServiceFactory = Callable[..., ServiceProcess]


def _factory(directory: Path, database: TestDatabase | None = None) -> tuple[ServiceFactory, Callable[[], None]]:
    """A function that starts services whose files live in `directory` (each service on a
    schema of its own of `database` if given), and a cleanup."""
    started: list[ServiceProcess] = []

    def start_service(
        *,
        db_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        auth_token: str | None = None,
        port: int | None = None,
    ) -> ServiceProcess:
        path = db_path or directory / f"telemetry-{len(started)}.sqlite"
        url = database.schema_url() if database is not None and db_path is None else None
        service = ServiceProcess(path, port=port, env=env, args=args, auth_token=auth_token, database_url=url)
        started.append(service)
        return service.start()

    def cleanup() -> None:
        for service in started:
            try:
                service.stop()
            except ServiceError:
                pass  # stop() already killed it; the test's own asserts tell the story

    return start_service, cleanup


@pytest.fixture(scope="session")
def store_backend(request: pytest.FixtureRequest) -> str:
    """The store of the services the fixtures start: `sqlite`, or `postgresql` where a test
    folder parametrizes this fixture (indirectly)."""
    return str(getattr(request, "param", "sqlite"))


def _database_of(request: pytest.FixtureRequest, store_backend: str) -> TestDatabase | None:
    if store_backend != "postgresql":
        return None
    database: TestDatabase = request.getfixturevalue("postgres_database")
    return database


@pytest.fixture
def service_factory(tmp_path: Path, store_backend: str, request: pytest.FixtureRequest) -> Iterator[ServiceFactory]:
    """Start services with custom db/env/args/token; all are stopped after the test. A
    service given its own `db_path` is a SQLite one whatever the backend."""
    start_service, cleanup = _factory(tmp_path, _database_of(request, store_backend))
    yield start_service
    cleanup()


@pytest.fixture
def service(service_factory: ServiceFactory) -> ServiceProcess:
    """A fresh service with an empty SQLite file, no auth, default limits."""
    return service_factory()


@pytest.fixture(scope="module")
def module_service_factory(
    tmp_path_factory: pytest.TempPathFactory, store_backend: str, request: pytest.FixtureRequest
) -> Iterator[ServiceFactory]:
    """Like `service_factory`, shared by the tests of one module (cheaper; the tests must
    not depend on each other's rows)."""
    start_service, cleanup = _factory(tmp_path_factory.mktemp("service"), _database_of(request, store_backend))
    yield start_service
    cleanup()
