"""Fixtures of the service contract tests: one service process (and client) shared by every
test that uses its own fresh ids and so cannot disturb the others; tests that need exact
counts, a special configuration or a stop start their own. Every test that starts a
service runs on both stores (SQLite, PostgreSQL) unless marked `sqlite_only`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.postgres import TestDatabase, parametrize_store_backend
from tests.support.service import ServiceError, ServiceProcess

pytest_generate_tests = parametrize_store_backend


@pytest.fixture(scope="session")
def shared_service(
    tmp_path_factory: pytest.TempPathFactory, store_backend: str, request: pytest.FixtureRequest
) -> Iterator[ServiceProcess]:
    url = None
    if store_backend == "postgresql":
        database: TestDatabase = request.getfixturevalue("postgres_database")
        url = database.schema_url("shared")
    path = tmp_path_factory.mktemp(f"shared-service-{store_backend}") / "telemetry.sqlite"
    service = ServiceProcess(path, database_url=url).start()
    yield service
    try:
        service.stop()
    except ServiceError:
        pass  # stop() already killed it


@pytest.fixture(scope="session")
def api(shared_service: ServiceProcess) -> Iterator[httpx.Client]:
    with shared_service.client() as client:
        yield client
