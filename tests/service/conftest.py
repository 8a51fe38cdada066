"""Fixtures of the service contract tests: one service process (and client) shared by every
test that uses its own fresh ids and so cannot disturb the others; tests that need exact
counts, a special configuration or a stop start their own."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.service import ServiceError, ServiceProcess


@pytest.fixture(scope="session")
def shared_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    service = ServiceProcess(tmp_path_factory.mktemp("shared-service") / "telemetry.sqlite").start()
    yield service
    try:
        service.stop()
    except ServiceError:
        pass  # stop() already killed it


@pytest.fixture(scope="session")
def api(shared_service: ServiceProcess) -> Iterator[httpx.Client]:
    with shared_service.client() as client:
        yield client
