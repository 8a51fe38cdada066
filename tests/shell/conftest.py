"""Fixtures of the client's tests: clients built on the test's own directory with short
timeouts, closed after the test.

Nothing from `telemetry` is imported at module level: pytest loads this file before
typeguard installs its import hook, and a package imported earlier goes unchecked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.delivery import delivery  # noqa: F401 (a fixture of these tests)
from tests.support.service import ServiceProcess


@pytest.fixture
def make_client(make_client_in: Callable[..., Any], delivery: str) -> Callable[..., Any]:
    """Build clients on `tmp_path/base` (override any config field), in each delivery mode
    in turn; closed after the test."""
    return make_client_in


@pytest.fixture
def make_client_in(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Build clients on `tmp_path/base` with the delivery mode from `TELEMETRY_DELIVERY`'s
    fixture (`make_client`) or named by the test (`delivery=` among the overrides: a test
    of one mode's own mechanism, run once); closed after the test."""
    from telemetry import TelemetryClient
    from tests.shell.helpers import fast_config

    clients: list[TelemetryClient] = []

    def make(api_url: str, **overrides: Any) -> TelemetryClient:
        client = TelemetryClient(fast_config(api_url, **{"base_dir": tmp_path / "base", **overrides}))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def make_async_client(make_async_client_in: Callable[..., Any], delivery: str) -> Callable[..., Any]:
    """`make_client` for `AsyncTelemetryClient`: in each delivery mode in turn."""
    return make_async_client_in


@pytest.fixture
def make_async_client_in(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """`make_client_in` for `AsyncTelemetryClient`: built on `tmp_path/base` (a test of one
    mode's own mechanism names it, `delivery=`); closed (`aclose`, on a loop of its own)
    after the test."""
    import asyncio

    from telemetry import AsyncTelemetryClient
    from tests.shell.helpers import fast_config

    clients: list[AsyncTelemetryClient] = []

    def make(api_url: str, **overrides: Any) -> AsyncTelemetryClient:
        client = AsyncTelemetryClient(fast_config(api_url, **{"base_dir": tmp_path / "base", **overrides}))
        clients.append(client)
        return client

    yield make
    for client in clients:
        asyncio.run(client.aclose())


@pytest.fixture(scope="session")
def shared_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServiceProcess]]:
    """The shared services by delivery mode, each started on first use."""
    services: dict[str, ServiceProcess] = {}
    yield services
    for service in services.values():
        service.stop()


@pytest.fixture
def shared_service(
    shared_services: dict[str, ServiceProcess], delivery: str, tmp_path_factory: pytest.TempPathFactory
) -> ServiceProcess:
    """One real service per delivery mode for every client test that only adds rows under
    its own run ids (the tests of the spec's run-id rules use fixed ones, once per mode)."""
    if delivery not in shared_services:
        directory = tmp_path_factory.mktemp(f"shared-service-{delivery}")
        shared_services[delivery] = ServiceProcess(directory / "telemetry.sqlite").start()
    return shared_services[delivery]
